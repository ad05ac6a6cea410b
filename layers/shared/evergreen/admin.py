"""Model administration: the documented actions a person (or the `evergreen` CLI) takes on a model,
each one audited move of evergreen.aliases. ModelAdminFunction runs them; invoke it with

    {"action": "rollback", "model": "churn", "version": 1, "reason": "v3 mislabels returns", "actor": "ana"}

Actions:
    rollback     the champion goes back to `version`, which must be verified (below); reason required
    promote      the challenger in rollout becomes champion now; reason required
    end_rollout  the challenger in rollout is rolled back; reason required
    pin / unpin  hold the champion (nothing automatic moves it) / release it; reason required
    status       the champion, challenger (with its rollout), previous and pin, and the audit log

A version is verified when the pipeline registered it after its promotion decision, its artifact is
in the bucket with the registered sha256, and it loads as serving would load it (the ONNX graph
against its column schema: evergreen.serving.champion). Anything else is refused with an AdminError
naming the version and the check, and nothing moves.
"""

from __future__ import annotations

from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evergreen import aliases, registry
from evergreen.onnx_model import ModelIntegrityError
from evergreen.serving.champion import ChampionRefused, champion_from_bytes
from evergreen.spec import NAME_RE
from evergreen.storage import Stores

MOVES = ("rollback", "promote", "end_rollout", "pin", "unpin")


class AdminError(ValueError):
    """The action was refused; the message names why. Nothing moved."""


class AdminRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["rollback", "promote", "end_rollout", "pin", "unpin", "status"]
    model: str = Field(pattern=NAME_RE.pattern)
    version: int | None = Field(None, ge=1)
    reason: str | None = Field(None, min_length=1, max_length=500)
    actor: str = Field("admin", min_length=1, max_length=100)

    @model_validator(mode="after")
    def _needs(self) -> AdminRequest:
        if self.action in MOVES and not (self.reason or "").strip():
            raise ValueError(f"{self.action} needs a reason: it goes into the audit log")
        if self.action == "rollback" and self.version is None:
            raise ValueError("rollback needs the version to go back to")
        return self


def parse_request(event: Any) -> AdminRequest:
    """The invocation's payload as an AdminRequest; AdminError naming each problem on one line."""
    try:
        return AdminRequest.model_validate(event)
    except ValidationError as exc:
        problems = "; ".join(": ".join(filter(None, (".".join(map(str, e["loc"])), e["msg"].removeprefix("Value error, "))))
                             for e in exc.errors())
        raise AdminError(f"invalid request: {problems}") from None


def verified_version(stores: Stores, model: str, version: int) -> dict[str, Any]:
    """The version's registry record, once verified (see the module docstring); AdminError otherwise."""
    record = registry.get_version(stores.registry, model, version)
    if record is None:
        raise AdminError(f"model {model!r} has no version {version}: nothing was registered under it")
    if not (record.get("decision") or {}).get("promote"):
        raise AdminError(f"v{version} of {model!r} is unverified: its registry record has no promotion decision")
    where = f"v{version} of {model!r} (s3://{stores.artifacts_bucket}/{record.get('model_key')})"
    try:
        blob = stores.get_bytes(stores.artifacts_bucket, str(record["model_key"]))
    except ClientError as exc:
        raise AdminError(f"{where} is unverified: its artifact cannot be read ({exc.response['Error']['Code']})") from None
    try:
        champion_from_bytes(model, record, blob)
    except (ModelIntegrityError, ChampionRefused) as exc:
        raise AdminError(f"{where} is unverified: {exc}") from None
    return record


def status(stores: Stores, model: str) -> dict[str, Any]:
    def brief(item: dict[str, Any] | None) -> dict[str, Any] | None:
        if item is None:
            return None
        return {k: item.get(k) for k in ("version", "family", "test_score", "primary_metric", "run_id",
                                         "dataset_version", "updated_at", "moved_by", "rollout")}

    return {"model": model, **{alias: brief(registry.get_alias(stores.registry, model, alias)) for alias in registry.ALIASES},
            "pin": registry.get_pin(stores.registry, model), "audit": registry.audit_log(stores.registry, model, limit=50)}


def run(request: AdminRequest, stores: Stores) -> dict[str, Any]:
    table, model, who = stores.registry, request.model, request.actor
    reason = (request.reason or "").strip()
    try:
        if request.action == "status":
            return status(stores, model)
        if request.action == "rollback":
            target = verified_version(stores, model, int(request.version or 0))
            entry = aliases.rollback(table, model, target, reason=reason, actor=who)
        elif request.action == "promote":
            entry = aliases.promote_challenger(table, model, reason=reason, actor=who, automatic=False)
        elif request.action == "end_rollout":
            challenger = registry.get_alias(table, model, registry.CHALLENGER)
            if challenger is None:
                raise AdminError(f"model {model!r} has no challenger in rollout")
            entry = aliases.end_rollout(table, model, int(challenger["version"]), reason=reason, actor=who)
        elif request.action == "pin":
            entry = aliases.pin(table, model, reason=reason, actor=who)
        else:
            entry = aliases.unpin(table, model, reason=reason, actor=who)
    except (aliases.NothingToMove, registry.AliasesChanged) as exc:
        raise AdminError(str(exc)) from None
    return {"model": model, "action": request.action, "audit": entry}
