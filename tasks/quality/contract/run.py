"""One frame through the suite in a fresh ephemeral GX context: the verdict, the failures in
words (root causes first) with their fixes, and a failing result's Data Docs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.config import Dataset
from tasks.quality.contract.explain import describe_failure, root_causes_first, suggest_fixes
from tasks.quality.contract.suite import build_suite, ephemeral_context


@dataclass
class BatchValidation:
    success: bool
    checks_run: int
    problems: list[dict[str, Any]]  # root causes first, then the failures they caused
    gx_result: dict[str, Any]
    fixes: list[str] = field(default_factory=list)
    data_docs_page: str | None = None  # the result's Data Docs page, relative to the site

    @property
    def causes(self) -> list[dict[str, Any]]:
        return [p for p in self.problems if not p.get("caused_by")]

    @property
    def reason(self) -> str:
        """The root causes, the count of what they broke, and the fix: what a person reads first."""
        if self.success:
            return "all checks passed"
        causes = self.causes
        text = "; ".join(p["problem"] for p in causes)
        if knock_on := len(self.problems) - len(causes):
            text += f" (and {knock_on} check(s) that failed because of it)"
        if self.fixes:
            text += ". Fix: " + "; ".join(self.fixes)
        return f"{len(self.problems)} of {self.checks_run} checks failed: {text}"


def validate_frame(
    frame: pd.DataFrame, suite_json: dict[str, Any], dataset: Dataset, *, data_docs_dir: Path | None = None
) -> BatchValidation:
    """Run the suite on one frame in a fresh ephemeral GX context.

    With ``data_docs_dir``, a failing result is also rendered there as GX Data Docs.
    """
    suite = build_suite(suite_json)
    import great_expectations as gx

    context = ephemeral_context()
    suite = context.suites.add(suite)
    batch_def = (
        context.data_sources.add_pandas("pandas")
        .add_dataframe_asset("raw_batch")
        .add_batch_definition_whole_dataframe("whole_batch")
    )
    definition = context.validation_definitions.add(gx.ValidationDefinition(name="raw_batch", data=batch_def, suite=suite))
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(name="gate", validation_definitions=[definition], actions=[], result_format={"result_format": "SUMMARY"})
    )
    run = checkpoint.run(batch_parameters={"dataframe": frame})
    (result,) = run.run_results.values()
    gx_result = result.to_json_dict()
    page = None
    problems = root_causes_first([describe_failure(r) for r in gx_result["results"] if not r["success"]])
    if problems and data_docs_dir is not None:
        context.add_data_docs_site(
            site_name="quarantine",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(data_docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        context.build_data_docs(site_names=["quarantine"])
        from tasks.quality.data_docs import make_offline, validation_page

        make_offline(data_docs_dir)
        page = validation_page(data_docs_dir)
    return BatchValidation(
        success=bool(gx_result["success"]) and not problems,
        checks_run=len(gx_result["results"]),
        problems=problems,
        gx_result=gx_result,
        fixes=suggest_fixes(problems, frame, dataset) if problems else [],
        data_docs_page=page.relative_to(data_docs_dir).as_posix() if page else None,
    )
