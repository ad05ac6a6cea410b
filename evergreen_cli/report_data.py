"""What a model's report shows, gathered from a stack: `evergreen report` writes it as a page, and the
local stack serves the same page at /ui/ (evergreen_cli.local.ui). The page itself: evergreen_cli.report_page.

``gather(target, model)`` returns plain data (``--json`` prints it as it is):

- ``versions``: every registered version (the registry's ``version#`` items), oldest first, with its
  score, its decision and its card; ``aliases`` (champion, challenger, previous) and the ``pin``.
- ``runs``: the model's newest run records (ExperimentsTable, ByModel), newest first: trigger, outcome,
  reason, the version a promotion registered, the challenger's and the champion's test scores.
- ``retrains``: the runs an alarm started (trigger "alarm").
- ``last_run``: the newest run that trained, with its trials leaderboard (evergreen.tracking.leaderboard).
- ``alarms``: the model's quality and drift alarms (evergreen.monitoring.alarms): state, threshold,
  period, since when and why.
- ``metrics``: the monitor's series of the last ``days`` (namespace Evergreen, dimension Model) from
  one paged GetMetricData: PredictionQuality, DriftedFeatureShare, LabelledPredictions and the served
  PredictionCount, each at the alarm's period (the monitor's schedule), so every datapoint it published
  is its own point.
- ``audit``: the registry's audit log, newest first (who moved which alias, and why).

CloudWatch keeps one-minute datapoints for 15 days: ``days`` is at most that.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from evergreen import registry, run_records
from evergreen_cli.output import CliError
from evergreen_cli.target import Target
from evergreen.monitoring.alarms import DRIFT, QUALITY, alarm_name

NAMESPACE = "Evergreen"  # template.yaml: METRICS_NAMESPACE
SERIES = {"PredictionQuality": "Average", "DriftedFeatureShare": "Maximum", "LabelledPredictions": "Maximum",
          "PredictionCount": "Sum"}
MAX_DAYS = 15.0
MAX_RUNS = 100
AUDIT_ROWS = 50
DEFAULT_PERIOD = 300  # a model without alarms: the template's default MonitorScheduleMinutes


def _version(item: dict[str, Any]) -> dict[str, Any]:
    decision = item.get("decision") or {}
    return {"version": int(item["version"]), "registered_at": item.get("registered_at"), "family": item.get("family"),
            "metric": item.get("primary_metric"), "test_score": item.get("test_score"), "run_id": item.get("run_id"),
            "params": item.get("params") or {}, "promote": decision.get("promote"), "reason": decision.get("reason"),
            "card_html_key": item.get("card_html_key"), "contract_version": item.get("contract_version"),
            "dataset_version": item.get("dataset_version")}


def _run(record: dict[str, Any]) -> dict[str, Any]:
    summary = record.get("summary") or {}
    promotion = summary.get("promotion") or {}
    before = summary.get("champion_before") or {}
    return {"run_id": record["run_id"], "trigger": record.get("trigger"), "status": record.get("status"),
            "started_at": record.get("started_at"), "finished_at": record.get("finished_at"),
            "reason": record.get("reason"), "metric": summary.get("metric"),
            "version": promotion.get("version") if record.get("status") == "PROMOTED" else None,
            "challenger_test_score": summary.get("challenger_test_score"),
            "champion_before": {"version": before.get("version"), "test_score": before.get("test_score")} if before else None,
            "decision": summary.get("decision")}


def last_trained_run(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest of `records` (newest first) whose search left a leaderboard, with its trials."""
    for record in records:
        summary = record.get("summary") or {}
        if summary.get("leaderboard"):
            return {"run_id": record["run_id"], "status": record.get("status"), "trigger": record.get("trigger"),
                    "started_at": record.get("started_at"), "metric": summary.get("metric"),
                    "trials": summary["leaderboard"], "counts": summary.get("trials")}
    return None


