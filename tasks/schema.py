"""The data contract shared by ingest, features, training and scoring.

The full contract (ranges, classes, row counts) is the GX suite in ``expectations/``;
this module holds only what code needs by name.
"""

from __future__ import annotations

FEATURE_COLUMNS: list[str] = [
    "sepal length (cm)",
    "sepal width (cm)",
    "petal length (cm)",
    "petal width (cm)",
]
TARGET_COLUMN = "target"
COLUMNS: list[str] = [*FEATURE_COLUMNS, TARGET_COLUMN]
CLASS_NAMES: dict[int, str] = {0: "setosa", 1: "versicolor", 2: "virginica"}
