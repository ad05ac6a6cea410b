"""FinishRun: record a run's outcome, why, and its leaderboard; publish it as a metric, notify on failure.

Outcomes: promoted, rejected (the champion stays), failed (the champion stays; an alert goes out)
and skipped (the trigger was a repeated event or an object that is not data: no alert).

It receives the whole execution state, whatever slots exist so far (a run can fail before ingest
produced a context), so it reads them defensively; the reason recorded is the one a person needs.

The leaderboard is built from the run's trial records, not from the state: the state holds only the
search's finalists, the records every trial of every rung (evergreen.tracking.leaderboard). The exported
model's ONNX size goes on its leaderboard row and on the record of the trial whose artifact it is.

The run's cost (summary.cost: evergreen.cost) comes from the execution's history, which the state
machine names ($$.Execution.Id), and, for the Distributed Map's children, from their map runs and the
trial records. Reading them never costs the run its record: an AWS error is recorded in its place.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from evergreen import cost, run_records, tracking
from evergreen.contracts import FinishInput, FinishResult
from evergreen.errors import clean_cause
from evergreen.monitoring import alarms
from evergreen.storage import Stores, model_from_upload_key


def error_reason(error: dict[str, Any] | None) -> str:
    """Step Functions error slot {"Error", "Cause"} -> "<Error>: <message>", without stack traces."""
    if not error:
        return "unknown error"
    name, message = error.get("Error", "Error"), clean_cause(error.get("Cause"))
    return f"{name}: {message}" if message else name


def model_name_of(state: dict[str, Any]) -> str | None:
    run = state.get("run") or {}
    if run.get("model_name"):
        return run["model_name"]
    detail = state.get("detail") or {}
    key = (detail.get("object") or {}).get("key")
    if key:
        return model_from_upload_key(key)
    return alarms.model_of(detail) or state.get("model_name")  # an alarm's retrain, or a manual start


def outcome_reason(inp: FinishInput) -> str:
    state = inp.state
    if inp.outcome in ("failed", "skipped"):
        return error_reason(state.get("error"))
    evaluation, promotion = state.get("evaluation") or {}, state.get("promotion") or {}
    decision = (evaluation.get("decision") or {}).get("reason", "")
    if inp.outcome == "promoted" and promotion.get("alias") == "challenger":
        rollout = ((state.get("run") or {}).get("spec") or {}).get("promotion", {}).get("rollout")
        return (f"v{promotion.get('version')} promoted to {rollout} beside champion v{promotion.get('previous_champion')} "
                f"(the monitor ends the rollout on live labels): {decision}")
    if inp.outcome == "promoted":
        return f"v{promotion.get('version')} promoted: {decision}"
    return f"not promoted: {decision}"


def summary(state: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """What the run record keeps of the state; `records`: the run's trial records, for its leaderboard."""
    run, evaluation, export = state.get("run") or {}, state.get("evaluation") or {}, state.get("export") or {}
    trials = state.get("trials") or []
    return {
        "dataset_version": (run.get("dataset") or {}).get("version"),
        "rows": (run.get("dataset") or {}).get("rows"),
        "quarantine_key": (run.get("dataset") or {}).get("quarantine_key"),
        "contract": run.get("contract"),
        "trials": {"total": len(trials), "failed": sum(1 for t in trials if t.get("status") != "ok")},
        "metric": evaluation.get("metric"),
        # the best trial, and the challenger judged: the first of the ranking whose ONNX export passed parity
        "best_trial": ((export.get("ranking") or [{}])[0]).get("candidate_id"),
        "challenger": (export.get("candidate") or {}).get("candidate_id"),
        "challenger_test_score": evaluation.get("challenger_test_score"),
        "champion_before": evaluation.get("champion"),
        "baseline_test_score": evaluation.get("baseline_test_score"),
        "decision": evaluation.get("decision"),
        "slices": evaluation.get("slices") or [],
        "fairness": evaluation.get("fairness") or [],
        "export": {k: export.get(k) for k in ("passed", "reason", "size_bytes", "skipped")},
        "promotion": state.get("promotion"),
        "leaderboard": tracking.leaderboard(records + unrecorded_trials(trials, records), export.get("candidate"),
                                            export.get("size_bytes")),
    }


