"""What a person looks at: the pipeline's state read from the store, as data (``make status``,
the plugin's JSON API) and as HTML pages (the Airflow UI plugin). Imports no Airflow."""
