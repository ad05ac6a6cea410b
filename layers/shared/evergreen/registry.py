"""The model registry: versions and aliases in one DynamoDB table (pk model_name, sk).

Items:
    sk="counter"            next_version (atomic ADD)
    sk="version#000001"     the registered version: artifact key, sha256, metrics, run, data, schema
    sk="alias#champion"     {"version", "model_key", "sha256", "columns", "contract_version",
                            "contract_key", "threshold", ...}: what inference serves ("threshold": a
                            binary classifier's decision threshold, None or absent: the graph's labels)

A version is immutable once written, and is written together with the champion alias in one
transaction conditional on the alias's current version: two runs finishing together cannot both
think they replaced the same champion, and the loser leaves nothing registered. Rollback later is
just moving the alias back.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from evergreen.storage import from_dynamo, now_iso, to_dynamo

CHAMPION = "champion"


class ChampionChanged(RuntimeError):
    """The champion moved since this run evaluated against it; the run must not overwrite it."""


def version_sk(version: int) -> str:
    return f"version#{version:06d}"


def alias_sk(alias: str) -> str:
    return f"alias#{alias}"


def get_alias(table: Any, model_name: str, alias: str = CHAMPION) -> dict[str, Any] | None:
    item = table.get_item(Key={"model_name": model_name, "sk": alias_sk(alias)}, ConsistentRead=True).get("Item")
    return from_dynamo(item) if item else None


def get_version(table: Any, model_name: str, version: int) -> dict[str, Any] | None:
    """A registered version's record (versions never change once registered)."""
    item = table.get_item(Key={"model_name": model_name, "sk": version_sk(version)}, ConsistentRead=True).get("Item")
    return from_dynamo(item) if item else None


def next_version(table: Any, model_name: str) -> int:
    out = table.update_item(
        Key={"model_name": model_name, "sk": "counter"},
        UpdateExpression="ADD next_version :one",
        ExpressionAttributeValues={":one": 1},
        ReturnValues="UPDATED_NEW",
    )
    return int(out["Attributes"]["next_version"])


def register_champion(table: Any, model_name: str, version: int, record: dict[str, Any], *,
                      expected_version: int | None) -> None:
    """Register `version` and point the champion alias at it, in one transaction: only if the alias
    still points at `expected_version` (None: no champion yet). A run that loses the race leaves no
    registered version behind (ChampionChanged)."""
    now = now_iso()
    version_item = {**record, "model_name": model_name, "sk": version_sk(version), "version": version, "registered_at": now}
    alias_item = {**record, "model_name": model_name, "sk": alias_sk(CHAMPION), "version": version,
                  "previous_version": expected_version, "updated_at": now}
    # the resource's client serializes Python values, but builds no condition inside TransactItems
    alias_condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(sk)"}
    if expected_version is not None:
        alias_condition = {"ConditionExpression": "#v = :expected", "ExpressionAttributeNames": {"#v": "version"},
                           "ExpressionAttributeValues": {":expected": expected_version}}
    puts = [
        {"Put": {"TableName": table.name, "Item": to_dynamo(version_item), "ConditionExpression": "attribute_not_exists(sk)"}},
        {"Put": {"TableName": table.name, "Item": to_dynamo(alias_item), **alias_condition}},
    ]
    try:
        table.meta.client.transact_write_items(TransactItems=puts)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "TransactionCanceledException":
            raise ChampionChanged(
                f"the champion of {model_name!r} is no longer version {expected_version}; refusing to overwrite it"
            ) from exc
        raise


def champions(table: Any, alias: str = CHAMPION) -> list[dict[str, Any]]:
    """Every model's `alias` item (the champion by default), sorted by model name.

    A Scan filtered on the alias's sort key: the registry holds a few items per model, so this
    reads little (the prediction log, which is large, is never scanned).
    """
    kwargs: dict[str, Any] = {"FilterExpression": "sk = :sk", "ExpressionAttributeValues": {":sk": alias_sk(alias)},
                              "ConsistentRead": True}
    items: list[dict[str, Any]] = []
    while True:
        page = table.scan(**kwargs)
        items += [from_dynamo(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=lambda i: str(i["model_name"]))
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