def unrecorded_trials(trials: list[dict[str, Any]], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The state's trials that have no record: their Train invocation died before it could write one (a
    timeout, out of memory) and the Map's Catch returned them failed. Only the last rung's are in the state."""
    recorded = {(r["candidate_id"], r.get("rung", 0)) for r in records}
    return [t for t in trials if (t.get("candidate_id"), t.get("rung", 0)) not in recorded]


def record_onnx_size(stores: Stores, run_id: str, state: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """The exported model's size, on the record of the trial (or refit) whose model was converted: the
    one with its artifact, else (a cross-validated trial keeps none) the trial itself."""
    export = state.get("export") or {}
    candidate, size = export.get("candidate") or {}, export.get("size_bytes")
    if not candidate or size is None:
        return
    artifact = candidate.get("artifact_key")
    matches = [r for r in records if artifact is not None and r.get("artifact_key") == artifact] or [
        r for r in records if r["candidate_id"] == candidate.get("candidate_id")
        and r.get("rung", 0) == candidate.get("rung", 0)]
    for record in matches:
        run_records.record_onnx_size(stores.experiments, run_id, tracking.trial_id_of(record), size)


# the TrainRung Distributed Map's child state (pipeline.asl.json): its invocations are the trials, which
# record their own GB-seconds (tracking.gb_seconds), for their histories are the children's
TRIALS_STEP = "Train"


def run_cost(execution_arn: str, records: list[dict[str, Any]], sfn: Any, lambda_client: Any,
             known_memory: Mapping[str, int]) -> dict[str, Any]:
    """The run's cost (evergreen.cost), or {"error": ...} when AWS will not tell. `records`: the run's
    trial records (their GB-seconds); `known_memory`: MemorySize by function ARN where known (FinishRun's
    own, from its context: its role may not read its own configuration); the others are read with
    lambda get_function_configuration."""
    memory = dict(known_memory)

    def memory_mb(function_arn: str) -> int:
        if function_arn not in memory:
            memory[function_arn] = int(lambda_client.get_function_configuration(FunctionName=function_arn)["MemorySize"])
        return memory[function_arn]

    try:
        events = [event for page in sfn.get_paginator("get_execution_history").paginate(
            executionArn=execution_arn, includeExecutionData=False) for event in page["events"]]
        invocations = cost.lambda_invocations(events, datetime.now(UTC))
        children = sum(sfn.describe_map_run(mapRunArn=arn)["executionCounts"]["total"] for arn in cost.map_runs(events))
        trials = [r for r in records if not r["candidate_id"].endswith(tracking.REFIT_SUFFIX)]
        train = cost.StepUsage(invocations=children, transitions=children,
                               gb_seconds=sum(float(r.get("gb_seconds") or 0.0) for r in trials))
        return cost.run_cost(invocations, cost.state_transitions(events, invocations), memory_mb,
                             {TRIALS_STEP: train} if children else None)
    except (ClientError, BotoCoreError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def run(inp: FinishInput, stores: Stores, cloudwatch: Any = None, sns: Any = None, sfn: Any = None,
        lambda_client: Any = None, known_memory: Mapping[str, int] | None = None) -> FinishResult:
    """`known_memory`: MemorySize by function ARN already known (run_cost)."""
    model = model_name_of(inp.state)
    reason = outcome_reason(inp)
    # what the leaderboard, the ONNX size and the cost need: not each trial's input and traceback
    records = run_records.run_trials(stores.experiments, inp.run_id, [*tracking.TRIAL_FIELDS, "artifact_key"])
    record_onnx_size(stores, inp.run_id, inp.state, records)
    spent = None  # a caller that is not the state machine names no execution
    if inp.execution_arn:
        spent = run_cost(inp.execution_arn, records, sfn or boto3.client("stepfunctions"),
                         lambda_client or boto3.client("lambda"), known_memory or {})
    run_records.finish(stores.experiments, inp.run_id, inp.outcome.upper(), reason, model,
                       {**summary(inp.state, records), "cost": spent})
    if model:
        run_records.release_lock(stores.experiments, model, inp.run_id)  # a no-op unless this run held it
    namespace = os.environ.get("METRICS_NAMESPACE", "Evergreen")
    (cloudwatch or boto3.client("cloudwatch")).put_metric_data(Namespace=namespace, MetricData=[{
        "MetricName": "RunOutcome", "Value": 1.0, "Unit": "Count",
        "Dimensions": [{"Name": "Model", "Value": model or "unknown"}, {"Name": "Outcome", "Value": inp.outcome}],
    }])
    topic = os.environ.get("NOTIFICATION_TOPIC")
    if inp.outcome == "failed" and topic:
        (sns or boto3.client("sns")).publish(TopicArn=topic, Subject=f"Evergreen run failed: {model or 'unknown model'}"[:100],
                                             Message=f"Run {inp.run_id} failed; the champion keeps serving.\n{reason}")
    return FinishResult(run_id=inp.run_id, outcome=inp.outcome, model_name=model, reason=reason)
