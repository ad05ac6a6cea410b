"""Run records (ExperimentsTable): named operations, so steps never build DynamoDB expressions.

Items (pk run_id, sk):
    sk="run"               one per execution: status RUNNING -> PROMOTED | REJECTED | FAILED | SKIPPED,
                           trigger, source, model_name, started_at, finished_at, reason, summary
                           (evergreen.steps.finish_run: its leaderboard, its cost)
    sk="trial#<trial id>"  one per trial: its candidate id, "-r<rung>" after the first rung (`trial_id`);
                           what it holds: evergreen.tracking. Only trials carry recorded_at, so the
                           TrialsByModel index (model_name, recorded_at) holds every trial of a model
                           and nothing else: a model's trials across runs are one Query
    sk="crash#<rung>#<candidate id>"
                           a trial whose Train invocation crashed (timeout, out of memory) before it could
                           write its record: the state machine's TrialCrashed state puts {error: the
                           Catch's {"Error", "Cause"} as JSON text}; NextRung makes it a failed trial
    pk="source#<bucket>/<key>#<version>#<etag>", sk="claim"
                           the run that first ingested an uploaded object version: a duplicate
                           delivery of the same S3 event finds it and trains nothing
    pk="lock#<model>", sk="lock"
                           the one run of a model in progress (holder, expires_at): a second trigger
                           waits (uploads) or is skipped (alarms); FinishRun releases it
    pk="retrain#<model>", sk="last"
                           when the model's last retrain on an alarm started: the cooldown
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from evergreen.storage import from_dynamo, now_iso, to_dynamo

TRIALS_BY_MODEL = "TrialsByModel"


def start(table: Any, run_id: str, trigger: str, model: str | None, source: dict[str, Any] | None) -> None:
    names = {"#status": "status", "#trigger": "trigger", "#source": "source"}
    values: dict[str, Any] = {":status": "RUNNING", ":now": now_iso(), ":trigger": trigger, ":source": source}
    expression = "SET #status = :status, started_at = if_not_exists(started_at, :now), #trigger = :trigger, #source = :source"
    if model:
        expression += ", model_name = :model"
        values[":model"] = model
    table.update_item(Key={"run_id": run_id, "sk": "run"}, UpdateExpression=expression,
                      ExpressionAttributeNames=names, ExpressionAttributeValues=to_dynamo(values))


def finish(table: Any, run_id: str, status: str, reason: str, model: str | None, summary: dict[str, Any]) -> None:
    names = {"#status": "status", "#summary": "summary"}
    values: dict[str, Any] = {":status": status, ":reason": reason, ":now": now_iso(), ":summary": summary}
    expression = ("SET #status = :status, reason = :reason, finished_at = :now, "
                  "started_at = if_not_exists(started_at, :now), #summary = :summary")
    if model:
        expression += ", model_name = :model"
        values[":model"] = model
    table.update_item(Key={"run_id": run_id, "sk": "run"}, UpdateExpression=expression,
                      ExpressionAttributeNames=names, ExpressionAttributeValues=to_dynamo(values))


def get_run(table: Any, run_id: str) -> dict[str, Any] | None:
    """A run's record (sk "run"), or None when the run has none yet."""
    item = table.get_item(Key={"run_id": run_id, "sk": "run"}, ConsistentRead=True).get("Item")
    return from_dynamo(item) if item else None