def model_alarms(cloudwatch: Any, prefix: str, model: str) -> dict[str, dict[str, Any] | None]:
    """{QUALITY | DRIFT: the alarm as the report shows it, or None when the model has none}."""
    names = {kind: alarm_name(prefix, kind, model) for kind in (QUALITY, DRIFT)}
    found = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(
        AlarmNames=list(names.values()), AlarmTypes=["MetricAlarm"])["MetricAlarms"]}
    out: dict[str, dict[str, Any] | None] = {}
    for kind, name in names.items():
        alarm = found.get(name)
        out[kind] = None if alarm is None else {
            "name": name, "metric": alarm.get("MetricName"), "state": alarm["StateValue"],
            "threshold": alarm.get("Threshold"), "comparison": alarm.get("ComparisonOperator"),
            "period": alarm.get("Period"), "reason": alarm.get("StateReason"),
            "since": alarm["StateUpdatedTimestamp"].isoformat() if alarm.get("StateUpdatedTimestamp") else None}
    return out


def metric_series(cloudwatch: Any, model: str, start: datetime, end: datetime, period: int) -> dict[str, list[dict[str, Any]]]:
    """{metric: [{"at", "value"}, ...] oldest first} of SERIES for `model` between `start` and `end`."""
    queries = [{"Id": f"m{i}", "Label": name, "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": NAMESPACE, "MetricName": name, "Dimensions": [{"Name": "Model", "Value": model}]},
        "Period": period, "Stat": stat}} for i, (name, stat) in enumerate(SERIES.items())]
    points: dict[str, dict[datetime, float]] = {name: {} for name in SERIES}
    ids = {q["Id"]: q["Label"] for q in queries}
    kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end,
                              "ScanBy": "TimestampAscending"}
    while True:
        page = cloudwatch.get_metric_data(**kwargs)
        for result in page["MetricDataResults"]:
            points[ids[result["Id"]]].update(zip(result["Timestamps"], result["Values"]))
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    return {name: [{"at": at.isoformat(), "value": float(value)} for at, value in sorted(found.items())]
            for name, found in points.items()}


def gather(target: Target, model: str, days: float = 14.0, now: datetime | None = None) -> dict[str, Any]:
    """The report's data for `model` in `target` (see the module doc). CliError when the stack knows no
    such model: it has neither a version nor a run."""
    if not 0 < days <= MAX_DAYS:
        raise CliError(f"--days {days:g}: give more than 0 and at most {MAX_DAYS:g} (CloudWatch keeps 1-minute datapoints 15 days)")
    now = now or datetime.now(UTC)
    table, experiments = target.table("RegistryTableName"), target.table("ExperimentsTableName")
    versions = [_version(item) for item in registry.versions(table, model)]
    records = run_records.model_runs(experiments, model, MAX_RUNS)
    if not versions and not records:
        raise CliError(f"no model {model!r} in {target.where}: it has no version and no run "
                       "(`evergreen models` lists the models with a champion)")
    cloudwatch = target.client("cloudwatch")
    prefix = target.outputs.get("AlarmNamePrefix") or target.name
    alarms = model_alarms(cloudwatch, prefix, model)
    period = int((alarms[QUALITY] or alarms[DRIFT] or {}).get("period") or DEFAULT_PERIOD)
    start = now - timedelta(days=days)
    start = datetime.fromtimestamp(start.timestamp() // period * period, UTC)  # on a period's boundary
    aliases = {alias: (registry.get_alias(table, model, alias) or {}).get("version") for alias in registry.ALIASES}
    runs = [_run(r) for r in records]
    return {
        "model": model, "stack": target.name, "where": target.where, "generated_at": now.isoformat(), "days": days,
        "aliases": aliases, "pin": registry.get_pin(table, model), "versions": versions, "runs": runs,
        "retrains": [r for r in runs if r["trigger"] == "alarm"], "last_run": last_trained_run(records),
        "alarms": alarms,
        "metrics": {"period": period, "start": start.isoformat(), "end": now.isoformat(),
                    # the end one period on: the current period's datapoints count
                    "series": metric_series(cloudwatch, model, start, now + timedelta(seconds=period), period)},
        "audit": registry.audit_log(table, model, limit=AUDIT_ROWS),
    }
