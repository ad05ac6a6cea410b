"""Pipeline steps against moto-backed storage built from template.yaml: the parts the end-to-end
suites reach only by chance (races, redeliveries, records)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import numpy as np
import pytest

from evergreen.table import Table
from evergreen.triggers import not_data
from evergreen import registry, run_records
from evergreen.contracts import (
    ChampionScore,
    ColumnSchema,
    ContractInfo,
    DatasetRef,
    Decision,
    EvaluateResult,
    ExportResult,
    PromoteInput,
    RunContext,
    TrialResult,
)
from evergreen.errors import ChampionIntegrityError
from evergreen.spec import parse_spec
from evergreen.steps import ingest, promote
from evergreen.storage import Stores, from_dynamo
from tests.support.infra import PROMOTE_ENV, REGION, moto_stores
from tests.support.runs import search_state

SCHEMA = ColumnSchema(numeric=["x"], categorical=[], target="y", problem_type="classification", classes=["a", "b"])
SPEC = parse_spec("{name: m, target: y, problem_type: classification, primary_metric: accuracy,"
                  " candidates: [{family: logistic_regression}]}")


@pytest.fixture
def stores(monkeypatch):
    yield from moto_stores(monkeypatch, **PROMOTE_ENV)


def promote_input(stores: Stores, run_id: str, champion: int | None) -> PromoteInput:
    dataset = DatasetRef(version="ds-1", bucket=stores.artifacts_bucket, train_key="t", validation_key="v",
                         test_key="s", profile_key="datasets/m/ds-1/profile.json", rows={}, columns=SCHEMA)
    run = RunContext(run_id=run_id, model_name="m", trigger="upload", spec=SPEC, dataset=dataset,
                     contract=ContractInfo(version=1, previous=None if champion is None else 1), search=search_state())
    trial = TrialResult(candidate_id="c0", family="logistic_regression", params={}, status="ok", metric="accuracy",
                        validation_score=0.9)
    champ = None if champion is None else ChampionScore(version=champion, onnx_key="k", sha256="s", test_score=0.5)
    evaluation = EvaluateResult(metric="accuracy", higher_is_better=True, challenger=trial, challenger_test_score=0.9,
                                baseline_test_score=0.5, champion=champ, margin=0.0,
                                decision=Decision(promote=True, reason="better"))
    export = ExportResult(passed=True, reason="ok", candidate=trial, onnx_key=f"runs/m/{run_id}/export/model.onnx",
                          sha256="f" * 64, size_bytes=3)
    stores.put_bytes(stores.artifacts_bucket, export.onnx_key, b"onx")
    stores.put_json(stores.artifacts_bucket, dataset.profile_key, {"vocabulary": {}, "open_vocabulary": []})
    return PromoteInput(run=run, evaluation=evaluation, export=export)


def keys(stores: Stores, prefix: str) -> list[str]:
    listed = stores.s3.list_objects_v2(Bucket=stores.artifacts_bucket, Prefix=prefix).get("Contents", [])
    return sorted(o["Key"] for o in listed)


def test_the_first_promotion_records_the_contract_with_the_champion(stores):
    out = promote.run(promote_input(stores, "r1", None), stores)
    alias = registry.get_alias(stores.registry, "m")
    assert out.version == alias["version"] == 1 and alias["contract_version"] == 1
    assert alias["contract_key"] == "models/m/contracts/v000001.json"
    contract = stores.get_json(stores.artifacts_bucket, alias["contract_key"])
    assert contract["columns"] == SCHEMA.model_dump() and contract["recorded"]["run_id"] == "r1"
    assert contract["response"] == {"prediction": {"one_of": ["a", "b"]}, "probabilities": {"keys": ["a", "b"]}}


def test_promotion_puts_the_models_alarms_from_its_spec(stores):
    import boto3

    promote.run(promote_input(stores, "r1", None), stores)
    alarms = boto3.client("cloudwatch", region_name=REGION).describe_alarms(AlarmNamePrefix="stk-")["MetricAlarms"]
    assert {(a["AlarmName"], a["Threshold"], a["Period"]) for a in alarms} == {
        ("stk-quality-m", SPEC.monitoring.quality_threshold, 300), ("stk-drift-m", SPEC.monitoring.drift_share, 300)}
    cw = boto3.client("cloudwatch", region_name=REGION)
    cw.set_alarm_state(AlarmName="stk-quality-m", StateValue="ALARM", StateReason="low")
    promote.put_alarms("m", SPEC)  # the same spec again: the firing alarm is left alone
    assert cw.describe_alarms(AlarmNames=["stk-quality-m"])["MetricAlarms"][0]["StateValue"] == "ALARM"
    promote.put_alarms("m", spec_with(quality_threshold=0.9))  # a changed spec updates it
    assert cw.describe_alarms(AlarmNames=["stk-quality-m"])["MetricAlarms"][0]["Threshold"] == 0.9


STACK_WIDGET = {"type": "text", "x": 0, "y": 0, "width": 24, "height": 3, "properties": {"markdown": "the stack's"}}
MODEL_METRICS = {("PredictionQuality", "Average"), ("DriftedFeatureShare", "Maximum"), ("PredictionCount", "Sum"),
                 ("LabelledPredictions", "Maximum"), ("ModelLoadFailure", "Sum"), ("ImplausiblePredictions", "Sum"),
                 ("RunOutcome", "Sum"), ("PredictLatency", "p50"), ("PredictLatency", "p95"), ("ModelLatency", "p95")}


def dashboard_widgets() -> list[dict]:
    import json

    cw = boto3.client("cloudwatch", region_name=REGION)
    return json.loads(cw.get_dashboard(DashboardName="stk-evergreen")["DashboardBody"])["widgets"]


def model_widgets(widgets: list[dict], model: str) -> list[dict]:
    """The widgets whose title or heading names `model`."""
    return [w for w in widgets if (w["properties"].get("title") or "").startswith(f"{model}: ")
            or w["properties"].get("markdown") == f"### Model {model}"]


def test_the_first_promotion_adds_the_models_widgets_to_the_dashboard_and_later_ones_none(stores):
    import json

    cw = boto3.client("cloudwatch", region_name=REGION)
    cw.put_dashboard(DashboardName="stk-evergreen", DashboardBody=json.dumps({"widgets": [STACK_WIDGET]}))
    promote.run(promote_input(stores, "r1", None), stores)
    widgets = dashboard_widgets()
    assert widgets[0] == STACK_WIDGET
    ours = model_widgets(widgets, "m")
    assert ours == widgets[1:] and len(ours) == 6  # a heading, then quality, drift, predictions, errors, latency
    assert [w["properties"].get("title") for w in ours[1:]] == [
        "m: live quality (PredictionQuality)", "m: drift (DriftedFeatureShare)", "m: predictions", "m: errors",
        "m: latency (ms)"]
    assert min(w["y"] for w in ours) == 3  # below the stack's widgets
    assert all(w["x"] + w["width"] <= 24 for w in ours)
    lines = [line for w in ours[1:] for line in w["properties"]["metrics"]]
    assert {(line[1], line[-1]["stat"]) for line in lines} == MODEL_METRICS
    for line in lines:  # namespace Evergreen, dimension Model=m (RunOutcome: and Outcome=failed)
        assert line[0] == "Evergreen" and line[2:4] == ["Model", "m"]
        assert line[4:-1] == (["Outcome", "failed"] if line[1] == "RunOutcome" else [])
    arns = {a["AlarmName"]: a["AlarmArn"] for a in cw.describe_alarms(AlarmNamePrefix="stk-")["MetricAlarms"]}
    assert ours[1]["properties"]["annotations"] == {"alarms": [arns["stk-quality-m"]]}
    assert ours[2]["properties"]["annotations"] == {"alarms": [arns["stk-drift-m"]]}
    assert {w["properties"].get("period") for w in ours[1:]} == {300} and {w["properties"]["region"] for w in ours[1:]} == {REGION}

    promote.run(promote_input(stores, "r2", 1), stores)  # v2: nothing is added twice
    assert dashboard_widgets() == widgets
    moved = [{**w, "x": 0, "y": 40} if w == ours[-1] else w for w in widgets]  # a person moved the latency graph
    cw.put_dashboard(DashboardName="stk-evergreen", DashboardBody=json.dumps({"widgets": moved}))
    assert promote.put_dashboard_widgets("m", {}) == 0 and dashboard_widgets() == moved
    without_drift = [w for w in moved if w != ours[2]]  # ... and deleted the drift graph: the next promotion re-adds it
    cw.put_dashboard(DashboardName="stk-evergreen", DashboardBody=json.dumps({"widgets": without_drift}))
    assert promote.put_dashboard_widgets("m", {"drift": arns["stk-drift-m"]}) == 1
    assert dashboard_widgets() == [*without_drift, {**ours[2], "y": 46}]


def test_each_model_gets_its_own_row_and_a_deleted_dashboard_is_made_anew(stores):
    promote.run(promote_input(stores, "r1", None), stores)  # no dashboard yet: made with m's widgets
    first = dashboard_widgets()
    assert model_widgets(first, "m") == first and min(w["y"] for w in first) == 0
    assert promote.put_dashboard_widgets("n", {}) == 6
    widgets = dashboard_widgets()
    assert widgets[:6] == first and model_widgets(widgets, "n") == widgets[6:]
    assert min(w["y"] for w in widgets[6:]) == max(w["y"] + w["height"] for w in first) == 13
    assert "annotations" not in widgets[7]["properties"]  # no alarm ARN given: no annotation


def test_a_dashboard_that_refuses_the_widgets_does_not_stop_the_promotion(stores, monkeypatch, caplog):
    from botocore.exceptions import ClientError

    def refuse(**_):
        raise ClientError({"Error": {"Code": "InvalidParameterInput", "Message": "too many widgets"}}, "PutDashboard")

    client = boto3.client("cloudwatch", region_name=REGION)
    monkeypatch.setattr(client, "put_dashboard", refuse)
    real_client = boto3.client
    monkeypatch.setattr(boto3, "client", lambda service, *a, **k: client if service == "cloudwatch" else real_client(service, *a, **k))
    assert promote.run(promote_input(stores, "r1", None), stores).version == 1
    assert registry.get_alias(stores.registry, "m")["version"] == 1
    assert "the dashboard stk-evergreen was left as it was" in caplog.text and "too many widgets" in caplog.text


def test_the_template_lets_promote_read_and_write_its_stacks_dashboard_alone():
    from tests.support import infra

    props = infra.resource("PromoteFunction")["Properties"]
    name = infra.resource("Dashboard")["Properties"]["DashboardName"]
    assert props["Environment"]["Variables"]["DASHBOARD_NAME"] == name == {"Fn::Sub": "${AWS::StackName}-evergreen"}
    [grant] = [s for s in props["Policies"][0]["Statement"] if "cloudwatch:PutDashboard" in s["Action"]]
    assert grant["Action"] == ["cloudwatch:GetDashboard", "cloudwatch:PutDashboard"]
    assert grant["Resource"] == {"Fn::Sub": f"arn:${{AWS::Partition}}:cloudwatch::${{AWS::AccountId}}:dashboard/{name['Fn::Sub']}"}


def test_a_run_that_loses_the_promotion_race_leaves_no_registered_version_or_file(stores):
    promote.run(promote_input(stores, "r1", None), stores)
    promote.run(promote_input(stores, "r2", 1), stores)  # the winner: v1 -> v2
    loser = promote_input(stores, "r3", 1)  # judged against v1, which is no longer the champion
    with pytest.raises(registry.AliasesChanged):
        promote.run(loser, stores)
    versions = stores.registry.query(KeyConditionExpression="model_name = :m AND begins_with(sk, :v)",
                                     ExpressionAttributeValues={":m": "m", ":v": "version#"})["Items"]
    assert sorted(int(v["version"]) for v in versions) == [1, 2]
    assert registry.get_alias(stores.registry, "m")["version"] == 2
    assert keys(stores, "models/m/v000003/") == []  # the loser's copy and card are gone
    assert keys(stores, "models/m/v000002/") == [
        "models/m/v000002/card.html", "models/m/v000002/card.json", "models/m/v000002/model.onnx"]


def test_a_repeated_s3_event_is_claimed_once(stores):
    assert run_records.claim_source(stores.experiments, "b/k#v1#e", "run-1") is None
    assert run_records.claim_source(stores.experiments, "b/k#v1#e", "run-1") is None  # a retry of the same run
    assert run_records.claim_source(stores.experiments, "b/k#v1#e", "run-2") == "run-1"
    assert run_records.claim_source(stores.experiments, "b/k#v2#f", "run-2") is None  # a new version is new data


@pytest.mark.parametrize("key,size,why", [
    ("uploads/m/", 0, "a folder marker"), ("uploads/m/a/", None, "a folder marker"), ("uploads/m/x.csv", 0, "an empty object"),
    ("uploads/m/.DS_Store", 6148, "a hidden or marker file"), ("uploads/m/out/_SUCCESS", 3, "a hidden or marker file"),
    ("uploads/m/data.csv", 10, None), ("uploads/m/2026/12/data", 10, None),
])
def test_objects_that_are_plainly_not_data(key, size, why):
    got = not_data(key, size)
    assert got == why if why is None else why in got


def test_a_contract_that_cannot_be_read_names_its_key(stores):
    registry.register_champion(stores.registry, "m", 1, {"model_key": "k", "sha256": "s", "columns": SCHEMA.model_dump(),
                                                         "contract_key": "models/m/contracts/v000001.json"},
                               expected_version=None)
    with pytest.raises(ChampionIntegrityError, match=r"data contract of champion v1 cannot be read: s3://.*"
                                                     r"/models/m/contracts/v000001.json \(NoSuchKey\)"):
        ingest.load_contract(stores, "m")


def test_a_champion_from_before_contracts_has_its_columns_as_contract(stores):
    registry.register_champion(stores.registry, "m", 1, {"model_key": "k", "sha256": "s", "columns": SCHEMA.model_dump()},
                               expected_version=None)
    contract = ingest.load_contract(stores, "m")
    assert contract.version == 1 and contract.columns == SCHEMA and contract.vocabulary == {}


# --- guarded retraining --------------------------------------------------------------------------

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def spec_with(**monitoring):
    return SPEC.model_copy(update={"monitoring": SPEC.monitoring.model_copy(update=monitoring)})


def test_one_run_per_model_holds_it_until_finish(stores):
    table = stores.experiments
    assert run_records.acquire_lock(table, "m", "r1", NOW, timedelta(hours=2)) is None
    assert run_records.acquire_lock(table, "m", "r1", NOW, timedelta(hours=2)) is None  # a retry of the same run
    assert run_records.acquire_lock(table, "m", "r2", NOW, timedelta(hours=2)) == "r1"
    assert run_records.acquire_lock(table, "other", "r2", NOW, timedelta(hours=2)) is None  # per model
    assert not run_records.release_lock(table, "m", "r2") and run_records.release_lock(table, "m", "r1")
    assert run_records.acquire_lock(table, "m", "r2", NOW, timedelta(hours=2)) is None
    # a run that died without FinishRun frees its model when its lock expires
    assert run_records.acquire_lock(table, "m", "r3", NOW + timedelta(hours=3), timedelta(hours=2)) is None


def test_a_second_trigger_waits_or_is_skipped_with_its_reason(stores):
    run_records.acquire_lock(stores.experiments, "m", "r1", NOW, timedelta(hours=2))
    with pytest.raises(ingest.RunInProgress, match="run r1 of 'm' is in progress; this run waits"):
        ingest.hold_the_model(stores, "r2", "upload", "m", SPEC, NOW)
    with pytest.raises(ingest.RetrainSkipped, match="run r1 of 'm' is in progress; this alarm's retrain is skipped"):
        ingest.hold_the_model(stores, "r2", "alarm", "m", SPEC, NOW)


def test_a_skipped_alarm_retrain_frees_its_model(stores):
    """An alarm's retrain skipped after it took the lock (too few labels) must not hold the model for the
    lock's 2 hours: FinishRun finds the model in the alarm event and releases it."""
    from evergreen.contracts import FinishInput
    from evergreen.steps import finish_run

    alarm_event = {"detail-type": "CloudWatch Alarm State Change", "detail": {
        "alarmName": "stk-drift-m", "state": {"value": "ALARM"},
        "configuration": {"metrics": [{"metricStat": {"metric": {"dimensions": {"Model": "m"}}}}]}}}
    assert ingest.parse_trigger(alarm_event) == ("alarm", "m", None)
    run_records.acquire_lock(stores.experiments, "m", "r1", NOW, timedelta(hours=2))
    state = {**alarm_event, "error": {"Error": "RetrainSkipped", "Cause": "too few labels"}}
    finish_run.run(FinishInput(run_id="r1", outcome="skipped", state=state), stores,
                   cloudwatch=boto3.client("cloudwatch", region_name=REGION))
    assert run_records.acquire_lock(stores.experiments, "m", "r2", NOW, timedelta(hours=2)) is None


