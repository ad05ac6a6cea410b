"""Ingest: turn the trigger into a versioned, validated, split and profiled dataset, and plan the trials.

Triggers:
  - S3 "Object Created" under uploads/<model>/ (via EventBridge): the uploaded CSV is the data.
  - CloudWatch "Alarm State Change" to ALARM on the model's quality metric: the data is the recent
    predictions that received ground-truth feedback (features as served + the true label).
The raw upload is never modified; the run record is written first so even a bad upload is tracked.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from evergreen import data
from evergreen.contracts import DatasetRef, IngestInput, RunContext, SourceObject
from evergreen.registry import now_iso
from evergreen.spec import ModelSpec, SpecError, expand_candidates, parse_spec
from evergreen.storage import Stores, dataset_prefix, model_from_upload_key, spec_keys, to_dynamo

FEEDBACK_ROWS_MAX = 50_000


class TriggerError(ValueError):
    """The event that started the run is not one Evergreen acts on."""


def parse_trigger(event: dict[str, Any]) -> tuple[str, str, SourceObject | None]:
    """-> (trigger, model_name, source object for uploads)."""
    detail_type = event.get("detail-type")
    detail = event.get("detail") or {}
    if detail_type == "Object Created":
        bucket = (detail.get("bucket") or {}).get("name")
        obj = detail.get("object") or {}
        key = obj.get("key")
        if not bucket or not key:
            raise TriggerError("S3 event without detail.bucket.name / detail.object.key")
        model = model_from_upload_key(key)
        if model is None:
            raise TriggerError(f"upload key {key!r} is not under uploads/<model>/<file>")
        return "upload", model, SourceObject(bucket=bucket, key=key, version_id=obj.get("version-id"))
    if detail_type == "CloudWatch Alarm State Change":
        state = (detail.get("state") or {}).get("value")
        if state != "ALARM":
            raise TriggerError(f"alarm {detail.get('alarmName')!r} is {state}, not ALARM")
        for metric in (detail.get("configuration") or {}).get("metrics") or []:
            dims = ((metric.get("metricStat") or {}).get("metric") or {}).get("dimensions") or {}
            if dims.get("Model"):
                return "alarm", dims["Model"], None
        raise TriggerError(f"alarm {detail.get('alarmName')!r} has no Model dimension to retrain")
    if "model_name" in event:  # manual start: {"model_name": ..., "source": {"bucket", "key"}}
        source = SourceObject.model_validate(event["source"]) if event.get("source") else None
        return "manual", event["model_name"], source
    raise TriggerError(f"unsupported trigger: detail-type {detail_type!r}")


def load_spec(stores: Stores, model: str) -> ModelSpec:
    for key in spec_keys(model):
        try:
            text = stores.get_bytes(stores.data_bucket, key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404", "AccessDenied"):
                continue
            raise
        spec = parse_spec(text, source=f"s3://{stores.data_bucket}/{key}")
        if spec.name != model:
            raise SpecError(f"s3://{stores.data_bucket}/{key}: name {spec.name!r} does not match the model folder {model!r}")
        return spec
    raise SpecError(f"no spec for model {model!r}: put one at s3://{stores.data_bucket}/{spec_keys(model)[0]}")


def read_upload(stores: Stores, source: SourceObject) -> bytes:
    try:
        return stores.get_bytes(source.bucket, source.key, source.version_id)
    except ClientError as exc:
        decoded = unquote_plus(source.key)
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404") and decoded != source.key:
            return stores.get_bytes(source.bucket, decoded, source.version_id)  # keys in S3 events may be URL-encoded
        raise


def feedback_rows(stores: Stores, spec: ModelSpec) -> tuple[list[str], list[list[str]]]:
    """Predictions with ground truth, newest first, as CSV-like rows (features as served + target)."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "IndexName": "ByModel",
        "KeyConditionExpression": Key("model_name").eq(spec.name),
        "FilterExpression": Attr("label").exists(),
        "ScanIndexForward": False,
    }
    while len(items) < FEEDBACK_ROWS_MAX:
        page = stores.predictions.query(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    if not items:
        raise data.DataError(f"no predictions with feedback for model {spec.name!r} to retrain on")
    features = sorted({name for item in items for name in (item.get("features") or {})} - {spec.target})
    header = [*features, spec.target]
    rows = [[_cell((item.get("features") or {}).get(f)) for f in features] + [_cell(item["label"])] for item in items]
    return header, sorted(rows)  # same feedback -> same dataset (and version), whatever order the index returned


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def record_start(stores: Stores, run_id: str, trigger: str, model: str | None, source: SourceObject | None) -> None:
    values: dict[str, Any] = {":status": "RUNNING", ":now": now_iso(), ":trigger": trigger,
                              ":source": source.model_dump() if source else None}
    expr = "SET #status = :status, started_at = if_not_exists(started_at, :now), #trigger = :trigger, #source = :source"
    if model:
        expr += ", model_name = :model"
        values[":model"] = model
    stores.experiments.update_item(
        Key={"run_id": run_id, "sk": "run"},
        UpdateExpression=expr,
        ExpressionAttributeNames={"#status": "status", "#trigger": "trigger", "#source": "source"},
        ExpressionAttributeValues=to_dynamo(values),
    )


def run(inp: IngestInput, stores: Stores) -> RunContext:
    trigger, model, source = parse_trigger(inp.event)
    record_start(stores, inp.run_id, trigger, model, source)
    spec = load_spec(stores, model)

    if source is not None:
        raw = read_upload(stores, source)
        header, rows = data.read_csv(raw, source=f"s3://{source.bucket}/{source.key}")
    else:
        header, rows = feedback_rows(stores, spec)
    schema = data.infer_schema(header, rows, spec)
    frame, report = data.build_frame(header, rows, schema)
    if frame.n_rows < spec.min_rows:
        raise data.DataError(f"only {frame.n_rows} usable rows; the spec requires at least {spec.min_rows}")
    train, validation, test = data.split_frame(
        frame, spec.split.validation, spec.split.test, spec.split.seed, classification=spec.problem_type == "classification"
    )

    version = data.dataset_version(frame, schema)
    prefix = dataset_prefix(model, version)
    keys = {name: f"{prefix}{name}.csv" for name in ("train", "validation", "test")}
    for name, part in (("train", train), ("validation", validation), ("test", test)):
        stores.put_bytes(stores.artifacts_bucket, keys[name], data.frame_to_csv(part, schema), "text/csv")
    profile_key = f"{prefix}profile.json"
    stores.put_json(stores.artifacts_bucket, profile_key, {
        "dataset_version": version, "source": source.model_dump() if source else {"feedback": True},
        "report": report, "columns": schema.model_dump(), "profile": data.profile(train, schema),
    })

    rows = {"train": train.n_rows, "validation": validation.n_rows, "test": test.n_rows,
            "raw": int(report.get("raw", frame.n_rows)), "dropped": int(report.get("raw", frame.n_rows)) - frame.n_rows}
    return RunContext(
        run_id=inp.run_id,
        model_name=model,
        trigger=trigger,
        source=source,
        spec=spec,
        dataset=DatasetRef(version=version, bucket=stores.artifacts_bucket, train_key=keys["train"],
                           validation_key=keys["validation"], test_key=keys["test"], profile_key=profile_key,
                           rows=rows, columns=schema),
        candidates=expand_candidates(spec),
    )
