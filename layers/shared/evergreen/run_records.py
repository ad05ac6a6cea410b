"""Run records (ExperimentsTable): named operations, so steps never build DynamoDB expressions.

Items (pk run_id, sk):
    sk="run"               one per execution: status RUNNING -> PROMOTED | REJECTED | FAILED | SKIPPED,
                           trigger, source, model_name, started_at, finished_at, reason, summary
    sk="trial#<cand. id>"  one per trained candidate (see evergreen.steps.train)
    pk="source#<bucket>/<key>#<version>#<etag>", sk="claim"
                           the run that first ingested an uploaded object version: a duplicate
                           delivery of the same S3 event finds it and trains nothing
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from evergreen.storage import now_iso, to_dynamo


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


def record_trial(table: Any, item: dict[str, Any]) -> None:
    table.put_item(Item=to_dynamo({**item, "sk": f"trial#{item['candidate_id']}", "recorded_at": now_iso()}))


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
