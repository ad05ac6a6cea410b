"""The model registry: versions, aliases, the pin and the audit log in one DynamoDB table (pk model_name, sk).

Items:
    sk="counter"              next_version (atomic ADD)
    sk="version#000001"       the registered version: artifact key, sha256, metrics, run, data, schema
    sk="alias#champion"       the version inference serves: {"version", "model_key", "sha256", "columns",
                              "contract_version", "contract_key", "threshold", ...} ("threshold": a binary
                              classifier's decision threshold; None or absent: the graph's labels)
    sk="alias#challenger"     a version in rollout beside the champion, with "rollout": {"mode": "shadow" |
                              "canary", "share", "started_at", "min_labels", "tolerance"} (evergreen.rollout)
    sk="alias#previous"       the champion before the last move of the champion alias
    sk="pin"                  {"reason", "actor", "pinned_at", "version"}: nothing moves the champion
                              automatically while it exists (a person's rollback still does)
    sk="audit#<time>#<id>"    one per move: {"at", "actor", "reason", "changes": [{"alias", "from", "to"}]}

Every move of an alias goes through `move`: the alias items, the audit item and, for a new version,
the version item are written in one transaction, conditional on what the caller read (each alias's
current version, and the pin when the move is automatic). Two writers that read the same state cannot
both move it (AliasesChanged), a version never changes once written, and no alias moves unaudited.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from itertools import islice
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from evergreen.storage import from_dynamo, now_iso, to_dynamo

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
ALIASES = (CHAMPION, CHALLENGER, PREVIOUS)
PIN_SK = "pin"
AUDIT_PREFIX = "audit#"
VERSION_PREFIX = "version#"
# the keys of an item that are the registry's, not the version's record
_ITEM_KEYS = ("model_name", "sk", "registered_at", "updated_at", "previous_version", "rollout", "moved_by")


class AliasesChanged(RuntimeError):
    """The aliases (or the pin) moved since the caller read them: the move was not made."""


def version_sk(version: int) -> str:
    return f"{VERSION_PREFIX}{version:06d}"


def alias_sk(alias: str) -> str:
    return f"alias#{alias}"


def get_alias(table: Any, model_name: str, alias: str = CHAMPION) -> dict[str, Any] | None:
    item = table.get_item(Key={"model_name": model_name, "sk": alias_sk(alias)}, ConsistentRead=True).get("Item")
    return from_dynamo(item) if item else None


def get_version(table: Any, model_name: str, version: int) -> dict[str, Any] | None:
    """A registered version's record (versions never change once registered)."""
    item = table.get_item(Key={"model_name": model_name, "sk": version_sk(version)}, ConsistentRead=True).get("Item")
    return from_dynamo(item) if item else None


def get_pin(table: Any, model_name: str) -> dict[str, Any] | None:
    item = table.get_item(Key={"model_name": model_name, "sk": PIN_SK}, ConsistentRead=True).get("Item")
    return from_dynamo(item) if item else None


def record_of(item: Mapping[str, Any]) -> dict[str, Any]:
    """A version's record as an alias carries it: the item without the registry's own keys."""
    return {k: v for k, v in item.items() if k not in _ITEM_KEYS}


def next_version(table: Any, model_name: str) -> int:
    out = table.update_item(
        Key={"model_name": model_name, "sk": "counter"},
        UpdateExpression="ADD next_version :one",
        ExpressionAttributeValues={":one": 1},
        ReturnValues="UPDATED_NEW",
    )
    return int(out["Attributes"]["next_version"])


def _condition(expected: int | None) -> dict[str, Any]:
    if expected is None:
        return {"ConditionExpression": "attribute_not_exists(sk)"}
    return {"ConditionExpression": "#v = :expected", "ExpressionAttributeNames": {"#v": "version"},
            "ExpressionAttributeValues": {":expected": expected}}


