"""evergreen.tracking's pure parts: the leaderboard's order, GB-seconds, versions, the CSV and JSON of trials."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import onnxruntime
import skl2onnx
import sklearn

from evergreen import tracking


def record(candidate: str, score: float | None, status: str = "ok", rung: int = 0, metric: str = "accuracy",
           **extra) -> dict:
    trial = candidate if rung == 0 else f"{candidate}-r{rung}"
    return {"sk": f"trial#{trial}", "candidate_id": candidate, "family": "ridge", "rung": rung, "status": status,
            "metric": metric, "validation_score": score, **extra}


def test_the_leaderboard_ranks_as_the_run_chose_the_last_rung_first():
    records = [
        record("c000", 0.95),  # rung 0's best, but on a smaller sample than rung 1's
        record("c001", 0.90), record("c002", 0.91),
        record("c001", 0.88, rung=1), record("c002", 0.93, rung=1),
        record("c003", None, status="failed"), record("c004", None, status="skipped", rung=1),
        record("c002-refit", 0.93, rung=1),  # the winner's refit: not a trial of the search
    ]
    board = tracking.leaderboard(records)
    assert [(r["rank"], r["trial_id"]) for r in board] == [
        (1, "c002-r1"), (2, "c001-r1"), (3, "c000"), (4, "c002"), (5, "c001"), (None, "c003"), (None, "c004-r1")]
    assert [r["status"] for r in board[-2:]] == ["failed", "skipped"]


def test_lower_is_better_for_an_error_metric_and_ties_keep_the_spec_order():
    records = [record("c1000", 2.0, metric="rmse"), record("c999", 2.0, metric="rmse"), record("c002", 3.0, metric="rmse")]
    assert [r["candidate_id"] for r in tracking.leaderboard(records)] == ["c999", "c1000", "c002"]


def test_only_the_exported_configuration_has_an_onnx_size_and_unrecorded_trials_are_listed():
    crashed = {"candidate_id": "c002", "family": "ridge", "status": "failed", "metric": "accuracy", "rung": 0,
               "error": "Sandbox.Timedout"}  # a TrialResult the Map's Catch returned: no record
    board = tracking.leaderboard([record("c000", 0.8), record("c001", 0.9), crashed],
                                 exported={"candidate_id": "c000", "rung": 0}, onnx_bytes=1234)
    assert [(r["candidate_id"], r["onnx_bytes"]) for r in board] == [("c001", None), ("c000", 1234), ("c002", None)]
    assert board[-1]["trial_id"] is None and board[-1]["rank"] is None


def test_gb_seconds_use_the_contexts_memory_else_the_runtimes_variable(monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", raising=False)
    assert tracking.gb_seconds(3.0) is None
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "3008")
    assert tracking.gb_seconds(2.0) == round(3008 / 1024 * 2.0, 4)
    assert tracking.gb_seconds(2.0, memory_mb=1024) == 2.0


def test_versions_are_the_imported_libraries():
    assert tracking.versions() | {"python": None} == {
        "evergreen": "0.1.0", "python": None, "numpy": np.__version__, "scikit-learn": sklearn.__version__,
        "skl2onnx": skl2onnx.__version__, "onnxruntime": onnxruntime.__version__}


def row(**values) -> dict:
    return {field: values.get(field) for field in tracking.TRIAL_FIELDS}


def test_trials_export_as_csv_one_column_per_version_and_as_json():
    rows = [row(run_id="r1", trial_id="c000", params={"C": 1.0}, fitted_params={"C": 1.0, "random_state": 42},
                validation_score=0.875, versions={"numpy": "2.4.6", "python": "3.11.7"}),
            row(run_id="r2", trial_id="c001", status="failed", error='ValueError: "C", must be > 0')]
    parsed = list(csv.DictReader(io.StringIO(tracking.trials_csv(rows))))
    assert [p["trial_id"] for p in parsed] == ["c000", "c001"]
    assert json.loads(parsed[0]["fitted_params"]) == {"C": 1.0, "random_state": 42}
    assert float(parsed[0]["validation_score"]) == 0.875 and parsed[1]["validation_score"] == ""
    assert parsed[0]["version_numpy"] == "2.4.6" and parsed[0]["version_skl2onnx"] == ""
    assert parsed[1]["error"] == 'ValueError: "C", must be > 0' and "versions" not in parsed[0]
    assert json.loads(tracking.trials_json(rows)) == rows