def test_a_run_whose_cost_cannot_be_read_is_recorded_with_the_reason_in_its_place(stores):
    """FinishRun reads the execution's history for the run's cost (evergreen.cost); when Step Functions
    will not give it (here: no such execution; on AWS, a missing permission or throttling), the run
    record is written all the same."""
    from evergreen.contracts import FinishInput
    from evergreen.steps import finish_run

    arn = f"arn:aws:states:{REGION}:123456789012:execution:stk-pipeline:r1"
    finish_run.run(FinishInput(run_id="r1", execution_arn=arn, outcome="failed", state={}), stores,
                   cloudwatch=boto3.client("cloudwatch", region_name=REGION))
    record = from_dynamo(stores.experiments.get_item(Key={"run_id": "r1", "sk": "run"})["Item"])
    assert record["status"] == "FAILED" and "ExecutionDoesNotExist" in record["summary"]["cost"]["error"]


def test_an_alarm_inside_the_cooldown_starts_no_second_retrain(stores):
    run_records.mark_retrain(stores.experiments, "m", "r1", NOW)
    spec = spec_with(cooldown_minutes=30)
    with pytest.raises(ingest.RetrainSkipped, match=r"last retrained at 2026-12-04T12:00:00\+00:00; "
                                                     r"monitoring.cooldown_minutes \(30\) allows the next retrain "
                                                     r"from 2026-12-04T12:30:00\+00:00"):
        ingest.hold_the_model(stores, "r2", "alarm", "m", spec, NOW + timedelta(minutes=29))
    ingest.hold_the_model(stores, "r3", "alarm", "m", spec, NOW + timedelta(minutes=31))
    ingest.hold_the_model(stores, "r4", "upload", "other", spec, NOW)  # uploads have no cooldown


