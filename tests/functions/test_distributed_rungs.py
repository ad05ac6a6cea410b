"""A search's rungs as TrainRung's Distributed Map runs them, against moto-backed storage built from
template.yaml: the rung's configurations written to S3 for the ItemReader, each trial recorded by Train
(or its crash by the state machine), NextRung reading the rung back from the experiments table."""

from __future__ import annotations

import fnmatch
import json
from datetime import UTC, datetime

import numpy as np
import pytest

from evergreen import run_records, search, splits
from evergreen.contracts import (
    ColumnSchema,
    ContractInfo,
    DatasetRef,
    NextRungInput,
    RunContext,
    SearchState,
    TrainInput,
    TrialResult,
)
from evergreen.data import Frame
from evergreen.spec import MAX_TRIALS, Candidate, parse_spec
from evergreen.steps import next_rung
from evergreen.storage import Stores, rung_items_key, to_dynamo
from tests.support.asl import TEMPLATE, machine
from tests.support.infra import moto_stores

SCHEMA = ColumnSchema(numeric=["x"], categorical=[], target="y", problem_type="classification", classes=["a", "b"])
BASE = "{name: m, target: y, problem_type: classification, primary_metric: accuracy, split: {seed: 7}, "
RANDOM = parse_spec(BASE + "candidates: [{family: logistic_regression, space: {C: {log_uniform: [0.01, 10]}}},"
                           " {family: decision_tree, space: {max_depth: {int: [2, 6]}}}], search: {max_trials: 6}}")
PIPELINE = machine("PipelineStateMachine")


