"""Experiment tracking against moto-backed storage built from template.yaml: what Train records, the
run's leaderboard FinishRun keeps, a model's trials across runs from one Query."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime, timedelta

import boto3
import numpy as np
import pytest

from evergreen import compute, run_records, splits, tracking
from evergreen.contracts import Candidate, ColumnSchema, DatasetRef, FinishInput, TrainInput
from evergreen.data import Frame
from evergreen.spec import parse_spec
from evergreen.steps import finish_run, train
from evergreen.storage import Stores, from_dynamo
from tests.support.infra import REGION, moto_stores

SCHEMA = ColumnSchema(numeric=["x"], categorical=[], target="y", problem_type="classification", classes=["a", "b"])
SPEC = parse_spec("{name: m, target: y, problem_type: classification, primary_metric: accuracy,"
                  " candidates: [{family: logistic_regression}], split: {seed: 7}}")


@pytest.fixture
def stores(monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", raising=False)
    yield from moto_stores(monkeypatch, METRICS_NAMESPACE="Evergreen")


def put_splits(stores: Stores, version: str = "ds-1") -> DatasetRef:
    """A two-class dataset with one informative feature, its splits stored as ingest writes them."""
    rng = np.random.default_rng(0)

    def frame(n: int) -> Frame:
        x = rng.normal(size=n).astype(np.float32)
        return Frame({"x": x}, np.where(x + rng.normal(scale=0.5, size=n) > 0, "b", "a").astype(object))

    prefix = f"datasets/m/{version}/"
    keys = {part: splits.split_key(prefix, part) for part in ("train", "validation", "test")}
    for part, n in (("train", 600), ("validation", 300), ("test", 300)):
        stores.put_bytes(stores.artifacts_bucket, keys[part], splits.to_bytes(splits.arrays_of(frame(n), SCHEMA)))
    return DatasetRef(version=version, bucket=stores.artifacts_bucket, train_key=keys["train"],
                      validation_key=keys["validation"], test_key=keys["test"], profile_key=prefix + "profile.json",
                      rows={"train": 600, "validation": 300, "test": 300}, columns=SCHEMA)


def train_input(run_id: str, dataset: DatasetRef, candidate_id: str, params: dict, model: str = "m") -> TrainInput:
    return TrainInput(run_id=run_id, model_name=model, spec=SPEC, dataset=dataset,
                      candidate=Candidate(candidate_id=candidate_id, family="logistic_regression", params=params))


def trial_record(stores: Stores, run_id: str, trial_id: str) -> dict:
    return from_dynamo(stores.experiments.get_item(Key={"run_id": run_id, "sk": f"trial#{trial_id}"})["Item"])


def test_a_trial_records_what_it_ran_with_and_what_it_cost(stores):
    inp = train_input("r1", put_splits(stores), "c000", {"C": 0.5})
    started = time.perf_counter()
    trial = train.run(inp, stores, memory_mb=2048)
    wall = time.perf_counter() - started
    record = trial_record(stores, "r1", "c000")
    assert trial.fitted_params == record["fitted_params"] == {
        "C": 0.5, "max_iter": 1000, "random_state": 7, "threads": compute.threads()}
    assert 0 < trial.predict_us_per_row == record["predict_us_per_row"]
    # 2 GB for the trial's duration: at least its fit, at most the whole call
    assert 2 * trial.fit_seconds <= trial.gb_seconds == record["gb_seconds"] <= 2 * wall
    assert record["dataset_version"] == "ds-1" and record["seed"] == 7 and record["versions"] == tracking.versions()
    assert TrainInput.model_validate_json(record["trial_input"]) == inp


def test_a_failed_trial_records_its_compute_too(stores):
    trial = train.run(train_input("r1", put_splits(stores), "c000", {"C": -1.0}), stores, memory_mb=1024)
    assert trial.status == "failed" and trial.gb_seconds > 0 and trial.fitted_params is None
    assert trial_record(stores, "r1", "c000")["gb_seconds"] == trial.gb_seconds


def test_finish_run_keeps_the_leaderboard_and_the_exported_models_size(stores):
    dataset = put_splits(stores)
    trials = [train.run(train_input("r1", dataset, f"c00{i}", {"C": c}), stores, memory_mb=1024)
              for i, c in enumerate((1e-4, 1.0, -1.0))]
    crashed = {"candidate_id": "c003", "family": "logistic_regression", "params": {}, "status": "failed",
               "metric": "accuracy", "rung": 0, "error": "Sandbox.Timedout"}  # its Lambda died before recording
    ok = sorted((t for t in trials if t.status == "ok"), key=lambda t: -t.validation_score)
    exported = ok[1]  # the best failed parity: Export converted the next one
    state = {"run": {"model_name": "m", "dataset": dataset.model_dump(mode="json")},
             "trials": [t.model_dump(mode="json") for t in trials] + [crashed],
             "export": {"candidate": exported.model_dump(mode="json"), "size_bytes": 1234, "passed": True,
                        "decision": {"promote": True, "reason": "better"}},
             "promotion": {"version": 1}}
    finish_run.run(FinishInput(run_id="r1", outcome="promoted", state=state), stores,
                   cloudwatch=boto3.client("cloudwatch", region_name=REGION))
    board = from_dynamo(stores.experiments.get_item(Key={"run_id": "r1", "sk": "run"})["Item"])["summary"]["leaderboard"]
    assert [(r["rank"], r["candidate_id"], r["status"]) for r in board] == [
        (1, ok[0].candidate_id, "ok"), (2, ok[1].candidate_id, "ok"), (None, "c002", "failed"), (None, "c003", "failed")]
    assert board[0] == {
        "rank": 1, "trial_id": ok[0].candidate_id, "candidate_id": ok[0].candidate_id, "family": "logistic_regression",
        "rung": 0, "fitted_params": ok[0].fitted_params, "validation_score": ok[0].validation_score,
        "cv_std": ok[0].cv_std, "fit_seconds": ok[0].fit_seconds, "predict_us_per_row": ok[0].predict_us_per_row,
        "gb_seconds": ok[0].gb_seconds, "status": "ok", "onnx_bytes": None}
    assert [r["onnx_bytes"] for r in board] == [None, 1234, None, None]
    assert trial_record(stores, "r1", exported.candidate_id)["onnx_bytes"] == 1234
    assert "onnx_bytes" not in trial_record(stores, "r1", ok[0].candidate_id)


class Recorder:
    """A Table that names every call made on it."""

    def __init__(self, table):
        self.table, self.calls = table, []

    def __getattr__(self, name):
        method = getattr(self.table, name)

        def call(**kwargs):
            self.calls.append((name, kwargs.get("IndexName")))
            return method(**kwargs)

        return call


def test_a_models_trials_across_runs_export_from_one_query_on_the_index(stores):
    dataset = put_splits(stores)
    for run_id in ("r1", "r2"):
        run_records.start(stores.experiments, run_id, "upload", "m", None)
        for i, c in enumerate((0.1, 1.0)):
            train.run(train_input(run_id, dataset, f"c00{i}", {"C": c}), stores, memory_mb=1024)
        run_records.finish(stores.experiments, run_id, "PROMOTED", "better", "m", {})
    train.run(train_input("r3", dataset, "c000", {"C": 1.0}, model="other"), stores)
    run_records.acquire_lock(stores.experiments, "m", "r3", datetime.now(UTC), timedelta(hours=1))
    table = Recorder(stores.experiments)

    rows = tracking.model_trials(table, "m")

    assert table.calls == [("query", "TrialsByModel")]
    assert [(r["run_id"], r["trial_id"]) for r in rows] == [("r1", "c000"), ("r1", "c001"), ("r2", "c000"), ("r2", "c001")]
    assert all(r["model_name"] == "m" and r["status"] == "ok" and r["seed"] == 7 for r in rows)
    parsed = list(csv.DictReader(io.StringIO(tracking.trials_csv(rows))))
    assert [(p["run_id"], p["trial_id"], float(p["validation_score"])) for p in parsed] == [
        (r["run_id"], r["trial_id"], r["validation_score"]) for r in rows]
    assert {p["version_scikit-learn"] for p in parsed} == {tracking.versions()["scikit-learn"]}
    assert json.loads(tracking.trials_json(rows)) == rows