def labelled_items(n: int, start: datetime, label: str = "a", predicted: str = "a") -> list[dict]:
    return [{"prediction_id": f"p{start.isoformat()}-{i}", "model_name": "m", "model_version": 1,
             "problem_type": "classification", "created_at": (start + timedelta(seconds=i)).isoformat(),
             "features": {"x": i}, "prediction": predicted, "label": label} for i in range(n)]


def rows_of(feedback) -> list[list[str]]:
    return feedback.table.rows(np.arange(feedback.table.n_rows))


def test_the_retraining_data_policy_decides_which_labels_are_learned(stores):
    from evergreen import prediction_log

    prediction_log.write(stores.predictions, labelled_items(40, NOW - timedelta(hours=3), "old"))
    prediction_log.write(stores.predictions, labelled_items(35, NOW - timedelta(minutes=10), "new", predicted="new"))
    # every prediction was right: the errors did not rise, so "feedback" takes the window
    got = ingest.feedback_rows(stores, spec_with(window_minutes=60, min_labels=30), None, NOW)
    assert got.table.header == ["x", "y"] and len(rows_of(got)) == 35 and {r[-1] for r in rows_of(got)} == {"new"}
    assert got.scope.startswith("the 35 labelled predictions of the last 60 min (the served errors did not rise")
    got = ingest.feedback_rows(stores, spec_with(retrain_data="window", retrain_rows=50), None, NOW)
    assert len(rows_of(got)) == 50 and sum(r[-1] == "old" for r in rows_of(got)) == 15  # the 50 newest
    with pytest.raises(ingest.RetrainSkipped, match=r"'m' has 35 labelled predictions of the last 60 min \(the served "
                                                    r"errors did not rise among the 75 newest\); a retrain needs at least 36"):
        ingest.feedback_rows(stores, spec_with(min_labels=36), None, NOW)


