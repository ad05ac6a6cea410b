"""The report's data (evergreen_cli.report_data) gathered on moto from what the pipeline and the monitor
write: registry versions, aliases and audit log, run records, the model's alarms (put by Promote) and
the monitor's datapoints (put with put_metric_data); then the page (evergreen_cli.report_page) made
from it: its sections, its escaping, and the numbers it shows against the data's."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from html import unescape

import boto3
import pytest

from evergreen import registry
from evergreen_cli import report_page
from evergreen_cli.output import CliError
from evergreen_cli.report_data import gather
from evergreen_cli.target import Target
from evergreen.spec import parse_spec
from evergreen.steps import promote
from evergreen.storage import to_dynamo
from tests.support.infra import PROMOTE_ENV, REGION, moto_stores

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SPEC = parse_spec("{name: churn, target: y, problem_type: classification, primary_metric: accuracy,"
                  " candidates: [{family: logistic_regression}], monitoring: {quality_threshold: 0.8, drift_share: 0.25}}")
MARKUP = "<img src=x onerror=alert(1)>"
QUALITY = [(NOW - timedelta(hours=h), v) for h, v in ((5, 0.91), (4, 0.88), (3, 0.74), (1, 0.9))]
DRIFT = [(NOW - timedelta(hours=h), v) for h, v in ((4, 0.0), (3, 0.5))]
SERVED = [(NOW - timedelta(hours=h), v) for h, v in ((5, 120.0), (4, 80.0))]
LEADERBOARD = [
    {"rank": 1, "trial_id": "c001", "candidate_id": "c001", "family": "random_forest", "rung": 0,
     "fitted_params": {"max_depth": 6, "threads": 1}, "validation_score": 0.9125, "cv_std": 0.01, "fit_seconds": 1.5,
     "gb_seconds": 3.0, "status": "ok", "onnx_bytes": 5120},
    {"rank": 2, "trial_id": "c000", "candidate_id": "c000", "family": "logistic_regression", "rung": 0,
     "fitted_params": {"C": MARKUP}, "validation_score": 0.8875, "cv_std": None, "fit_seconds": 0.2,
     "gb_seconds": 0.4, "status": "ok", "onnx_bytes": None},
    {"rank": None, "trial_id": "c002", "candidate_id": "c002", "family": "hist_gradient_boosting", "rung": 0,
     "fitted_params": None, "validation_score": None, "cv_std": None, "fit_seconds": None, "gb_seconds": 0.1,
     "status": "failed", "onnx_bytes": None},
]


def at(hours: float) -> str:
    return (NOW - timedelta(hours=hours)).isoformat(timespec="milliseconds")


def version(n: int, score: float, run: str) -> dict:
    return {"model_key": f"models/churn/v{n:06d}/model.onnx", "card_html_key": f"models/churn/v{n:06d}/card.html",
            "family": "random_forest", "primary_metric": "accuracy", "test_score": score, "run_id": run,
            "params": {"max_depth": 6}, "decision": {"promote": True, "reason": f"v{n} beats the incumbent {MARKUP}"},
            "contract_version": 1, "dataset_version": f"ds-{n}"}


def run(run_id: str, hours: float, trigger: str, status: str, reason: str, **summary) -> dict:
    return {"run_id": run_id, "sk": "run", "model_name": "churn", "trigger": trigger, "status": status,
            "started_at": at(hours), "finished_at": at(hours - 0.05), "reason": reason,
            "summary": {"metric": "accuracy", **summary}}


@pytest.fixture(scope="module")
def stack():
    """A stack's stores on moto with two versions of churn, four runs, its alarms and the monitor's datapoints."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        storage = moto_stores(monkeypatch, **PROMOTE_ENV)
        stores = next(storage)
        registry.register_champion(stores.registry, "churn", 1, version(1, 0.9, "r1"), expected_version=None,
                                   reason="run r1: first")
        registry.register_champion(stores.registry, "churn", 2, version(2, 0.93, "r3"), expected_version=1,
                                   reason="run r3: better")
        for item in (run("r1", 30, "upload", "PROMOTED", "v1 promoted: first", challenger_test_score=0.9,
                         promotion={"version": 1}, leaderboard=LEADERBOARD[:1]),
                     run("r2", 20, "upload", "REJECTED", "not promoted: no better", challenger_test_score=0.86,
                         champion_before={"version": 1, "test_score": 0.9}),
                     run("r3", 2.9, "alarm", "PROMOTED", "v2 promoted: better", challenger_test_score=0.93,
                         champion_before={"version": 1, "test_score": 0.7}, promotion={"version": 2},
                         leaderboard=LEADERBOARD),
                     run("r4", 0.5, "upload", "FAILED", f"DataError: bad column {MARKUP}")):
            stores.experiments.put_item(Item=to_dynamo(item))
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        promote.put_alarms("churn", SPEC, cloudwatch)
        cloudwatch.set_alarm_state(AlarmName="stk-drift-churn", StateValue="ALARM", StateReason=f"drifted {MARKUP}")
        for name, points in (("PredictionQuality", QUALITY), ("DriftedFeatureShare", DRIFT), ("PredictionCount", SERVED)):
            cloudwatch.put_metric_data(Namespace="Evergreen", MetricData=[
                {"MetricName": name, "Dimensions": [{"Name": "Model", "Value": "churn"}], "Timestamp": when, "Value": value}
                for when, value in points])
        cloudwatch.put_metric_data(Namespace="Evergreen", MetricData=[  # another model's: not in churn's report
            {"MetricName": "PredictionQuality", "Dimensions": [{"Name": "Model", "Value": "other"}], "Timestamp": NOW, "Value": 0.1}])
        target = Target(kind="stack", name="stk", region=REGION, outputs={
            "RegistryTableName": stores.registry_table, "ExperimentsTableName": stores.experiments_table,
            "ArtifactsBucketName": stores.artifacts_bucket, "AlarmNamePrefix": "stk"})
        yield target
        storage.close()


