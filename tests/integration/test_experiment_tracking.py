"""Experiment tracking through the real template.yaml and state machine on moto: a run's trial records,
its leaderboard, the model's trials from the TrialsByModel index, and the best trial re-run to the
same validation score."""

from __future__ import annotations

import pytest

from evergreen import run_records, tracking
from evergreen_cli.local.stack import LocalStack
from evergreen.spec import parse_spec
from evergreen.storage import Stores, from_dynamo
from evergreen.synthetic import make_churn
from tests.support.infra import ROOT
from tests.support.uploads import train_on_upload
from tests.support.specs import churn_spec

pytestmark = pytest.mark.e2e

# every family whose fit a thread count could change (BLAS, OpenMP), on a sample smaller than the
# training split, so the reproduction must draw the same rows
SPEC = parse_spec(churn_spec("tracked", """  - family: logistic_regression
    grid: {C: [0.1, 1.0]}
  - family: random_forest
    grid: {n_estimators: [20], max_depth: [6]}
  - family: hist_gradient_boosting
    grid: {max_iter: [50]}
""", "search: {sample_rows: 1000}\n"))


@pytest.fixture(scope="module")
def run():
    with LocalStack(root=ROOT, stack_name="evergreen-tracking") as stack:
        execution = train_on_upload(stack, SPEC, make_churn(3000, seed=5))
        stores = Stores.from_env()  # the stack's names, as its functions see them
        yield execution, stores


def test_the_run_record_ranks_every_trial_with_what_it_cost(run):
    execution, stores = run
    assert execution["status"] == "SUCCEEDED", execution
    record = from_dynamo(stores.experiments.get_item(Key={"run_id": execution["name"], "sk": "run"})["Item"])
    board, trials = record["summary"]["leaderboard"], run_records.run_trials(stores.experiments, execution["name"])
    assert [r["rank"] for r in board] == [1, 2, 3, 4] and {r["status"] for r in board} == {"ok"}
    assert board[0]["candidate_id"] == record["summary"]["challenger"]
    assert [r["validation_score"] for r in board] == sorted((r["validation_score"] for r in board), reverse=True)
    for row in board:  # measured in the Lambda: its context's memory (TrainMemorySize) times the trial's duration
        assert row["fit_seconds"] > 0 and row["predict_us_per_row"] > 0 and row["gb_seconds"] > row["fit_seconds"]
        assert row["fitted_params"]["random_state"] == SPEC.split.seed and row["fitted_params"]["threads"] == 1
    exported = [r for r in board if r["onnx_bytes"] is not None]
    assert [(r["candidate_id"], r["onnx_bytes"]) for r in exported] == [
        (record["summary"]["challenger"], record["summary"]["export"]["size_bytes"])]
    # the exported artifact is the winner's refit (the trials fitted on 1,000 of the training rows)
    [refit] = [t for t in trials if t["candidate_id"].endswith("-refit")]
    assert refit["onnx_bytes"] == record["summary"]["export"]["size_bytes"]


def test_the_models_trials_come_from_the_index_with_their_versions(run):
    execution, stores = run
    rows = tracking.model_trials(stores.experiments, "tracked")
    assert {r["run_id"] for r in rows} == {execution["name"]}
    assert sorted(r["trial_id"] for r in rows if not r["trial_id"].endswith("-refit")) == ["c000", "c001", "c002", "c003"]
    searched = [r for r in rows if not r["trial_id"].endswith("-refit")]
    assert {r["dataset_version"] for r in rows} == {from_dynamo(stores.experiments.get_item(
        Key={"run_id": execution["name"], "sk": "run"})["Item"])["summary"]["dataset_version"]}
    assert all(r["versions"] == tracking.versions() and r["seed"] == SPEC.split.seed for r in searched)
    assert tracking.trials_csv(rows).count("\n") == len(rows) + 1


def test_the_best_trial_reproduces_its_validation_score_exactly(run):
    execution, stores = run
    again = tracking.reproduce_best_trial(stores, execution["name"])
    assert again.threads_recorded == again.threads_used == 1
    assert again.trial_id == from_dynamo(stores.experiments.get_item(
        Key={"run_id": execution["name"], "sk": "run"})["Item"])["summary"]["leaderboard"][0]["trial_id"]
    assert again.reproduced_score == again.recorded_score
