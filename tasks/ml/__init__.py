"""The machine learning, on data frames and parameters: the scikit-learn pipeline and its scores
(modeling), a batch's train/test split (splitting), scoring rows with a model (scoring), and a
sample profiled into a data set's parameters and suite (profiling). No storage, no Airflow."""