@pytest.fixture(scope="module")
def data(stack):
    return gather(stack, "churn", days=1, now=NOW)


def test_the_data_holds_the_versions_runs_alarms_and_the_monitors_series(data):
    assert [(v["version"], v["test_score"], v["run_id"], v["card_html_key"]) for v in data["versions"]] == [
        (1, 0.9, "r1", "models/churn/v000001/card.html"), (2, 0.93, "r3", "models/churn/v000002/card.html")]
    assert data["versions"][1]["reason"] == f"v2 beats the incumbent {MARKUP}" and data["versions"][1]["promote"] is True
    assert data["aliases"] == {"champion": 2, "challenger": None, "previous": 1} and data["pin"] is None
    assert [(r["run_id"], r["status"], r["version"]) for r in data["runs"]] == [
        ("r4", "FAILED", None), ("r3", "PROMOTED", 2), ("r2", "REJECTED", None), ("r1", "PROMOTED", 1)]
    assert data["runs"][2]["champion_before"] == {"version": 1, "test_score": 0.9}
    assert [r["run_id"] for r in data["retrains"]] == ["r3"]
    last = data["last_run"]  # the newest run that trained: r4 failed before any trial
    assert (last["run_id"], last["status"], last["metric"], last["trials"]) == ("r3", "PROMOTED", "accuracy", LEADERBOARD)
    quality, drift = data["alarms"]["quality"], data["alarms"]["drift"]
    assert (quality["name"], quality["metric"], quality["state"], quality["threshold"], quality["period"]) == (
        "stk-quality-churn", "PredictionQuality", "OK", 0.8, 300)
    assert (drift["state"], drift["threshold"], drift["reason"]) == ("ALARM", 0.25, f"drifted {MARKUP}")
    metrics = data["metrics"]
    assert metrics["period"] == 300 and metrics["start"] == (NOW - timedelta(days=1)).isoformat()
    for name, points in (("PredictionQuality", QUALITY), ("DriftedFeatureShare", DRIFT), ("PredictionCount", SERVED)):
        assert [(datetime.fromisoformat(p["at"]), p["value"]) for p in metrics["series"][name]] == points, name
    assert metrics["series"]["LabelledPredictions"] == []
    assert [(e["actor"], e["reason"]) for e in data["audit"]] == [("pipeline", "run r3: better"), ("pipeline", "run r1: first")]


def test_the_days_bound_what_the_series_hold(stack):
    recent = gather(stack, "churn", days=2.5 / 24, now=NOW)["metrics"]["series"]
    assert [p["value"] for p in recent["PredictionQuality"]] == [0.9]  # 1 h ago; 3 h ago is out
    assert recent["DriftedFeatureShare"] == []


def test_a_model_the_stack_does_not_know_and_days_out_of_range_are_one_line(stack):
    with pytest.raises(CliError, match=r"^no model 'nope' in stack 'stk': it has no version and no run"):
        gather(stack, "nope")
    with pytest.raises(CliError, match=r"^--days 16: give more than 0 and at most 15"):
        gather(stack, "churn", days=16)