def test_a_retrain_learns_the_new_concept_alone_however_many_old_labels_the_log_holds(stores):
    from evergreen import prediction_log

    rng = np.random.default_rng(0)
    start = NOW - timedelta(hours=5)
    items = labelled_items(2300, start)
    wrong = np.r_[rng.random(2000) < 0.08, rng.random(300) < 0.35]  # the concept changed at item 2000
    for item, w in zip(items, wrong, strict=True):
        item["label"] = "b" if w else "a"
    prediction_log.write(stores.predictions, items)
    got = ingest.feedback_rows(stores, spec_with(window_minutes=600, min_labels=100), None, NOW)
    assert 260 <= len(rows_of(got)) <= 340  # the 300 since the change, give or take where it is seen
    assert "when the served errors rose from 0.0" in got.scope and "(among the 2300 newest)" in got.scope
    got = ingest.feedback_rows(stores, spec_with(window_minutes=600, retrain_rows=1000, min_labels=100), None, NOW)
    assert 260 <= len(rows_of(got)) <= 340  # the look-back is retrain_rows: the rise is found within it too


def test_the_all_policy_adds_the_latest_accepted_upload(stores):
    key = "uploads/m/data.csv"
    put = stores.s3.put_object(Bucket=stores.data_bucket, Key=key, Body=b"x,z,y\n1,u,a\n2,v,b\n")
    source = {"bucket": stores.data_bucket, "key": key, "version_id": put.get("VersionId"), "etag": None}
    run_records.start(stores.experiments, "old", "upload", "m", source)
    run_records.finish(stores.experiments, "old", "REJECTED", "not better", "m", {})
    run_records.start(stores.experiments, "bad", "upload", "m", {**source, "key": "uploads/m/broken.csv"})
    run_records.finish(stores.experiments, "bad", "FAILED", "DataError", "m", {})  # newer, but refused: not taken
    got = ingest.with_latest_upload(stores, SPEC.model_copy(update={"name": "m"}), None,
                                    Table.from_rows(["x", "y"], [["7", "c"]]))
    assert got.header == ["x", "z", "y"]
    assert got.rows(np.arange(got.n_rows)) == [["1", "u", "a"], ["2", "v", "b"], ["7", "", "c"]]


