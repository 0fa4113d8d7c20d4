"""Telling people: events recorded by the pipeline become grouped messages, delivered by email
and webhook off the tasks' path, retried with backoff, with each channel's state kept.

- ``messages``: an event's and a group's words (plain text; dropped names made inert);
- ``channels``: the webhook (JSON POST) and email (SMTP) senders;
- ``deliverer``: groups events into messages and delivers them (``pipeline alerts deliver``).
"""
