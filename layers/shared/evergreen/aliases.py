"""The named moves of a model's aliases (champion, challenger, previous) and of its pin, each one
audited transaction of evergreen.registry.move with the reason a person reads in the audit log.

Who moves what:
    Promote          register_champion (direct, or a model's first version) or enter_rollout
    the monitor      promote_challenger / end_rollout, when live labels have judged a rollout
    a person         rollback, promote_challenger, end_rollout, pin, unpin (evergreen.admin)

Automatic moves of the champion are refused while the model is pinned; a person's are not.
"""

from __future__ import annotations

from typing import Any

from evergreen import registry
from evergreen.registry import CHALLENGER, CHAMPION, PREVIOUS, record_of
from evergreen.storage import now_iso


class NothingToMove(ValueError):
    """The move needs an alias the model does not have (no champion, no challenger)."""


def _version(item: dict[str, Any] | None) -> int | None:
    return None if item is None else int(item["version"])


def enter_rollout(table: Any, model: str, version: int, record: dict[str, Any], *, champion_version: int,
                  mode: str, share: float, min_labels: int, tolerance: float, actor: str = "pipeline") -> dict[str, Any]:
    """Register `version` as the challenger beside champion `champion_version` (replacing any challenger
    in rollout), in `mode` from now on. Refused while the model is pinned."""
    current = _version(registry.get_alias(table, model, CHALLENGER))
    rollout = {"mode": mode, "share": share if mode == "canary" else 0.0, "started_at": now_iso(),
               "min_labels": min_labels, "tolerance": tolerance}
    how = f"{share:.0%} of requests" if mode == "canary" else "logged beside its answers"
    reason = f"v{version} enters {mode} beside champion v{champion_version} ({how})"
    if current is not None:
        reason += f"; replaces challenger v{current}"
    return registry.move(table, model, {CHALLENGER: {**record, "version": version, "rollout": rollout}},
                         expected={CHAMPION: champion_version, CHALLENGER: current}, reason=reason, actor=actor,
                         register={**record, "version": version}, unpinned=True)


def promote_challenger(table: Any, model: str, *, reason: str, actor: str, automatic: bool) -> dict[str, Any]:
    """The challenger becomes champion, the champion `previous`; the rollout ends."""
    champion, challenger = registry.get_alias(table, model, CHAMPION), registry.get_alias(table, model, CHALLENGER)
    if challenger is None:
        raise NothingToMove(f"model {model!r} has no challenger to promote")
    moves: dict[str, Any] = {CHAMPION: {**record_of(challenger), "previous_version": _version(champion)},
                             CHALLENGER: None}
    expected = {CHAMPION: _version(champion), CHALLENGER: _version(challenger)}
    if champion is not None:
        moves[PREVIOUS] = record_of(champion)
        expected[PREVIOUS] = _version(registry.get_alias(table, model, PREVIOUS))
    return registry.move(table, model, moves, expected=expected,
                         reason=f"v{challenger['version']} promoted from {challenger['rollout']['mode']}: {reason}",
                         actor=actor, unpinned=automatic)


def end_rollout(table: Any, model: str, challenger_version: int, *, reason: str, actor: str) -> dict[str, Any]:
    """The challenger is rolled back: it leaves the rollout, the champion keeps serving alone."""
    return registry.move(table, model, {CHALLENGER: None}, expected={CHALLENGER: challenger_version},
                         reason=f"challenger v{challenger_version} rolled back: {reason}", actor=actor)


def rollback(table: Any, model: str, target: dict[str, Any], *, reason: str, actor: str) -> dict[str, Any]:
    """The champion goes back to the registered version `target` (its version record, already verified
    by the caller); the champion it replaces becomes `previous`, and a rollout in progress ends."""
    champion, challenger = registry.get_alias(table, model, CHAMPION), registry.get_alias(table, model, CHALLENGER)
    if champion is None:
        raise NothingToMove(f"model {model!r} has no champion to roll back")
    moves: dict[str, Any] = {CHAMPION: {**record_of(target), "previous_version": _version(champion)},
                             PREVIOUS: record_of(champion)}
    why = f"champion v{champion['version']} -> v{target['version']}: {reason}"
    if challenger is not None:
        moves[CHALLENGER] = None
        why += f" (ends the rollout of challenger v{challenger['version']})"
    expected = {CHAMPION: _version(champion), CHALLENGER: _version(challenger),
                PREVIOUS: _version(registry.get_alias(table, model, PREVIOUS))}
    return registry.move(table, model, moves, expected=expected, reason=f"rollback of {why}", actor=actor)


def pin(table: Any, model: str, *, reason: str, actor: str) -> dict[str, Any]:
    """Hold the champion: nothing automatic moves it until `unpin`."""
    champion = registry.get_alias(table, model, CHAMPION)
    if champion is None:
        raise NothingToMove(f"model {model!r} has no champion to pin")
    if (held := registry.get_pin(table, model)) is not None:
        raise NothingToMove(f"model {model!r} is already pinned at champion v{held.get('version')} by "
                            f"{held.get('actor')} ({held.get('reason')}): unpin it first")
    held = {"reason": reason, "actor": actor, "pinned_at": now_iso(), "version": int(champion["version"])}
    return registry.move(table, model, {}, expected={CHAMPION: int(champion["version"])},
                         reason=f"pinned at champion v{champion['version']}: {reason}", actor=actor, pin=held)


def unpin(table: Any, model: str, *, reason: str, actor: str) -> dict[str, Any]:
    if registry.get_pin(table, model) is None:
        raise NothingToMove(f"model {model!r} is not pinned")
    return registry.move(table, model, {}, expected={}, reason=f"unpinned: {reason}", actor=actor, pin=None)
