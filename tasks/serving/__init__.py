"""The champion online: the scoring server (``pipeline serve``, MLflow's scoring protocol),
with hot swaps of the live model."""
