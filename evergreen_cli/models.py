"""`evergreen models`: each model with its champion, its challenger in rollout, its pin, and its live
quality and drift as the monitor last published them, with the state of the alarms on them.

The registry (evergreen.registry) gives the aliases and the pin. CloudWatch gives the rest: the
latest PredictionQuality and DriftedFeatureShare datapoints of the last `--hours` (namespace
Evergreen, dimension Model) and the alarms ``<AlarmNamePrefix>-quality-<model>`` and
``-drift-<model>`` (evergreen.monitoring.alarms), which promote puts at a model's first promotion.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from evergreen import registry
from evergreen_cli import output
from evergreen_cli.output import JsonFlag
from evergreen_cli.target import Target, target_of
from evergreen.monitoring.alarms import DRIFT, QUALITY, alarm_name

NAMESPACE = "Evergreen"  # template.yaml: METRICS_NAMESPACE
METRICS = {QUALITY: ("PredictionQuality", "Average"), DRIFT: ("DriftedFeatureShare", "Maximum")}


def _alias(item: dict[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    brief = {k: item.get(k) for k in ("version", "family", "primary_metric", "test_score", "run_id", "updated_at",
                                       "moved_by", "contract_version")}
    if item.get("rollout"):
        brief["rollout"] = item["rollout"]
    return brief


def latest(cloudwatch: Any, metric: str, statistic: str, model: str, hours: float) -> dict[str, Any] | None:
    """The newest datapoint of `metric` for `model` in the last `hours`: {"value", "at"}, or None."""
    now = datetime.now(UTC)
    span = timedelta(hours=hours)
    period = max(60, int(span.total_seconds() // 1440) // 60 * 60)  # at most 1,440 datapoints, whole minutes
    points = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE, MetricName=metric, Dimensions=[{"Name": "Model", "Value": model}],
        # the end one period ahead: the current period's datapoints count (and timestamps sent in whole seconds
        # would otherwise cut a datapoint of this very second)
        StartTime=now - span, EndTime=now + timedelta(seconds=period), Period=period, Statistics=[statistic])["Datapoints"]
    if not points:
        return None
    point = max(points, key=lambda p: p["Timestamp"])
    return {"value": float(point[statistic]), "at": point["Timestamp"].isoformat()}


def alarms(cloudwatch: Any, prefix: str) -> dict[str, dict[str, Any]]:
    """The stack's metric alarms by name: {"state", "threshold", "reason", "updated_at"}."""
    found: dict[str, dict[str, Any]] = {}
    for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=f"{prefix}-", AlarmTypes=["MetricAlarm"]):
        for alarm in page["MetricAlarms"]:
            found[alarm["AlarmName"]] = {"state": alarm["StateValue"], "threshold": alarm.get("Threshold"),
                                         "reason": alarm.get("StateReason"),
                                         "updated_at": (alarm.get("StateUpdatedTimestamp") or datetime.now(UTC)).isoformat()}
    return found


def model_rows(target: Target, hours: float) -> list[dict[str, Any]]:
    table = target.table("RegistryTableName")
    champions = registry.champions(table)
    challengers = {c["model_name"]: c for c in registry.champions(table, registry.CHALLENGER)}
    cloudwatch = target.client("cloudwatch")
    prefix = target.outputs.get("AlarmNamePrefix") or target.name
    states = alarms(cloudwatch, prefix)
    rows = []
    for champion in champions:
        model = champion["model_name"]
        row: dict[str, Any] = {"model": model, "champion": _alias(champion), "challenger": _alias(challengers.get(model)),
                               "pin": registry.get_pin(table, model)}
        for kind, (metric, statistic) in METRICS.items():
            row[kind] = {"metric": metric, "latest": latest(cloudwatch, metric, statistic, model, hours),
                         "alarm": states.get(alarm_name(prefix, kind, model))}
        rows.append(row)
    return rows


def _live(entry: dict[str, Any], kind: str, digits: int = 3) -> str:
    """The latest value and the alarm's state: "0.885, alarm OK (fires below 0.7)"."""
    value, alarm = entry["latest"], entry["alarm"]
    shown = f"{value['value']:.{digits}f}" if value else "no data"
    if alarm is None:
        return f"{shown} (no alarm)"
    bound = "" if alarm.get("threshold") is None else f" ({'fires below' if kind == QUALITY else 'fires at'} {alarm['threshold']:g})"
    return f"{shown}, alarm {output.styled(alarm['state'])}{bound}"


def render(rows: list[dict[str, Any]], target: Target) -> None:
    out = output.console()
    if not rows:
        out.print(f"No model has a champion in {escape(target.where)} yet: `evergreen upload FILE --model M` trains one.")
        return
    table = Table("Model", "Champion", "Score", "Challenger", "Pinned", "Live quality", "Drift", title=f"Models in {escape(target.where)}")
    for r in rows:
        c = r["champion"]
        champion = f"v{c['version']} {escape(c.get('family') or '')}"
        score = f"{c.get('primary_metric') or ''} {output.score(c.get('test_score'))}".strip()
        ch = r["challenger"]
        challenger = ""
        if ch:
            rollout = ch.get("rollout") or {}
            share = f" {float(rollout['share']):.0%}" if rollout.get("mode") == "canary" and rollout.get("share") is not None else ""
            challenger = f"v{ch['version']} {escape(rollout.get('mode') or '')}{share}"
        pin = r["pin"]
        pinned = f"yes: {escape(output.shorten(pin.get('reason'), 40))}" if pin else ""
        table.add_row(escape(r["model"]), champion, score, challenger, pinned, _live(r[QUALITY], QUALITY), _live(r[DRIFT], DRIFT, 2))
    out.print(table)


def models(ctx: typer.Context,
           hours: Annotated[float, typer.Option(min=0.02, max=24 * 14, help="How far back to look for the monitor's latest metrics.")] = 24.0,
           json_: JsonFlag = False) -> None:
    """Each model: its champion, its challenger in rollout, its pin, live quality and drift with their alarms."""
    target = target_of(ctx)
    output.show(model_rows(target, hours), json_, lambda rows: render(rows, target))
