"""The model registry: versions and aliases in one DynamoDB table (pk model_name, sk).

Items:
    sk="counter"            next_version (atomic ADD)
    sk="version#000001"     the registered version: artifact key, sha256, metrics, run, data, schema
    sk="alias#champion"     {"version", "model_key", "sha256", "columns", ...}: what inference serves

A version is immutable once written. Moving an alias is a conditional write on the alias's
current version, so two runs finishing together cannot both think they replaced the same
champion. Rollback later is just moving the alias back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from evergreen.storage import from_dynamo, to_dynamo

CHAMPION = "champion"


class ChampionChanged(RuntimeError):
    """The champion moved since this run evaluated against it; the run must not overwrite it."""


def version_sk(version: int) -> str:
    return f"version#{version:06d}"


def alias_sk(alias: str) -> str:
    return f"alias#{alias}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def get_alias(table: Any, model_name: str, alias: str = CHAMPION) -> dict[str, Any] | None:
    item = table.get_item(Key={"model_name": model_name, "sk": alias_sk(alias)}, ConsistentRead=True).get("Item")
    return from_dynamo(item) if item else None


def get_version(table: Any, model_name: str, version: int) -> dict[str, Any] | None:
    item = table.get_item(Key={"model_name": model_name, "sk": version_sk(version)}, ConsistentRead=True).get("Item")
    return from_dynamo(item) if item else None


def list_versions(table: Any, model_name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"KeyConditionExpression": Key("model_name").eq(model_name) & Key("sk").begins_with("version#")}
    while True:
        page = table.query(**kwargs)
        items += [from_dynamo(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def next_version(table: Any, model_name: str) -> int:
    out = table.update_item(
        Key={"model_name": model_name, "sk": "counter"},
        UpdateExpression="ADD next_version :one",
        ExpressionAttributeValues={":one": 1},
        ReturnValues="UPDATED_NEW",
    )
    return int(out["Attributes"]["next_version"])


def register_version(table: Any, model_name: str, version: int, record: dict[str, Any]) -> dict[str, Any]:
    item = {**record, "model_name": model_name, "sk": version_sk(version), "version": version, "registered_at": now_iso()}
    table.put_item(Item=to_dynamo(item), ConditionExpression=Attr("sk").not_exists())
    return item


def set_alias(table: Any, model_name: str, version: int, record: dict[str, Any], *, expected_version: int | None,
              alias: str = CHAMPION) -> None:
    """Point `alias` at `version`, only if it still points at `expected_version` (None: no alias yet)."""
    item = {**record, "model_name": model_name, "sk": alias_sk(alias), "version": version,
            "previous_version": expected_version, "updated_at": now_iso()}
    condition = Attr("sk").not_exists() if expected_version is None else Attr("version").eq(expected_version)
    try:
        table.put_item(Item=to_dynamo(item), ConditionExpression=condition)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            raise ChampionChanged(
                f"{alias} of {model_name!r} is no longer version {expected_version}; refusing to overwrite it"
            ) from exc
        raise
