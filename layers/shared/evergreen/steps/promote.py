"""Promote: copy the exported model under models/, record the data contract when this run sets a new
one, write the model card (card.json, and card.html, the page evergreen.card_html renders from it),
put the model's alarms from its spec and its widgets on the stack's dashboard, and register the version, in one audited transaction, only if
the champion is still the one this run was judged against and the model is not pinned: as champion
when spec.promotion.rollout is "direct" (or the model has no champion yet), else as the challenger in
shadow or canary beside the champion, which the monitor later promotes or rolls back on live labels
(evergreen.steps.rollouts). A run that loses that race removes what it copied and registers nothing.

A binary classifier's decision threshold (the exported trial's, evergreen.thresholds) goes into the
version, the champion alias and the model card: serving and batch scoring read it from the registry.
None for multiclass and regression."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import boto3
from botocore.exceptions import ClientError

from evergreen import aliases, card_html, registry
from evergreen.contracts import PromoteInput, PromoteResult
from evergreen.data_contract import DataContract, response_shape
from evergreen.monitoring import alarms, dashboard
from evergreen.spec import ModelSpec
from evergreen.storage import Stores, card_html_key, card_key, contract_key, model_key, now_iso

log = logging.getLogger(__name__)


def model_card(inp: PromoteInput, version: int, profile: dict) -> dict:
    """The version's model card: what it is, how it scored and why it was promoted, its plots' numbers
    (Evaluate's figures and calibration), the training data's profile (`profile`, the dataset's
    profile.json), its contract and its lineage."""
    ev, ex, run = inp.evaluation, inp.export, inp.run
    return {
        "model_name": run.model_name, "version": version, "run_id": run.run_id, "trigger": run.trigger,
        "source": run.source.model_dump() if run.source else None,
        "dataset": {"version": run.dataset.version, "rows": run.dataset.rows, "profile_key": run.dataset.profile_key},
        "columns": run.dataset.columns.model_dump(),
        "candidate": ex.candidate.model_dump() if ex.candidate else None,
        "metric": ev.metric, "higher_is_better": ev.higher_is_better,
        "threshold": ex.candidate.threshold if ex.candidate else None,  # the decision threshold served (binary)
        "scores": {"validation": ex.candidate.validation_score if ex.candidate else None,
                   "test_onnx": ev.challenger_test_score, "baseline": ev.baseline_test_score,
                   "champion_before": ev.champion.model_dump() if ev.champion else None},
        "decision": ev.decision.model_dump(),  # with the improvement's interval and any gate's reasons
        "margin": ev.margin,
        "slices": [sl.model_dump() for sl in ev.slices], "fairness": [f.model_dump() for f in ev.fairness],
        "parity": ex.parity.model_dump() if ex.parity else None,
        "skipped": ex.skipped, "ranking": [t.model_dump() for t in ex.ranking], "spec": run.spec.model_dump(mode="json"),
        "contract": {**run.contract.model_dump(), "key": contract_key(run.model_name, run.contract.version)},
        "serving": {"onnx_key": ex.onnx_key, "sha256": ex.sha256, "size_bytes": ex.size_bytes, "p50_ms": ex.p50_ms},
        "calibration": ev.calibration, "figures": ev.figures,
        "profile": {"key": run.dataset.profile_key, "report": profile.get("report"), **(profile.get("profile") or {})},
        "lineage": {"run_id": run.run_id, "trigger": run.trigger, "dataset_version": run.dataset.version,
                    "parent_version": ev.champion.version if ev.champion else None,  # the champion it replaces
                    "contract_version": run.contract.version, "versions": ex.versions, "written_at": now_iso()},
    }


def data_contract(stores: Stores, inp: PromoteInput, version: int) -> DataContract:
    """The contract this run's data follows, as recorded with the first champion that follows it."""
    run = inp.run
    profile = stores.get_json(run.dataset.bucket, run.dataset.profile_key)
    stats, columns = profile.get("profile") or {}, run.dataset.columns

    def span(summary: dict | None) -> list[float] | None:  # [min, max] of a numeric summary, None without values
        lo, hi = (summary or {}).get("min"), (summary or {}).get("max")
        return None if lo is None or hi is None else [float(lo), float(hi)]

    numeric = stats.get("numeric") or {}
    ranges = {name: r for name in columns.numeric if (r := span(numeric.get(name))) is not None}
    return DataContract(
        version=run.contract.version, columns=columns, vocabulary=profile.get("vocabulary", {}),
        open_vocabulary=profile.get("open_vocabulary", []), response=response_shape(columns),
        ranges=ranges, target_range=span(stats.get("target")) if columns.problem_type == "regression" else None,
        changes=run.contract.changes,
        recorded={"run_id": run.run_id, "model_version": version, "dataset_version": run.dataset.version,
                  "recorded_at": now_iso()},
    )


def regression_tolerance(inp: PromoteInput) -> float | None:
    """Feedback counts as "good" within this absolute error: the spec's value, else twice the test error."""
    spec = inp.run.spec
    if spec.problem_type != "regression":
        return None
    if spec.monitoring.regression_tolerance is not None:
        return spec.monitoring.regression_tolerance
    if inp.evaluation.metric in ("mae", "rmse") and inp.evaluation.challenger_test_score:
        return 2 * inp.evaluation.challenger_test_score
    return None


def put_alarms(model: str, spec: ModelSpec, cloudwatch: Any = None) -> dict[str, str]:
    """The model's alarms from its spec (monitoring.alarms), under the stack's ALARM_PREFIX. Only a new
    or changed alarm is put (moto, unlike CloudWatch, resets an updated alarm's state to OK).
    Returns {QUALITY | DRIFT: the alarm's ARN}."""
    env = os.environ
    requests = alarms.model_alarms(prefix=env["ALARM_PREFIX"], model=model, monitoring=spec.monitoring,
                                   namespace=env["METRICS_NAMESPACE"], period_seconds=int(env["MONITOR_PERIOD_SECONDS"]),
                                   topic_arn=env.get("NOTIFICATION_TOPIC") or None)
    client = cloudwatch or boto3.client("cloudwatch")
    current = {a["AlarmName"]: a for a in client.describe_alarms(
        AlarmNames=[r["AlarmName"] for r in requests], AlarmTypes=["MetricAlarm"])["MetricAlarms"]}
    changed = [r for r in requests if any(current.get(r["AlarmName"], {}).get(k) != v for k, v in r.items())]
    for request in changed:  # only what is new or changed: an update must not disturb an alarm's state
        client.put_metric_alarm(**request)
    if changed:
        current = {a["AlarmName"]: a for a in client.describe_alarms(
            AlarmNames=[r["AlarmName"] for r in requests], AlarmTypes=["MetricAlarm"])["MetricAlarms"]}
    return {kind: current[alarms.alarm_name(env["ALARM_PREFIX"], kind, model)]["AlarmArn"]
            for kind in (alarms.QUALITY, alarms.DRIFT)}


def put_dashboard_widgets(model: str, alarm_arns: dict[str, str], cloudwatch: Any = None) -> int:
    """Add the model's widgets (monitoring.dashboard) to the stack's dashboard (DASHBOARD_NAME) where they
    are missing; returns how many were added (0 on every promotion after the first). The dashboard is
    for people: a refusal (a body past CloudWatch's limits, throttling) is logged and the promotion goes
    on. A dashboard that does not exist (deleted by hand) is made anew with the model's widgets."""
    env = os.environ
    client = cloudwatch or boto3.client("cloudwatch")
    name = env["DASHBOARD_NAME"]
    widgets = dashboard.model_widgets(model=model, namespace=env["METRICS_NAMESPACE"], region=client.meta.region_name,
                                      period_seconds=int(env["MONITOR_PERIOD_SECONDS"]), alarm_arns=alarm_arns)
    try:
        try:
            body = json.loads(client.get_dashboard(DashboardName=name)["DashboardBody"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFound":
                raise
            body = {"widgets": []}
        missing = dashboard.missing_widgets(body, widgets)
        if missing:
            client.put_dashboard(DashboardName=name, DashboardBody=json.dumps(dashboard.place(body, missing)))
    except ClientError as exc:
        log.warning("the dashboard %s was left as it was: %s", name, exc)
        return 0
    return len(missing)


def run(inp: PromoteInput, stores: Stores) -> PromoteResult:
    if not (inp.export.passed and inp.evaluation.decision.promote and inp.export.candidate and inp.export.sha256):
        raise ValueError("promote called for a candidate that was not cleared for promotion")
    name, bucket = inp.run.model_name, stores.artifacts_bucket
    version = registry.next_version(stores.registry, name)
    key, card, contract = model_key(name, version), card_key(name, version), contract_key(name, inp.run.contract.version)
    page = card_html_key(name, version)
    stores.s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": inp.export.onnx_key})
    if inp.run.contract.is_new:
        # never removed, even if this run loses the race: a concurrent run of the same version may rely on it
        stores.put_json(bucket, contract, data_contract(stores, inp, version).model_dump(mode="json"))
    written = model_card(inp, version, stores.get_json(inp.run.dataset.bucket, inp.run.dataset.profile_key))
    stores.put_json(bucket, card, written)
    stores.put_bytes(bucket, page, card_html.render(written).encode(), "text/html; charset=utf-8")

    spec = inp.run.spec
    record = {
        "model_key": key, "sha256": inp.export.sha256, "size_bytes": inp.export.size_bytes,
        "card_key": card, "card_html_key": page, "columns": inp.run.dataset.columns.model_dump(),
        "contract_version": inp.run.contract.version, "contract_key": contract,
        "primary_metric": inp.evaluation.metric, "test_score": inp.evaluation.challenger_test_score,
        "run_id": inp.run.run_id, "dataset_version": inp.run.dataset.version, "test_key": inp.run.dataset.test_key,
        "family": inp.export.candidate.family, "params": inp.export.candidate.params,
        "threshold": inp.export.candidate.threshold,
        "regression_tolerance": regression_tolerance(inp),
        "quality_threshold": spec.monitoring.quality_threshold,
        "prediction_profile": inp.evaluation.prediction_profile,
        "monitoring": spec.monitoring.model_dump(),
        "decision": inp.evaluation.decision.model_dump(),
    }
    arns = put_alarms(name, spec)  # before the champion moves: a model never serves without its alarms
    put_dashboard_widgets(name, arns)
    previous = inp.evaluation.champion.version if inp.evaluation.champion else None
    promotion = spec.promotion
    alias = registry.CHAMPION if previous is None or promotion.rollout == "direct" else registry.CHALLENGER
    try:
        if alias == registry.CHAMPION:
            registry.register_champion(stores.registry, name, version, record, expected_version=previous,
                                       reason=f"run {inp.run.run_id}: {inp.evaluation.decision.reason}")
        else:
            aliases.enter_rollout(stores.registry, name, version, record, champion_version=previous,
                                  mode=promotion.rollout, share=promotion.canary_share,
                                  min_labels=spec.monitoring.min_labels, tolerance=promotion.rollout_tolerance)
    except registry.AliasesChanged:
        for leftover in (key, card, page):  # the race was lost: leave no artifact of a version that was never registered
            stores.s3.delete_object(Bucket=bucket, Key=leftover)
        raise
    return PromoteResult(model_name=name, version=version, promoted=True, alias=alias, previous_champion=previous,
                         model_key=key, sha256=inp.export.sha256)
