"""Record why a batch failed: error.json beside where its outputs would be, its working files removed,
an alert, and the clean reason the execution ends with (no stack trace; those stay in the logs).

It receives the whole execution state: the trigger event, the plan when Plan got that far, and the
"error" slot. Earlier outputs of the same name (an older upload's predictions.csv and summary.json)
are left as they are; their summary.json names the version they scored.
"""

from __future__ import annotations

import os
from typing import Any

import boto3

from evergreen import storage
from evergreen.batch_contracts import BatchFailureInput, BatchFailureResult
from evergreen.steps import batch_files
from evergreen.steps.finish_run import error_reason
from evergreen.storage import Stores, now_iso


def upload_key(state: dict[str, Any]) -> str | None:
    """The upload's key: as Plan resolved it, else as the event names it."""
    plan = state.get("plan") or {}
    if (plan.get("source") or {}).get("key"):
        return plan["source"]["key"]
    return ((state.get("detail") or {}).get("object") or {}).get("key")


def run(inp: BatchFailureInput, stores: Stores, sns: Any = None) -> BatchFailureResult:
    state = inp.state
    reason = error_reason(state.get("error"))
    key = upload_key(state)
    where = storage.model_and_name(key) if key else None
    error_key = None
    if where is not None:
        model, name = where
        error_key = f"{storage.output_prefix(model, name)}error.json"
        source = (state.get("plan") or {}).get("source") or {"bucket": stores.data_bucket, "key": key}
        stores.put_json(stores.data_bucket, error_key, {
            "batch_id": inp.batch_id, "source": source, "error": (state.get("error") or {}).get("Error"),
            "reason": reason, "failed_at": now_iso()})
        batch_files.delete_prefix(stores.s3, stores.artifacts_bucket, storage.work_prefix(model, inp.batch_id))
    model_name = where[0] if where else None
    topic = os.environ.get("NOTIFICATION_TOPIC")
    if topic:
        (sns or boto3.client("sns")).publish(
            TopicArn=topic, Subject=f"Evergreen batch scoring failed: {model_name or 'unknown model'}"[:100],
            Message=f"Batch {inp.batch_id} of s3://{stores.data_bucket}/{key} failed"
                    f"{f' (s3://{stores.data_bucket}/{error_key})' if error_key else ''}.\n{reason}")
    return BatchFailureResult(batch_id=inp.batch_id, model_name=model_name, reason=reason, error_key=error_key)
