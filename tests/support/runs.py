"""A small RunContext, as ingest would return it, for tests of the steps after it."""

from __future__ import annotations

from evergreen.contracts import ColumnSchema, ContractInfo, DatasetRef, RunContext, SearchState
from evergreen.spec import Candidate, parse_spec


def search_state(candidates: list[Candidate] | None = None, sample_rows: int = 200_000) -> SearchState:
    """A one-rung grid search of `candidates`, with a day to run: the search state Ingest returns."""
    return SearchState(strategy="grid", candidates=candidates or [], sample_rows=sample_rows,
                       deadline="2099-01-01T00:00:00+00:00")


def run_context() -> RunContext:
    spec = parse_spec("{name: m, target: y, problem_type: classification, primary_metric: accuracy,"
                      " candidates: [{family: logistic_regression}], compute: {instance_type: ml.m5.xlarge}}")
    columns = ColumnSchema(numeric=["x"], categorical=[], target="y", problem_type="classification", classes=["a", "b"])
    dataset = DatasetRef(version="ds-1", bucket="art", train_key="datasets/m/ds-1/train.npz",
                         validation_key="datasets/m/ds-1/validation.npz", test_key="datasets/m/ds-1/test.npz",
                         profile_key="p", rows={"train": 10, "validation": 5, "test": 5}, columns=columns)
    return RunContext(run_id="run-1", model_name="m", trigger="upload", spec=spec, dataset=dataset,
                      contract=ContractInfo(version=1), search=search_state())