def put_splits(stores: Stores, n_train: int) -> DatasetRef:
    """A two-class dataset with one informative feature, its splits stored as ingest writes them."""
    from evergreen import splits
    from evergreen.data import Frame

    rng = np.random.default_rng(0)

    def frame(n: int) -> Frame:
        x = rng.normal(size=n).astype(np.float32)
        return Frame({"x": x}, np.where(x + rng.normal(scale=0.5, size=n) > 0, "b", "a").astype(object))

    prefix = "datasets/m/ds-1/"
    parts = {"train": frame(n_train), "validation": frame(400), "test": frame(400)}
    for part, f in parts.items():
        stores.put_bytes(stores.artifacts_bucket, splits.split_key(prefix, part), splits.to_bytes(splits.arrays_of(f, SCHEMA)))
    return DatasetRef(version="ds-1", bucket=stores.artifacts_bucket, train_key=splits.split_key(prefix, "train"),
                      validation_key=splits.split_key(prefix, "validation"), test_key=splits.split_key(prefix, "test"),
                      profile_key=prefix + "profile.json", rows={"train": n_train, "validation": 400, "test": 400},
                      columns=SCHEMA)


@pytest.mark.parametrize("cv_max_rows", [0, 10_000], ids=["validation", "cross-validation"])
@pytest.mark.parametrize("sample_rows,refit", [(1000, True), (5000, False)])
def test_trials_fit_on_the_search_sample_and_only_the_winner_is_refit_on_every_row(stores, sample_rows, refit,
                                                                                   cv_max_rows):
    """On the validation split, the search draws from the 3,000 training rows and the refit is scored
    on validation; under cross-validation (3,400 rows of train + validation, within cv_max_rows) from
    all 3,400, and the refit keeps the threshold tuned on the folds."""
    from evergreen.contracts import Candidate, RefitInput, TrainInput
    from evergreen.steps import refit as refit_step
    from evergreen.steps import train

    spec = SPEC.model_copy(update={"search": SPEC.search.model_copy(update={"sample_rows": sample_rows,
                                                                           "cv_max_rows": cv_max_rows})})
    dataset = put_splits(stores, 3000)
    rows = 3400 if cv_max_rows else 3000
    candidates = [Candidate(candidate_id=f"c00{i}", family="logistic_regression", params={"C": c})
                  for i, c in enumerate((0.001, 1.0))]
    trials = [train.run(TrainInput(run_id="r1", model_name="m", spec=spec, dataset=dataset, candidate=c), stores)
              for c in candidates]
    assert {t.trained_rows for t in trials} == {min(sample_rows, rows)}
    assert {t.cv_folds for t in trials} == {5 if cv_max_rows else None}
    run = RunContext(run_id="r1", model_name="m", trigger="upload", spec=spec, dataset=dataset,
                     contract=ContractInfo(version=1, previous=None), search=search_state(candidates))
    out = refit_step.run(RefitInput(run=run, trials=trials), stores)
    best = max(trials, key=lambda t: t.validation_score)
    if cv_max_rows:  # a cross-validated trial keeps no model: the winner is always fitted on every row
        assert {t.artifact_key for t in trials} == {None}
    elif not refit:
        assert out == trials  # the sample was every row: the winner's artifact is final
        return
    winner = next(t for t in out if t.candidate_id == best.candidate_id)
    assert winner.trained_rows == rows and winner.artifact_key == "runs/m/r1/refit/pipeline.joblib"
    assert winner.validation_score == best.validation_score
    assert (winner.refit_validation_score is None) == bool(cv_max_rows)
    if cv_max_rows:
        assert winner.threshold == best.threshold
    assert [t for t in out if t.candidate_id != best.candidate_id] == [t for t in trials if t is not best]
    record = stores.experiments.get_item(Key={"run_id": "r1", "sk": f"trial#{best.candidate_id}-refit"})["Item"]
    assert int(record["trained_rows"]) == rows and record["versions"]["scikit-learn"]
    assert keys(stores, "runs/m/r1/refit/") == ["runs/m/r1/refit/pipeline.joblib"]


