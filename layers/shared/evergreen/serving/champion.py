"""The champion: a verified ONNX model with the registry facts serving needs, and the warm cache.

`champion_from_bytes` checks the bytes against the champion alias (sha256, external data, operator
domains, then the ColumnSchema contract against the graph) before anything is served, and gives the
model the alias's decision threshold (a binary classifier's, evergreen.thresholds): its labels are
made with it. An alias without one (multiclass, regression, a champion registered before thresholds)
keeps the graph's own labels.
`ModelCache` keeps the last good model per model name and alias (the champion, and the challenger in
a rollout, with its alias's `rollout`) and re-reads the alias at most every TTL. With
the model it reads the champion's data contract (the alias's `contract_key`) and precomputes its
plausibility checks (evergreen.serving.plausibility); a champion without a readable contract is
served all the same, unchecked, with a warning (and the contract is read again after the TTL).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evergreen import thresholds
from evergreen.onnx_model import ModelIntegrityError, OnnxModel
from evergreen.registry import CHALLENGER, CHAMPION, get_alias
from evergreen.serving.errors import ModelUnavailable
from evergreen.serving.plausibility import Plausibility, from_contract

logger = logging.getLogger(__name__)

DEFAULT_CHAMPION_TTL_SECONDS = 30.0

MetricEmitter = Callable[[str, float, Mapping[str, str]], None]  # (metric name, count, dimensions)


class ChampionRefused(RuntimeError):
    """The registered champion cannot be served as registered (schema or graph contract)."""


@dataclass(frozen=True)
class Champion:
    """A loaded, verified champion model and the registry facts serving needs."""

    model_name: str
    version: int
    sha256: str
    model_key: str
    problem_type: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    classes: tuple[str, ...] | None
    regression_tolerance: float | None
    model: OnnxModel = field(repr=False)
    plausibility: Plausibility | None = field(default=None, repr=False)  # None: no usable contract, unchecked
    rollout: Mapping[str, Any] | None = None  # a challenger's: {"mode", "share", ...} (evergreen.aliases)

    @property
    def signature(self) -> tuple[int, str, str]:
        return self.version, self.sha256, self.model_key


def champion_from_bytes(model_name: str, alias: Mapping[str, Any], data: bytes) -> Champion:
    """Verify bytes against the champion alias item and build a servable Champion.

    Raises ModelIntegrityError (bytes are not the registered ones, unsafe graph) or ChampionRefused
    (the alias item or the graph does not honour the ColumnSchema contract).
    """
    columns = alias.get("columns")
    if not isinstance(columns, Mapping):
        raise ChampionRefused("the champion item has no 'columns' schema")
    numeric = _names(columns.get("numeric"), "numeric")
    categorical = _names(columns.get("categorical"), "categorical")
    if not numeric and not categorical:
        raise ChampionRefused("the champion's schema has no feature columns")
    problem_type = columns.get("problem_type")
    if problem_type not in ("classification", "regression"):
        raise ChampionRefused(f"unknown problem_type {problem_type!r}")
    classes = None
    if problem_type == "classification":
        classes = _names(columns.get("classes"), "classes")
        if not classes:
            raise ChampionRefused("a classifier's schema must list its classes")
    try:
        threshold = thresholds.checked(alias.get("threshold"), classes)
    except ValueError as exc:
        raise ChampionRefused(f"the champion's threshold cannot be applied: {exc}") from None
    sha256 = alias.get("sha256")
    if not isinstance(sha256, str) or not sha256:
        raise ModelIntegrityError("the champion item has no sha256: refusing to serve unverified bytes")
    model = OnnxModel(data, numeric=list(numeric), categorical=list(categorical), classes=list(classes) if classes else None,
                      expected_sha256=sha256, threshold=threshold)
    _check_contract(model, numeric, categorical, classes)
    tolerance = alias.get("regression_tolerance")
    return Champion(
        model_name=model_name, version=int(alias["version"]), sha256=sha256, model_key=str(alias["model_key"]),
        problem_type=problem_type, numeric=numeric, categorical=categorical, classes=classes,
        regression_tolerance=float(tolerance) if isinstance(tolerance, (int, float)) else None, model=model,
        rollout=alias.get("rollout"),
    )


def _names(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ChampionRefused(f"the champion's schema '{what}' must be a list of strings")
    return tuple(value)


def _check_contract(model: OnnxModel, numeric: tuple[str, ...], categorical: tuple[str, ...],
                    classes: tuple[str, ...] | None) -> None:
    """Inputs are exactly the ColumnSchema tensors; one all-missing row runs (also warms the session up)."""
    expected = ({"numeric": len(numeric)} if numeric else {}) | ({"categorical": len(categorical)} if categorical else {})
    inputs = {i.name: i.shape for i in model.session.get_inputs()}
    if set(inputs) != set(expected):
        raise ChampionRefused(f"model inputs {sorted(inputs)} do not match the registered schema {sorted(expected)}")
    for name, width in expected.items():
        shape = inputs[name]
        if len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != width):
            raise ChampionRefused(f"model input {name!r} has shape {shape}, the schema has {width} columns")
    out = model.run(np.full((1, len(numeric)), np.nan, dtype=np.float32) if numeric else None,
                    np.full((1, len(categorical)), "", dtype=object) if categorical else None)
    if out.labels.shape != (1,):
        raise ChampionRefused(f"model label output has shape {out.labels.shape} for one row")
    if classes is not None and (out.probabilities is None or out.probabilities.shape != (1, len(classes))):
        got = None if out.probabilities is None else out.probabilities.shape
        raise ChampionRefused(f"model probabilities have shape {got}, the schema has {len(classes)} classes")


@dataclass
class _Entry:
    champion: Champion | None  # what is served (may be older than the alias if the alias was refused)
    checked_at: float  # monotonic time of the last registry read
    refused: tuple[Any, ...] | None = None  # alias signature that failed deterministically: not re-downloaded
    unavailable: str | None = None  # why there is nothing to serve (503), when champion is None


class ModelCache:
    """The champion per model, re-read from the registry at most every `ttl_seconds`.

    A new alias version is loaded from S3 and verified (sha256 from the registry, graph checks,
    schema contract). If it fails, the error is logged, `ModelLoadFailure` is emitted and the
    previously loaded model keeps serving; with nothing loaded, `get` raises ModelUnavailable.
    A refused alias (same version, sha256 and key) is not downloaded again until it changes.
    The champion's contract (alias `contract_key`) gives its plausibility checks; one that is missing
    or unusable never refuses the model: it is served unchecked and the contract is re-read each TTL.
    Thread-safe: reads are lock-free, refreshes take a lock.
    """

    def __init__(self, *, registry: Any, s3: Any, bucket: str, ttl_seconds: float = DEFAULT_CHAMPION_TTL_SECONDS,
                 emit_metric: MetricEmitter | None = None, clock: Callable[[], float] = time.monotonic,
                 max_entries: int = 256) -> None:
        self.registry = registry
        self.s3 = s3
        self.bucket = bucket
        self.ttl_seconds = ttl_seconds
        self.emit_metric = emit_metric
        self.clock = clock
        self.max_entries = max_entries
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def get(self, model_name: str, alias: str = CHAMPION) -> Champion:
        """The model `alias` points at (the champion by default); ModelUnavailable when there is none."""
        key = (model_name, alias)
        entry = self._entries.get(key)
        if entry is None or self.clock() - entry.checked_at >= self.ttl_seconds:
            with self._lock:
                entry = self._entries.get(key)
                if entry is None or self.clock() - entry.checked_at >= self.ttl_seconds:
                    entry = self._refresh(model_name, alias, entry)
                    self._store(key, entry)
        if entry.champion is None:
            raise ModelUnavailable(entry.unavailable or f"no {alias} model for {model_name!r} yet")
        return entry.champion

    def challenger(self, model_name: str) -> Champion | None:
        """The challenger in rollout beside the champion, None when there is none or it cannot be served
        (the champion then answers alone: a challenger never makes a request fail)."""
        try:
            return self.get(model_name, CHALLENGER)
        except ModelUnavailable:
            return None

    def _store(self, key: tuple[str, str], entry: _Entry) -> None:
        self._entries[key] = entry
        if len(self._entries) > self.max_entries:  # bound the memory spent on names with nothing to serve
            for name in [n for n, e in self._entries.items() if e.champion is None and n != key]:
                del self._entries[name]
                if len(self._entries) <= self.max_entries:
                    break

    def _refresh(self, model_name: str, alias_name: str, entry: _Entry | None) -> _Entry:
        now = self.clock()
        current = entry.champion if entry else None
        try:
            alias = get_alias(self.registry, model_name, alias_name)
        except Exception:  # registry unreachable: keep serving what we have, try again after the TTL
            logger.exception("cannot read the model alias", extra={"model_name": model_name, "alias": alias_name})
            if current is not None:
                return _Entry(current, now, entry.refused if entry else None)
            raise ModelUnavailable(f"the model registry is unavailable; cannot load {model_name!r}") from None
        if alias is None:
            return _Entry(None, now, unavailable=f"no {alias_name} model for {model_name!r} yet")
        signature = (alias.get("version"), alias.get("sha256"), alias.get("model_key"))
        if current is not None and current.signature == signature:
            current = dataclasses.replace(current, rollout=alias.get("rollout"))
            if current.plausibility is None and alias.get("contract_key"):  # its contract could not be read
                current = dataclasses.replace(current, plausibility=self._plausibility(current, alias))
            return _Entry(current, now)
        if entry is not None and entry.refused == signature:
            return _Entry(current, now, signature, entry.unavailable)
        try:
            data = self.s3.get_object(Bucket=self.bucket, Key=str(alias.get("model_key")))["Body"].read()
            champion = champion_from_bytes(model_name, alias, data)
        except (ModelIntegrityError, ChampionRefused) as exc:
            return self._failed(model_name, alias_name, alias, current, now, f"was refused: {exc}", refused=signature)
        except Exception as exc:  # S3, onnxruntime: may be transient, retried after the TTL
            logger.exception("champion load failed", extra={"model_name": model_name})
            return self._failed(model_name, alias_name, alias, current, now,
                                f"could not be loaded: {type(exc).__name__}: {exc}")
        champion = dataclasses.replace(champion, plausibility=self._plausibility(champion, alias))
        logger.info(f"{alias_name} loaded", extra={"model_name": model_name, "model_version": champion.version,
                                              "threshold": champion.model.threshold,
                                              "previous_version": current.version if current else None,
                                              "plausibility_checks": champion.plausibility is not None})
        return _Entry(champion, now)

    def _plausibility(self, champion: Champion, alias: Mapping[str, Any]) -> Plausibility | None:
        """The champion's checks, from the contract document its alias names.

        Never raises: a champion without a usable contract is served unchecked, with a warning. When
        the alias names a contract that could not be used, `_refresh` tries again after each TTL."""
        key = alias.get("contract_key")
        extra = {"model_name": champion.model_name, "model_version": champion.version, "contract_key": key}
        if not isinstance(key, str) or not key:
            logger.warning("champion has no data contract: served without plausibility checks", extra=extra)
            return None
        try:
            document = json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
            return from_contract(document, champion.numeric, champion.categorical, champion.problem_type)
        except Exception as exc:  # S3, not JSON, not a contract: serve all the same
            logger.warning("champion data contract unusable: served without plausibility checks",
                           extra={**extra, "reason": f"{type(exc).__name__}: {exc}"[:500]})
            return None

    def _failed(self, model_name: str, alias_name: str, alias: Mapping[str, Any], current: Champion | None, now: float,
                why: str, refused: tuple[Any, ...] | None = None) -> _Entry:
        reason = f"{alias_name} {model_name!r} version {alias.get('version')} {why}"
        logger.error(reason, extra={"model_name": model_name, "model_key": alias.get("model_key"),
                                    "serving_version": current.version if current else None})
        if self.emit_metric is not None:
            self.emit_metric("ModelLoadFailure", 1, {"Model": model_name})
        return _Entry(current, now, refused, None if current else reason)
