"""evergreen.storage.to_dynamo gives exactly what its JSON round trip gave, on hostile values.

The reference is the earlier implementation, kept here: json.dumps(value, default=str), read back with
floats as Decimal and NaN/Infinity as None. "Exactly" means the same types, dict keys in the same
order, and Decimals with the same sign, digits and exponent (Decimal("1.0") is not Decimal("1")):
from_dynamo and DynamoDB's number text both see the difference.
"""

from __future__ import annotations

import enum
import json
import math
import random
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evergreen.storage import from_dynamo, to_dynamo  # noqa: E402


def json_round_trip(value: Any) -> Any:
    """to_dynamo before: one JSON dump and reload per value."""
    def decimal_or_none(text: str) -> Decimal | None:
        d = Decimal(text)
        return d if d.is_finite() else None

    return json.loads(json.dumps(value, default=str), parse_float=decimal_or_none, parse_constant=lambda _: None)


def assert_identical(got: Any, expected: Any, where: str = "value") -> None:
    assert type(got) is type(expected), f"{where}: {type(got).__name__} {got!r} != {type(expected).__name__} {expected!r}"
    if isinstance(expected, dict):
        assert list(got) == list(expected), f"{where}: keys {list(got)} != {list(expected)}"
        for key in expected:
            assert_identical(got[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, list):
        assert len(got) == len(expected), f"{where}: {len(got)} items != {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            assert_identical(g, e, f"{where}[{i}]")
    elif isinstance(expected, Decimal):
        assert got.as_tuple() == expected.as_tuple(), f"{where}: {got!r} != {expected!r}"
    else:
        assert got == expected, f"{where}: {got!r} != {expected!r}"


class Plan(str, enum.Enum):
    PRO = "pro"


class Tier(enum.IntEnum):
    GOLD = 3


class Score(float):
    def __repr__(self) -> str:
        return "Score(...)"


HOSTILE = [
    math.nan, math.inf, -math.inf, -0.0, 0.0, 1e-45, 5e-324, 1.7976931348623157e308, 0.1, 1 / 3, 1e16, 123.0,
    12345678901234567890.0, -2.5e-7, 10**40, -(10**38), 2**63, 0, -1, True, False, None, "", "text",
    "pro\ud800", "café 😀", "1e5", "NaN",
    np.float32(0.1), np.float32(np.nan), np.float64(0.1), np.float64(np.inf), np.int64(5), np.int32(-7),
    np.bool_(True), np.str_("np"), np.array([1.5, 2.5]), np.float16(0.5),
    Decimal("1.10"), Decimal("NaN"), datetime(2026, 12, 5, 7, 30, tzinfo=UTC), {1, 2}, b"bytes",
    Plan.PRO, Tier.GOLD, Score(0.25),
    (1, 2.5, None), [], {},
]


@pytest.mark.parametrize("value", HOSTILE, ids=[repr(v)[:30] for v in HOSTILE])
def test_each_hostile_value_alone_and_in_containers(value):
    for wrapped in (value, [value], (value, value), {"v": value}, {"a": [{"b": (value,)}]}):
        assert_identical(to_dynamo(wrapped), json_round_trip(wrapped))


def test_dict_keys_become_their_json_text():
    value = {1: "int", 1.5: "float", True: "bool", None: "null", math.nan: "nan", -math.inf: "-inf",
             Tier.GOLD: "enum", Plan.PRO: "str enum", np.float64(2.5): "np float", "s": "str", 10**20: "big"}
    assert_identical(to_dynamo(value), json_round_trip(value))
    assert list(to_dynamo({True: 1, None: 2, 1.5: 3, -math.inf: 4})) == ["true", "null", "1.5", "-Infinity"]


def test_keys_that_collide_once_written_keep_the_first_place_and_the_last_value():
    value = {1: "a", "1": "b", 1.0: "c"}  # 1 and 1.0 are one Python key; "1" is another
    assert_identical(to_dynamo(value), json_round_trip(value))


@pytest.mark.parametrize("key", [(1, 2), np.int64(1), frozenset()], ids=repr)
def test_a_key_json_cannot_have_is_refused_as_json_refuses_it(key):
    with pytest.raises(TypeError, match="keys must be str, int, float, bool or None"):
        to_dynamo({key: 1})
    with pytest.raises(TypeError, match="keys must be str, int, float, bool or None"):
        json_round_trip({key: 1})


def random_value(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(12 if depth < 4 else 9)
    if pick == 0:
        return rng.choice([math.nan, math.inf, -math.inf, -0.0])
    if pick == 1:
        return rng.uniform(-1, 1) * 10 ** rng.randint(-320, 308)
    if pick == 2:
        return float(np.float32(rng.random()))  # what the response holds for a probability
    if pick == 3:
        return rng.randint(-(10**40), 10**40)
    if pick == 4:
        return rng.choice([True, False, None])
    if pick == 5:
        return "".join(rng.choice("ab é😀\n\"\\\ud800") for _ in range(rng.randrange(6)))
    if pick == 6:
        return rng.choice([np.float32(rng.random()), np.float64(rng.random()), np.int64(rng.randint(-9, 9))])
    if pick == 7:
        return rng.choice([Decimal("2.50"), Tier.GOLD, Plan.PRO])
    if pick == 8:
        return rng.random()
    if pick == 9:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if pick == 10:
        return tuple(random_value(rng, depth + 1) for _ in range(rng.randrange(3)))
    keys = [rng.choice(["k", "é", "1", 1, 2.5, True, None, math.nan]) for _ in range(rng.randrange(5))]
    return {key: random_value(rng, depth + 1) for key in keys}


def test_random_nested_values():
    rng = random.Random(20261205)
    for _ in range(3000):
        value = random_value(rng)
        assert_identical(to_dynamo(value), json_round_trip(value))


def test_a_prediction_log_item_converts_as_before_and_reads_back():
    item = {"prediction_id": "0" * 32, "prediction": "gold",
            "probabilities": {"bronze": 0.017839024, "gold": 0.56275356, "silver": 0.41940743},
            "model_name": "demo", "model_version": 3, "problem_type": "classification",
            "created_at": "2026-12-05T07:30:00.000+00:00", "expires_at": 1772695800,
            "features": {"age": 42, "income": "58000.5", "score": 1e-200, "ratio": 123.0, "plan": None},
            "flags": ["age 130 is above the training range [18, 80]"]}
    converted = to_dynamo(item)
    assert_identical(converted, json_round_trip(item))
    assert converted["probabilities"]["gold"] == Decimal("0.56275356")
    assert from_dynamo(converted) == item
