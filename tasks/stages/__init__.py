"""The pipeline's stages. Each takes a ``Store`` (and parameters) and returns a typed result;
none imports another stage, and none imports Airflow."""