def move(table: Any, model_name: str, moves: Mapping[str, Mapping[str, Any] | None], *,
         expected: Mapping[str, int | None], reason: str, actor: str, register: Mapping[str, Any] | None = None,
         unpinned: bool = False, pin: Mapping[str, Any] | None | bool = False) -> dict[str, Any]:
    """Move aliases in one audited transaction, or not at all (AliasesChanged).

    moves: alias -> the version record it now points at (with "version"; may carry "rollout"), or
    None to remove it. expected: alias -> the version the caller read (None: absent); every alias
    named there must still be so. register: a new version's record, written with the move (it must
    not exist yet). unpinned: the move is refused if the model is pinned. pin: a dict puts the pin,
    None removes it, False leaves it alone. Returns the audit entry.
    """
    now = now_iso()

    def put(item: dict[str, Any], **cond: Any) -> dict[str, Any]:
        return {"Put": {"TableName": table.name, "Item": to_dynamo(item), **cond}}

    def key(sk: str) -> dict[str, str]:
        return {"model_name": model_name, "sk": sk}

    items: list[dict[str, Any]] = []
    changes = []
    if register is not None:
        items.append(put({**register, **key(version_sk(int(register["version"]))), "registered_at": now},
                         ConditionExpression="attribute_not_exists(sk)"))
    for alias, record in moves.items():
        cond = _condition(expected[alias]) if alias in expected else {}
        changes.append({"alias": alias, "from": expected.get(alias), "to": None if record is None else record["version"]})
        if record is None:
            items.append({"Delete": {"TableName": table.name, "Key": key(alias_sk(alias)), **cond}})
        else:
            items.append(put({**record, **key(alias_sk(alias)), "updated_at": now, "moved_by": actor}, **cond))
    for alias in set(expected) - set(moves):
        items.append({"ConditionCheck": {"TableName": table.name, "Key": key(alias_sk(alias)), **_condition(expected[alias])}})
    if pin is not False:
        items.append(put({**pin, **key(PIN_SK)}) if pin is not None
                     else {"Delete": {"TableName": table.name, "Key": key(PIN_SK)}})
        changes.append({"pin": pin is not None})
    elif unpinned:
        items.append({"ConditionCheck": {"TableName": table.name, "Key": key(PIN_SK),
                                         "ConditionExpression": "attribute_not_exists(sk)"}})
    entry = {"at": now, "actor": actor, "reason": reason, "changes": changes}
    items.append(put({**entry, **key(f"{AUDIT_PREFIX}{now}#{uuid.uuid4().hex[:8]}")}))
    try:
        table.meta.client.transact_write_items(TransactItems=items)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "TransactionCanceledException":
            read = ", ".join(f"{a} {'absent' if v is None else f'v{v}'}" for a, v in expected.items())
            pinned = " and not pinned" if unpinned else ""
            raise AliasesChanged(f"the registry of {model_name!r} is no longer as read ({read}{pinned}); "
                                 f"refusing to move it: {reason}") from exc
        raise
    return entry


def register_champion(table: Any, model_name: str, version: int, record: dict[str, Any], *,
                      expected_version: int | None, reason: str = "registered as champion",
                      actor: str = "pipeline") -> dict[str, Any]:
    """Register `version` and point the champion alias at it (the one it replaces becomes `previous`),
    in one audited transaction, only if the champion is still `expected_version` (None: no champion
    yet) and the model is not pinned. A run that loses the race registers nothing (AliasesChanged)."""
    moves: dict[str, Any] = {CHAMPION: {**record, "version": version, "previous_version": expected_version}}
    expected: dict[str, int | None] = {CHAMPION: expected_version}
    if expected_version is not None and (old := get_version(table, model_name, expected_version)) is not None:
        moves[PREVIOUS] = record_of(old)
        expected[PREVIOUS] = None if (before := get_alias(table, model_name, PREVIOUS)) is None else int(before["version"])
    return move(table, model_name, moves, expected=expected, reason=reason, actor=actor,
                register={**record, "version": version}, unpinned=True)


def audit_log(table: Any, model_name: str, limit: int | None = None) -> list[dict[str, Any]]:
    """The model's audit entries, newest first."""
    entries = _items(table.query, KeyConditionExpression=Key("model_name").eq(model_name) & Key("sk").begins_with(AUDIT_PREFIX),
                     ScanIndexForward=False, ConsistentRead=True)
    return [{k: v for k, v in item.items() if k not in ("model_name", "sk")} for item in islice(entries, limit)]


def versions(table: Any, model_name: str) -> list[dict[str, Any]]:
    """Every registered version of the model, oldest first (one Query; the report's timeline)."""
    return list(_items(table.query, KeyConditionExpression=Key("model_name").eq(model_name)
                       & Key("sk").begins_with(VERSION_PREFIX), ConsistentRead=True))


def champions(table: Any, alias: str = CHAMPION) -> list[dict[str, Any]]:
    """Every model's `alias` item (the champion by default), sorted by model name.

    A Scan filtered on the alias's sort key: the registry holds a few items per model (and one per
    audited move), so this reads little (the prediction log, which is large, is never scanned).
    """
    items = _items(table.scan, FilterExpression="sk = :sk", ExpressionAttributeValues={":sk": alias_sk(alias)},
                   ConsistentRead=True)
    return sorted(items, key=lambda i: str(i["model_name"]))


def _items(call: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """The items of a Query or Scan (`call`: table.query or table.scan), page after page, as plain values."""
    while True:
        page = call(**kwargs)
        yield from (from_dynamo(item) for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
