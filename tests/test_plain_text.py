"""Values from dropped files printed as plain text: a terminal line, a Markdown run note."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from tasks.ui.text import one_line

HOSTILE_NAME = "a\x1b[2J\x1b]0;owned\x07b\r\n![x](http://127.0.0.1:9/i.png)\u202egnp.csv"


def test_one_line_leaves_no_control_or_format_character():
    text = one_line(HOSTILE_NAME)
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u202e]", text)
    assert text == "a [2J ]0;owned b ![x](http://127.0.0.1:9/i.png) gnp.csv"


@pytest.mark.airflow
def test_a_run_note_lists_rejections_in_one_fence_nothing_can_close():
    from tasks.orchestration.run_notes import rejection_note

    note = rejection_note(
        [{"file": "x````.csv\n```\n" + HOSTILE_NAME, "stage": "ingest", "reason": "bad\n\n[link](javascript:1)"}]
    )
    head, _, block = note.partition("\n\n")
    fence = block.split("\n", 1)[0].removesuffix("text")
    assert set(fence) == {"`"} and len(fence) == 5  # longer than the longest run of backticks inside
    assert block.endswith("\n" + fence) and block.count(fence) == 2
    body = block.split("\n")[1:-1]
    assert len(body) == 1 and "[link](javascript:1)" in body[0]  # one line, inside the fence
    assert head.startswith("Rejected 1 file(s)")


def test_make_quarantine_prints_names_and_reasons_as_plain_text(store, monkeypatch):
    from tasks import cli

    store.inbox.add_claimed("notes.txt", b"hello")
    from tasks.stages.ingest import ingest

    ingest(store)
    qid = store.quarantine.entries()[0]["id"]
    record = store.quarantine.reason(qid) | {"file": HOSTILE_NAME, "reason": "why\x1b[31m\nnext"}
    store.backend.write_json(f"quarantine/{qid}/reason.json", record)
    monkeypatch.setenv("PIPELINE_DATA_URL", str(store.url))
    result = CliRunner().invoke(cli.main, ["quarantine"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "\x1b" not in out and "\u202e" not in out and out.count("\n") == 2  # two lines per entry