def section(page: str, key: str) -> str:
    [found] = re.findall(rf'<section id="{key}"[^>]*>(.*?)</section>', page, flags=re.DOTALL)
    return found


def rows(html: str) -> list[list[str]]:
    """The body rows of the first table in `html`, each cell's text (markup the page escaped is text here)."""
    body = re.search(r"<tbody>(.*?)</tbody>", html, flags=re.DOTALL).group(1)
    return [[unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.DOTALL)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, flags=re.DOTALL)]


def test_the_page_has_every_section_in_order_and_escapes_what_the_stack_holds(data):
    page = report_page.render(data, {1: "r-cards/churn/v1.html"})
    assert re.findall(r'<section id="([a-z]+)"', page) == [key for key, _ in report_page.SECTIONS]
    assert '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">' in page
    assert "<script" not in page and MARKUP not in page
    escaped = "&lt;img src=x onerror=alert(1)&gt;"
    assert page.count(escaped) == 5  # two versions' reasons, r4's reason, the drift alarm's reason, a parameter
    assert "<title>Evergreen report: churn</title>" in page
    assert "stack &#x27;stk&#x27;; generated 2026-12-01 12:00:00 UTC; the last 1 days of metrics" in page


def test_the_page_shows_the_datas_numbers(data):
    page = report_page.render(data, {1: "r-cards/churn/v1.html"})
    now = section(page, "now")
    assert "v2 random_forest, accuracy 0.93 on its test split" in now and "v1 random_forest" in now
    assert '<span class="ALARM">ALARM</span> since' in now and "1 failed, 2 promoted, 1 rejected" in now
    timeline = section(page, "timeline")
    versions = rows(timeline)  # newest first; v2 has no card page
    assert [r[0] for r in versions] == ["v2", "v1"] and [r[3] for r in versions] == ["0.93", "0.9"]
    assert [r[4] for r in versions] == ["champion", "previous"] and [r[6] for r in versions] == ["", "card"]
    assert [r[5] for r in versions] == [f"v{n} beats the incumbent {MARKUP}" for n in (2, 1)]
    assert '<a href="r-cards/churn/v1.html">card</a>' in timeline
    runs = rows(timeline.split("<h3>Runs", 1)[1])
    assert [(r[1], r[2], r[3], r[4], r[5], r[6]) for r in runs] == [
        ("r4", "upload", "FAILED", "", "\u2014", ""), ("r3", "alarm", "PROMOTED", "v2", "0.93", "v1: 0.7"),
        ("r2", "upload", "REJECTED", "", "0.86", "v1: 0.9"), ("r1", "upload", "PROMOTED", "v1", "0.9", "")]
    assert [r[0] for r in runs] == [report_page.when(at(h)) for h in (0.5, 2.9, 20, 30)]
    # the plot: one dot per run that reached Evaluate (2 promoted in green, 1 rejected in amber)
    assert timeline.count('r="4" fill="#1a7f37"') == 2 and timeline.count('r="4" fill="#9a6700"') == 1

    quality = section(page, "quality")
    assert quality.count('r="3"') == len(QUALITY)  # a dot per datapoint
    assert quality.count('r="5"') == 1  # the retrain r3, on the threshold line
    assert "4 datapoints of the monitor in the last 1 days, one per 5 min; the latest 0.9 at 2026-12-01 11:00:00 UTC" in quality
    assert "alarm threshold 0.8" in quality and "it fires below 0.8" in quality
    drift = section(page, "drift")
    assert drift.count('r="3"') == len(DRIFT) and "it fires at or above 0.25" in drift
    assert "Served: PredictionCount per 5 min (200 in all)" in section(page, "traffic")

    alarms = section(page, "alarms")
    assert [r[:4] for r in rows(alarms)] == [["stk-quality-churn", "PredictionQuality", "OK", "0.8"],
                                             ["stk-drift-churn", "DriftedFeatureShare", "ALARM", "0.25"]]
    assert [r[1:4] for r in rows(alarms.split("<h3>Retrains", 1)[1])] == [["r3", "PROMOTED", "v2"]]

    trials = section(page, "trials")
    assert "Run <code>r3</code> (alarm, started 2026-12-01 09:06:00 UTC)" in trials and "3 trials, 2 scored" in trials
    assert trials.count('height="12" fill="#1f6feb"') == 2  # a bar per scored trial
    assert [r[:6] + r[9:] for r in rows(trials)] == [
        ["1", "c001", "random_forest", "0", "max_depth=6", "0.9125", "OK", "5,120"],
        ["2", "c000", "logistic_regression", "0", f"C={MARKUP}", "0.8875", "OK", "\u2014"],
        ["", "c002", "hist_gradient_boosting", "0", "", "\u2014", "FAILED", "\u2014"]]
    cards = section(page, "cards")
    assert '<li><a href="r-cards/churn/v1.html">churn v1</a></li>' in cards and "churn v2: <span" in cards
    assert [r[2] for r in rows(section(page, "audit"))] == ["champion: v1 -> v2; previous: none -> v1", "champion: none -> v1"]


