"""Which model answers a request while a challenger is in rollout (evergreen.aliases).

canary: a request whose key hashes below the rollout's share goes to the challenger. The key is the
request's `request_key` when it gives one (a user id keeps a user on one model), else the records
themselves (their JSON with sorted keys), so the same request is always answered by the same model.
shadow and no rollout: the champion answers (in shadow the challenger's answer is logged beside it).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from evergreen.serving.requests import PredictRequest


def request_key(request: PredictRequest) -> str:
    if request.request_key is not None:
        return request.request_key
    return json.dumps(request.records, sort_keys=True, separators=(",", ":"), default=str)


def bucket(key: str) -> float:
    """The key's place in [0, 1): the first 8 bytes of its SHA-256, uniform over keys."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()[:8], "big") / 2**64


def takes_challenger(request: PredictRequest, rollout: dict[str, Any] | None) -> bool:
    return bool(rollout) and rollout["mode"] == "canary" and bucket(request_key(request)) < float(rollout["share"])
