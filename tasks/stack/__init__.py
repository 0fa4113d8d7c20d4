"""The stack: what ``pipeline run`` starts and supervises (Airflow's components and, in the
cluster profile, PostgreSQL, Redis and an S3 server), its settings, and the record a running
stack leaves in its Airflow home. Imports no Airflow (Airflow runs as its own processes)."""

from tasks.stack.env import RunningStack, airflow_env, airflow_home, requested_port, running_stack
from tasks.stack.services import MotoServer, PostgresServer, RedisServer, free_port, port_is_free
from tasks.stack.supervisor import Stack, run_foreground

__all__ = [
    "MotoServer",
    "PostgresServer",
    "RedisServer",
    "RunningStack",
    "Stack",
    "airflow_env",
    "airflow_home",
    "free_port",
    "port_is_free",
    "requested_port",
    "run_foreground",
    "running_stack",
]