def test_a_model_without_metrics_or_trials_says_so():
    data = {"model": "m", "where": "stack 's'", "generated_at": NOW.isoformat(), "days": 14.0,
            "aliases": {"champion": None, "challenger": None, "previous": None}, "pin": None, "versions": [],
            "runs": [{"run_id": "r", "trigger": "upload", "status": "FAILED", "started_at": at(1), "finished_at": at(1),
                      "reason": "DataError", "metric": None, "version": None, "challenger_test_score": None,
                      "champion_before": None, "decision": None}],
            "retrains": [], "last_run": None, "alarms": {"quality": None, "drift": None},
            "metrics": {"period": 300, "start": at(24 * 14), "end": NOW.isoformat(),
                        "series": {"PredictionQuality": [], "DriftedFeatureShare": [], "LabelledPredictions": [], "PredictionCount": []}},
            "audit": []}
    page = report_page.render(data, {})
    assert "<svg" not in page
    assert "No run reached Evaluate yet" in section(page, "timeline")
    assert "No PredictionQuality datapoint in the last 14 days" in section(page, "quality")
    assert "The model has no alarms" in section(page, "alarms") and "No run has trained yet." in section(page, "trials")


@pytest.mark.parametrize(("hours", "unit", "x"), [(1.5, "minutes", -90.0), (30, "hours", -30.0), (96, "days", -4.0)])
def test_the_plots_time_axis_is_in_minutes_hours_or_days_before_the_report(hours, unit, x):
    clock = report_page.Clock(NOW.isoformat(), [at(hours), at(0.1), None])
    assert (clock.unit, clock.x(at(hours))) == (unit, pytest.approx(x))
    assert clock.label == f"{unit} relative to the report (0 = 2026-12-01 12:00 UTC)"


def test_the_local_ui_routes_to_the_report_the_index_and_the_cards(stack):
    from types import SimpleNamespace

    from evergreen_cli.local.ui import ReportPages

    pages = ReportPages(SimpleNamespace(stack_name="stk", region=REGION, outputs=stack.outputs))
    status, headers, page = pages.handle("GET", "/ui/", {})  # one model: its report
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<title>Evergreen report: churn</title>" in page and 'id="models"' not in page
    assert '<a href="cards/churn/v1.html">card</a>' in page and "the local stack; generated" in page
    assert pages.handle("GET", "/ui/churn/", {})[:2] == (308, {"Location": "/ui/churn", "Content-Type": "text/plain; charset=utf-8"})
    assert pages.handle("GET", "/ui/cards/churn/v1.html", {})[0] == 404  # registered, but its page is not in the bucket
    stack.client("s3").put_object(Bucket=stack.outputs["ArtifactsBucketName"], Key="models/churn/v000001/card.html",
                                  Body=b"<html>churn v1</html>")
    assert pages.handle("GET", "/ui/cards/churn/v1.html", {})[::2] == (200, "<html>churn v1</html>")
    assert pages.handle("GET", "/ui/cards/churn/v7.html", {})[0] == 404

    registry.register_champion(stack.table("RegistryTableName"), "fraud", 1, version(1, 0.8, "f1"), expected_version=None)
    status, _, index = pages.handle("GET", "/ui/", {})  # two models: a list of them
    assert status == 200 and re.findall(r'<li><a href="([^"]+)">', index) == ["churn", "fraud"]
    status, _, page = pages.handle("GET", "/ui/", {"model": ["churn"]})
    assert status == 200 and re.findall(r'<nav id="models">.*?</nav>', page) == [
        '<nav id="models">Models: <a href="churn">churn</a><a href="fraud">fraud</a></nav>']
    status, _, missing = pages.handle("GET", "/ui/nope", {})
    assert status == 404 and "no model &#x27;nope&#x27; in the local stack" in missing
    assert pages.handle("GET", "/ui/a/b", {})[0] == 404
    assert pages.handle("DELETE", "/ui/", {})[1]["Allow"] == "GET, HEAD"