def model_runs(table: Any, model: str, limit: int) -> list[dict[str, Any]]:
    """The run records of a model, newest first, at most `limit`: the ByModel index (model_name,
    started_at), which holds the run records only (trials have no started_at)."""
    kwargs: dict[str, Any] = {"IndexName": "ByModel", "KeyConditionExpression": Key("model_name").eq(model),
                              "ScanIndexForward": False}
    runs: list[dict[str, Any]] = []
    while len(runs) < limit:
        page = table.query(**kwargs, Limit=limit - len(runs))
        runs += [from_dynamo(item) for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return runs


def record_trial(table: Any, item: dict[str, Any]) -> None:
    """One trial's item, keyed by its trial_id (its candidate id, and its rung after the first)."""
    trial = item.get("trial_id", item["candidate_id"])
    table.put_item(Item=to_dynamo({**item, "sk": f"trial#{trial}", "recorded_at": now_iso()}))


def trial_id(candidate_id: str, rung: int) -> str:
    """A trial's id in its run: its candidate's id, with the rung after the first (a configuration
    trains once per rung it reaches). evergreen.steps.train.trial_id names its records so."""
    return candidate_id if rung == 0 else f"{candidate_id}-r{rung}"


def rung_trials(table: Any, run_id: str, rung: int, fields: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The trial records of one rung of a run's search, {trial id: record with `fields` only}: one
    strongly consistent Query (a trial recorded just before its Map ended is seen), filtered by rung."""
    items = _items(table, KeyConditionExpression=Key("run_id").eq(run_id) & Key("sk").begins_with("trial#"),
                   FilterExpression=Attr("rung").eq(rung), ConsistentRead=True, **_projection(fields))
    return {item.pop("sk").removeprefix("trial#"): item for item in items}


def _projection(fields: Iterable[str]) -> dict[str, Any]:
    """A Query's arguments that read only `fields` of each item (and its sort key)."""
    names = {f"#f{i}": field for i, field in enumerate(dict.fromkeys(["sk", *fields]))}
    return {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}


def rung_crashes(table: Any, run_id: str, rung: int) -> dict[str, str]:
    """{candidate id: error} of the rung's trials whose Train invocation crashed (sk "crash#<rung>#<id>")."""
    prefix = f"crash#{rung}#"
    items = _items(table, KeyConditionExpression=Key("run_id").eq(run_id) & Key("sk").begins_with(prefix),
                   ConsistentRead=True)
    return {item["sk"].removeprefix(prefix): str(item.get("error") or "") for item in items}


def trial_gb_seconds(table: Any, run_id: str) -> float:
    """The compute the run's trials have used so far (their gb_seconds, summed): one Query."""
    kwargs: dict[str, Any] = {"KeyConditionExpression": Key("run_id").eq(run_id) & Key("sk").begins_with("trial#"),
                              "ProjectionExpression": "gb_seconds"}
    total = 0.0
    while True:
        page = table.query(**kwargs)
        total += sum(float(item.get("gb_seconds") or 0) for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def run_trials(table: Any, run_id: str, fields: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Every trial record of a run (the winner's refit too), in sk order: one Query; with `fields`,
    only those of each record (and its sk)."""
    return list(_items(table, KeyConditionExpression=Key("run_id").eq(run_id) & Key("sk").begins_with("trial#"),
                       **(_projection(fields) if fields is not None else {})))


def model_trial_records(table: Any, model: str) -> list[dict[str, Any]]:
    """Every trial record of a model, across its runs, oldest first: one Query on TrialsByModel."""
    return list(_items(table, IndexName=TRIALS_BY_MODEL, KeyConditionExpression=Key("model_name").eq(model)))


def record_onnx_size(table: Any, run_id: str, trial_id: str, onnx_bytes: int) -> None:
    """Put the exported model's size on the record of the trial whose artifact was exported."""
    table.update_item(Key={"run_id": run_id, "sk": f"trial#{trial_id}"}, UpdateExpression="SET onnx_bytes = :b",
                      ConditionExpression=Attr("sk").exists(), ExpressionAttributeValues={":b": onnx_bytes})


def _items(table: Any, **query: Any) -> Iterator[dict[str, Any]]:
    """The items of a Query, page after page, as plain Python values."""
    while True:
        page = table.query(**query)
        yield from (from_dynamo(item) for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            return
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def claim_source(table: Any, source_id: str, run_id: str) -> str | None:
    """Claim an uploaded object version for `run_id`. Returns None when this run holds the claim
    (first delivery, or a retry of the same run), else the run id that claimed it first."""
    key = {"run_id": f"source#{source_id}", "sk": "claim"}
    try:
        table.put_item(Item={**key, "claimed_by": run_id, "claimed_at": now_iso()},
                       ConditionExpression=Attr("run_id").not_exists() | Attr("claimed_by").eq(run_id))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        item = table.get_item(Key=key, ConsistentRead=True).get("Item") or {}
        return str(item.get("claimed_by", "another run"))
    return None


def acquire_lock(table: Any, model: str, run_id: str, now: datetime, ttl: timedelta) -> str | None:
    """Hold the model's run lock for `run_id`; None on success (or when it already holds it), else the
    holder. An expired lock (its run died without FinishRun) is taken over."""
    key = {"run_id": f"lock#{model}", "sk": "lock"}
    try:
        table.put_item(
            Item={**key, "holder": run_id, "acquired_at": now.isoformat(), "expires_at": (now + ttl).isoformat()},
            ConditionExpression=(Attr("run_id").not_exists() | Attr("holder").eq(run_id)
                                 | Attr("expires_at").lt(now.isoformat())))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        item = table.get_item(Key=key, ConsistentRead=True).get("Item") or {}
        return str(item.get("holder", "another run"))
    return None


def release_lock(table: Any, model: str, run_id: str) -> bool:
    """Release the model's run lock if `run_id` holds it; False when it does not (nothing to do)."""
    try:
        table.delete_item(Key={"run_id": f"lock#{model}", "sk": "lock"}, ConditionExpression=Attr("holder").eq(run_id))
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def last_retrain(table: Any, model: str) -> datetime | None:
    item = table.get_item(Key={"run_id": f"retrain#{model}", "sk": "last"}, ConsistentRead=True).get("Item")
    return datetime.fromisoformat(item["started_at"]) if item else None


def mark_retrain(table: Any, model: str, run_id: str, now: datetime) -> None:
    table.put_item(Item={"run_id": f"retrain#{model}", "sk": "last", "started_at": now.isoformat(), "by": run_id})


def latest_accepted_upload(table: Any, model: str) -> dict[str, Any] | None:
    """The source of the model's newest upload run whose data was accepted (promoted or rejected on
    merit), from the ByModel index, newest first."""
    kwargs: dict[str, Any] = {"IndexName": "ByModel", "KeyConditionExpression": Key("model_name").eq(model),
                              "FilterExpression": Attr("trigger").eq("upload") & Attr("status").is_in(["PROMOTED", "REJECTED"]),
                              "ScanIndexForward": False}
    while True:
        page = table.query(**kwargs)
        for item in page["Items"]:
            if item.get("source"):
                return from_dynamo(item["source"])
        if "LastEvaluatedKey" not in page:
            return None
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