def test_a_trial_that_would_start_past_the_budget_is_skipped_and_recorded(stores):
    from evergreen.contracts import Candidate, TrainInput
    from evergreen.steps import train

    dataset = put_splits(stores, 300)
    candidate = Candidate(candidate_id="c000", family="logistic_regression", params={})
    late = TrainInput(run_id="r9", model_name="m", spec=SPEC, dataset=dataset, candidate=candidate, rung=1,
                      deadline=(datetime.now(UTC) - timedelta(seconds=1)).isoformat())
    trial = train.run(late, stores)
    assert trial.status == "skipped" and trial.error.startswith("budget: search.max_minutes")
    assert trial.artifact_key is None and trial.rung == 1
    record = stores.experiments.get_item(Key={"run_id": "r9", "sk": "trial#c000-r1"})["Item"]
    assert record["status"] == "skipped"
    spec = SPEC.model_copy(update={"search": SPEC.search.model_copy(update={"max_gb_seconds": 0.5})})
    on_time = late.model_copy(update={"spec": spec, "rung": 0,
                                      "deadline": (datetime.now(UTC) + timedelta(hours=1)).isoformat()})
    first = train.run(on_time, stores, memory_mb=1024)  # the run has used 0 GB-s: it trains
    assert first.status == "ok" and first.gb_seconds is not None
    run_records.record_trial(stores.experiments, {"run_id": "r9", "candidate_id": "c001", "gb_seconds": 1.0})
    again = train.run(on_time.model_copy(update={"candidate": candidate.model_copy(update={"candidate_id": "c002"})}), stores)
    assert again.status == "skipped" and "max_gb_seconds is 0.5" in again.error