@pytest.fixture
def stores(monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", raising=False)
    yield from moto_stores(monkeypatch, METRICS_NAMESPACE="Evergreen")


def dataset(stores: Stores, rows: dict[str, int] | None = None) -> DatasetRef:
    """A two-class dataset with one informative feature, its splits stored as ingest writes them."""
    rows = rows or {"train": 600, "validation": 300, "test": 300}
    rng = np.random.default_rng(0)

    def frame(n: int) -> Frame:
        x = rng.normal(size=n).astype(np.float32)
        return Frame({"x": x}, np.where(x + rng.normal(scale=0.5, size=n) > 0, "b", "a").astype(object))

    prefix = "datasets/m/ds-1/"
    keys = {part: splits.split_key(prefix, part) for part in ("train", "validation", "test")}
    for part in keys:
        stores.put_bytes(stores.artifacts_bucket, keys[part], splits.to_bytes(splits.arrays_of(frame(rows[part]), SCHEMA)))
    return DatasetRef(version="ds-1", bucket=stores.artifacts_bucket, train_key=keys["train"],
                      validation_key=keys["validation"], test_key=keys["test"], profile_key=prefix + "profile.json",
                      rows=rows, columns=SCHEMA)


def run_context(stores: Stores, spec, ds: DatasetRef, run_id: str = "run-1") -> RunContext:
    """The RunContext Ingest returns: the first rung planned and written to S3."""
    rows = spec.search.search_rows(ds.rows)
    state = search.plan(spec, search.candidate_space(spec, ds.rows["train"], None), rows, datetime.now(UTC))
    return RunContext(run_id=run_id, model_name="m", trigger="upload", spec=spec, dataset=ds,
                      contract=ContractInfo(version=1), search=next_rung.write_rung(stores, "m", run_id, state))


def items(stores: Stores, state: SearchState) -> list[dict]:
    """What TrainRung's ItemReader reads: the JSON array at the state's items_key."""
    return json.loads(stores.get_bytes(stores.artifacts_bucket, state.items_key))


def train_input(run: RunContext, item: dict) -> TrainInput:
    """What TrainRung's ItemSelector builds for one item, as the Train task's Parameters pass it."""
    return TrainInput(run_id=run.run_id, model_name=run.model_name, spec=run.spec, dataset=run.dataset,
                      candidate=item, rung=run.search.rung, sample_rows=run.search.sample_rows,
                      deadline=run.search.deadline)


def record(stores: Stores, run: RunContext, item: dict, **result) -> None:
    """A trial record as Train writes it (run_records.record_trial), without fitting anything."""
    trial = TrialResult(candidate_id=item["candidate_id"], family=item["family"], params=item["params"],
                        metric="accuracy", rung=run.search.rung, **result)
    inp = train_input(run, item)
    run_records.record_trial(stores.experiments, {
        "run_id": run.run_id, "model_name": run.model_name, "trial_input": inp.model_dump_json(),
        "trial_id": run_records.trial_id(trial.candidate_id, trial.rung), **trial.model_dump(mode="json")})


def crash(stores: Stores, run: RunContext, item: dict, error: dict) -> None:
    """What TrialCrashed puts (arn:aws:states:::dynamodb:putItem) when a Train invocation crashed."""
    stores.experiments.put_item(Item={"run_id": run.run_id, "sk": f"crash#{run.search.rung}#{item['candidate_id']}",
                                      "error": json.dumps(error)})


def next_rung_after(stores: Stores, run: RunContext) -> RunContext:
    """NextRung on the state's payload ({"run.$": "$.run"}), its result put at $.run.search."""
    state = next_rung.run(NextRungInput.model_validate({"run": run.model_dump(mode="json")}), stores)
    return run.model_copy(update={"search": state})


def test_a_rung_goes_to_s3_as_the_item_readers_json_array_and_stays_out_of_the_state(stores):
    run = run_context(stores, RANDOM, dataset(stores))
    state = run.search
    assert state.candidates == [] and state.size == 6 and state.items_key == rung_items_key("m", "run-1", 0)
    assert [Candidate.model_validate(i) for i in items(stores, state)] == next_rung.read_rung(stores, state).candidates
    assert len(next_rung.read_rung(stores, state).candidates) == 6
    # every reader of the key may read it: the state machine's ItemReader, NextRung; Ingest and NextRung write it
    for logical_id, action in (("PipelineStateMachine", "s3:GetObject"), ("NextRungFunction", "s3:GetObject"),
                               ("NextRungFunction", "s3:PutObject"), ("IngestFunction", "s3:PutObject")):
        statements = [s for p in TEMPLATE["Resources"][logical_id]["Properties"]["Policies"] if "Statement" in p
                      for s in p["Statement"] if action in s["Action"]]
        patterns = [r["Fn::Sub"] for s in statements for r in (s["Resource"] if isinstance(s["Resource"], list)
                                                               else [s["Resource"]])]
        assert any(fnmatch.fnmatchcase("${ArtifactsBucket.Arn}/" + state.items_key, p) for p in patterns), (logical_id, action)


def test_next_rung_reads_the_rungs_trials_from_the_experiments_table(stores):
    """Every configuration of the rung becomes one trial: its record (fitted by Train here), a crash
    record's cause, or failed as unrecorded; records of other runs and rungs are not this rung's."""
    from evergreen.steps import train

    run = run_context(stores, RANDOM, dataset(stores))
    rung = items(stores, run.search)
    for item in rung[:3]:  # as the Map's child executions run them
        train.run(train_input(run, item), stores, memory_mb=1024)
    record(stores, run, rung[3], status="failed", error="ValueError: bad")
    crash(stores, run, rung[4], {"Error": "States.Timeout", "Cause": "Task timed out after 960.00 seconds"})
    # rung[5]: its Train crashed and so did the crash record
    other = run.model_copy(update={"run_id": "run-2"})
    record(stores, other, rung[5], status="ok", validation_score=1.0)
    later = run.model_copy(update={"search": run.search.model_copy(update={"rung": 1})})
    record(stores, later, rung[5], status="ok", validation_score=1.0)

    end = next_rung_after(stores, run).search
    assert end.done and end.stopped is None and end.trials == 6 and end.items_key is None and end.candidates == []
    by_id = {t.candidate_id: t for t in end.finalists}
    assert [t.candidate_id for t in end.finalists] == [i["candidate_id"] for i in rung]  # all of them: six trials
    # 900 rows: cross-validated trials, each with its score (and no model: RefitWinner fits the winner's)
    assert all(by_id[i["candidate_id"]].status == "ok" and by_id[i["candidate_id"]].cv_folds == 5 for i in rung[:3])
    assert by_id[rung[3]["candidate_id"]].error == "ValueError: bad"
    assert by_id[rung[4]["candidate_id"]].error == "Task timed out after 960.00 seconds"
    assert by_id[rung[5]["candidate_id"]].status == "failed"
    assert by_id[rung[5]["candidate_id"]].error.startswith("no trial record")
    assert end.gb_seconds == pytest.approx(sum(t.gb_seconds or 0 for t in end.finalists), abs=1e-3) and end.gb_seconds > 0


def test_a_configuration_is_the_items_files_not_the_records_numbers(stores):
    """DynamoDB keeps a number, not its type: max_features 1.0 (every feature) would read back as 1 (one)."""
    spec = parse_spec(BASE + "candidates: [{family: random_forest, grid: {max_features: [1.0]}}]}")
    run = run_context(stores, spec, dataset(stores))
    [item] = items(stores, run.search)
    assert item["params"] == {"max_features": 1.0}
    stores.experiments.put_item(Item=to_dynamo({  # as AWS returns a record of 1.0
        "run_id": "run-1", "sk": "trial#c000", "candidate_id": "c000", "family": "random_forest",
        "params": {"max_features": 1}, "status": "ok", "metric": "accuracy", "validation_score": 0.5, "rung": 0}))
    [trial] = next_rung_after(stores, run).search.finalists
    assert trial.params == {"max_features": 1.0} and isinstance(trial.params["max_features"], float)


def test_the_rung_is_read_with_a_strongly_consistent_query(stores):
    """The Map ends when its last Train returns: that trial's record must be seen by the next read."""
    calls = []
    query = stores.experiments.query

    class Spy:
        def query(self, **kwargs):
            calls.append(kwargs)
            return query(**kwargs)

    assert run_records.rung_trials(Spy(), "run-1", 0, ["status"]) == {}
    assert run_records.rung_crashes(Spy(), "run-1", 0) == {}
    assert calls and all(c["ConsistentRead"] is True for c in calls)


def test_a_halving_search_runs_rung_after_rung_through_s3_and_the_table(stores):
    spec = parse_spec(BASE + "candidates: [{family: logistic_regression, space: {C: {log_uniform: [0.01, 10]}}}],"
                             " search: {strategy: halving, max_trials: 13, eta: 3, min_rows: 50, sample_rows: 1000}}")
    run = run_context(stores, spec, dataset(stores, {"train": 450, "validation": 300, "test": 300}))
    assert run.search.rungs == 3 and run.search.size == 9  # 9 + 3 + 1 trials, each rung on 3 times the rows
    seen = []
    while not run.search.done:
        rung = items(stores, run.search)
        seen.append((run.search.rung, run.search.items_key, len(rung)))
        for item in rung:  # the later drawn score better
            record(stores, run, item, status="ok", validation_score=int(item["candidate_id"][1:]) / 100)
        run = next_rung_after(stores, run)
    assert seen == [(r, rung_items_key("m", "run-1", r), n) for r, n in ((0, 9), (1, 3), (2, 1))]
    [winner] = run.search.finalists
    assert winner.candidate_id == "c008" and winner.rung == 2 and run.search.trials == 13
    assert run_records.trial_id("c008", 2) in {r["sk"].removeprefix("trial#")
                                               for r in run_records.run_trials(stores.experiments, "run-1")}


def test_a_search_of_max_trials_leaves_a_small_state(stores):
    """The rung's thousand configurations and results stay in S3 and the table; what travels on is the
    shortlist of finalists."""
    spec = parse_spec(BASE + "candidates: [{family: logistic_regression, space: {C: {log_uniform: [0.001, 1000]}}},"
                             " {family: decision_tree, space: {max_depth: {int: [2, 16]}, min_samples_leaf: {int: [1, 200]}}}],"
                             f" search: {{max_trials: {MAX_TRIALS}}}}}")
    run = run_context(stores, spec, dataset(stores))
    assert run.search.size == MAX_TRIALS and len(json.dumps(run.search.model_dump(mode="json"))) < 1000
    with stores.experiments.batch_writer() as batch:
        for item in items(stores, run.search):
            trial = TrialResult(**item, metric="accuracy", status="ok", validation_score=int(item["candidate_id"][1:]) / 1e4,
                                fitted_params={"C": 1.0, "max_iter": 1000, "random_state": 7, "threads": 1}, gb_seconds=0.5)
            batch.put_item(Item=to_dynamo({"run_id": "run-1", "sk": f"trial#{item['candidate_id']}", "recorded_at": "t",
                                           **trial.model_dump(mode="json")}))
    end = next_rung_after(stores, run).search
    assert end.done and end.trials == MAX_TRIALS and end.gb_seconds == MAX_TRIALS * 0.5
    assert len(end.finalists) == search.FINALISTS and end.finalists[0].candidate_id == f"c{MAX_TRIALS - 1}"
    assert len(json.dumps(end.model_dump(mode="json"))) < 16 * 1024


def trials(scores: list[tuple[str, float | None]]) -> list[TrialResult]:
    return [TrialResult(candidate_id=f"c{i:03d}", family=family, params={}, metric="accuracy",
                        status="ok" if score is not None else "failed", validation_score=score)
            for i, (family, score) in enumerate(scores)]


def test_the_shortlist_keeps_a_small_search_whole():
    few = trials([("ridge", 0.1), ("ridge", None)] * 10)
    assert search.shortlist(few, True) == few


def test_the_shortlist_keeps_the_best_and_the_best_of_every_other_family():
    many = trials([("a", i / 100) for i in range(30)] + [("b", 0.01), ("b", 0.02), ("c", None)])
    short = search.shortlist(many, True)
    assert [t.validation_score for t in short[:search.FINALISTS]] == [i / 100 for i in range(29, 9, -1)]
    assert [(t.family, t.validation_score) for t in short[search.FINALISTS:]] == [("b", 0.02)]
    assert [t.validation_score for t in search.shortlist(many, False)][:3] == [0.0, 0.01, 0.01]


def test_the_shortlist_of_a_search_that_failed_keeps_why():
    failed = trials([("a", None)] * 30)
    assert search.shortlist(failed, True) == failed[:search.FINALISTS]


@pytest.mark.parametrize("recorded,error", [
    (json.dumps({"Error": "States.Timeout", "Cause": "Task timed out"}), "Task timed out"),
    (json.dumps({"Error": "Lambda.Unknown", "Cause": ""}), "Lambda.Unknown"),
    (json.dumps({"Error": "Boom"}), "Boom"),
    ("not json", "not json"),
    (None, next_rung.UNRECORDED),
])
def test_a_crash_records_error_is_its_cause(recorded, error):
    assert next_rung.crash_error(recorded) == error


def test_trial_ids_are_the_ones_train_records():
    from evergreen.steps import train

    for rung in (0, 1, 3):
        inp = TrainInput.model_construct(candidate=Candidate(candidate_id="c007", family="ridge", params={}), rung=rung)
        assert train.trial_id(inp) == run_records.trial_id("c007", rung)


def test_the_crash_record_is_the_one_next_rung_reads():
    """TrialCrashed's key is run_records' crash#<rung>#<candidate id>; its error the Catch's JSON."""
    crashed = PIPELINE.asl["States"]["TrainRung"]["ItemProcessor"]["States"]["TrialCrashed"]["Parameters"]["Item"]
    assert crashed["run_id"] == {"S.$": "$.run_id"}
    assert crashed["sk"]["S.$"] == "States.Format('crash#{}#{}', $.rung, $.candidate.candidate_id)"
    assert crashed["error"] == {"S.$": "States.JsonToString($.error)"}
