"""A small RunContext, as ingest would return it, for tests of the steps after it."""

from __future__ import annotations

from evergreen.contracts import ColumnSchema, ContractInfo, DatasetRef, RunContext
from evergreen.spec import parse_spec


def run_context() -> RunContext:
    spec = parse_spec("{name: m, target: y, problem_type: classification, primary_metric: accuracy,"
                      " candidates: [{family: logistic_regression}], compute: {instance_type: ml.m5.xlarge}}")
    columns = ColumnSchema(numeric=["x"], categorical=[], target="y", problem_type="classification", classes=["a", "b"])
    dataset = DatasetRef(version="ds-1", bucket="art", train_key="datasets/m/ds-1/train.npz",
                         validation_key="datasets/m/ds-1/validation.npz", test_key="datasets/m/ds-1/test.npz",
                         profile_key="p", rows={"train": 10}, columns=columns)
    return RunContext(run_id="run-1", model_name="m", trigger="upload", spec=spec, dataset=dataset,
                      contract=ContractInfo(version=1), candidates=[])