def test_export_fits_a_cross_validated_runner_up_when_the_winner_cannot_be_converted(stores, monkeypatch):
    """Cross-validated trials keep no model; when the winner's conversion fails, Export fits the next
    one on train + validation (as RefitWinner fits a winner) and converts that."""
    from evergreen import export
    from evergreen.contracts import Candidate, ExportInput, TrainInput
    from evergreen.steps import export_onnx, train

    dataset = put_splits(stores, 600)
    candidates = [Candidate(candidate_id=f"c00{i}", family="logistic_regression", params={"C": c})
                  for i, c in enumerate((0.001, 1.0))]
    trials = [train.run(TrainInput(run_id="r1", model_name="m", spec=SPEC, dataset=dataset, candidate=c), stores)
              for c in candidates]
    best, runner_up = sorted(trials, key=lambda t: -t.validation_score)
    winner = best.model_copy(update={"artifact_key": "runs/m/r1/refit/pipeline.joblib"})
    run = RunContext(run_id="r1", model_name="m", trigger="upload", spec=SPEC, dataset=dataset,
                     contract=ContractInfo(version=1, previous=None), search=search_state(candidates))
    converted = []
    real = export.to_onnx
    monkeypatch.setattr(export, "to_onnx", lambda pipeline, columns: converted.append(pipeline) or real(pipeline, columns))
    monkeypatch.setattr(export_onnx, "load_pipeline", lambda stores, key: "not a pipeline")  # the winner's
    result = export_onnx.run(ExportInput(run=run, trials=[winner, runner_up]), stores)
    assert result.passed and result.candidate.candidate_id == runner_up.candidate_id
    assert result.skipped and best.candidate_id in result.skipped[0]
    assert result.candidate.artifact_key == f"runs/m/r1/candidates/{runner_up.candidate_id}/pipeline.joblib"
    assert result.candidate.trained_rows == 1000  # train + validation
    assert converted[-1].named_steps["model"].C == runner_up.params["C"]
