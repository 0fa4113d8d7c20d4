"""Pipeline logic: plain typed functions, runnable and testable without Airflow."""
