"""The prediction log (PredictionsTable): named operations, so callers never build DynamoDB expressions.

One item per prediction, keyed by prediction_id, expiring after PREDICTION_TTL:
    {prediction_id, model_name, model_version, problem_type, created_at, expires_at,
     features: {the record's fields as received}, prediction, probabilities?: {class: p},
     regression_tolerance?, label?, feedback_at?}
`label` is the ground truth, at most one per prediction: a later label replaces the earlier one.
It is stored canonical (a class name for classifiers, a number for regressors), so statistics read
from the log count every prediction once, whatever was sent or resent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from evergreen.storage import from_dynamo, to_dynamo

PREDICTION_TTL = timedelta(days=90)
BY_MODEL_INDEX = "ByModel"


def write(table: Any, items: list[dict[str, Any]]) -> None:
    """Store the items with boto3's batch_writer: BatchWriteItem, 25 items per call, unprocessed items
    sent again until every one is written."""
    with table.batch_writer() as batch:
        for item in items:
            batch.put_item(Item=to_dynamo(item))


def get(table: Any, prediction_id: str) -> dict[str, Any] | None:
    item = table.get_item(Key={"prediction_id": prediction_id}, ConsistentRead=True).get("Item")
    return from_dynamo(item) if item else None


def set_label(table: Any, prediction_id: str, label: Any, feedback_at: str) -> bool:
    """Store (or replace) the label of a prediction; False when the prediction does not exist (or expired)."""
    try:
        table.update_item(
            Key={"prediction_id": prediction_id},
            UpdateExpression="SET #label = :label, #at = :at",
            ConditionExpression=Attr("prediction_id").exists(),
            ExpressionAttributeNames={"#label": "label", "#at": "feedback_at"},
            ExpressionAttributeValues=to_dynamo({":label": label, ":at": feedback_at}),
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def labelled(table: Any, model_name: str, *, since: str | None = None, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Predictions of `model_name` that carry a label, newest first (a Query on the ByModel index,
    never a Scan); only those created at or after the ISO time `since`; at most `limit`."""
    condition = Key("model_name").eq(model_name)
    if since is not None:
        condition = condition & Key("created_at").gte(since)
    kwargs: dict[str, Any] = {"IndexName": BY_MODEL_INDEX, "KeyConditionExpression": condition,
                              "FilterExpression": Attr("label").exists(), "ScanIndexForward": False}
    count = 0
    while True:
        page = table.query(**kwargs)
        for item in page["Items"]:
            yield from_dynamo(item)
            count += 1
            if limit is not None and count >= limit:
                return
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def window(table: Any, model_name: str, *, since: str) -> Iterator[dict[str, Any]]:
    """Every prediction of `model_name` created at or after the ISO time `since`, labelled or not,
    newest first (a Query on the ByModel index, never a Scan): what the monitor judges."""
    kwargs: dict[str, Any] = {"IndexName": BY_MODEL_INDEX, "ScanIndexForward": False,
                              "KeyConditionExpression": Key("model_name").eq(model_name) & Key("created_at").gte(since)}
    while True:
        page = table.query(**kwargs)
        for item in page["Items"]:
            yield from_dynamo(item)
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
