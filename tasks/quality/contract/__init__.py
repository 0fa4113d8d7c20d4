"""The data contract: the Great Expectations suite in ``expectations/``, run on a frame.

- ``suite``: the hand-written JSON loaded whole into GX, and GX's ephemeral context;
- ``run``: one frame through the suite (the gate's verdict, reasons, fixes, Data Docs);
- ``union``: many small batches in one run, clearing only what that run proves;
- ``explain``: each failure in words (one formatter per expectation type) and its fix;
- ``scoring``: the suite for data to score.

Used by the validation stage (the gate) and by scoring (the same checks on data to score).
Importing it imports no Great Expectations.
"""

from tasks.quality.contract.run import BatchValidation, validate_frame
from tasks.quality.contract.scoring import scoring_suite
from tasks.quality.contract.suite import SuiteLoadError, build_suite, load_suite_json
from tasks.quality.contract.union import passing_together

__all__ = [
    "BatchValidation",
    "SuiteLoadError",
    "build_suite",
    "load_suite_json",
    "passing_together",
    "scoring_suite",
    "validate_frame",
]
