"""Promote: copy the exported model under models/, register it as a new version with its model card,
and move the champion alias to it, only if the champion is still the one this run was judged against."""

from __future__ import annotations

from evergreen import registry
from evergreen.contracts import PromoteInput, PromoteResult
from evergreen.storage import Stores, card_key, model_key


def model_card(inp: PromoteInput, version: int) -> dict:
    ev, ex, run = inp.evaluation, inp.export, inp.run
    return {
        "model_name": run.model_name, "version": version, "run_id": run.run_id, "trigger": run.trigger,
        "source": run.source.model_dump() if run.source else None,
        "dataset": {"version": run.dataset.version, "rows": run.dataset.rows, "profile_key": run.dataset.profile_key},
        "columns": run.dataset.columns.model_dump(),
        "candidate": ex.candidate.model_dump() if ex.candidate else None,
        "metric": ev.metric, "higher_is_better": ev.higher_is_better,
        "scores": {"validation": ex.candidate.validation_score if ex.candidate else None,
                   "test_onnx": ex.onnx_test_score, "baseline": ev.baseline_test_score,
                   "champion_before": ev.champion.model_dump() if ev.champion else None},
        "decision": ex.decision.model_dump(), "parity": ex.parity.model_dump() if ex.parity else None,
        "skipped": ex.skipped, "ranking": [t.model_dump() for t in ev.ranking], "spec": run.spec.model_dump(mode="json"),
    }


def regression_tolerance(inp: PromoteInput) -> float | None:
    """Feedback counts as "good" within this absolute error: the spec's value, else twice the test error."""
    spec = inp.run.spec
    if spec.problem_type != "regression":
        return None
    if spec.monitoring.regression_tolerance is not None:
        return spec.monitoring.regression_tolerance
    if inp.evaluation.metric in ("mae", "rmse") and inp.export.onnx_test_score:
        return 2 * inp.export.onnx_test_score
    return None


def run(inp: PromoteInput, stores: Stores) -> PromoteResult:
    if not (inp.export.passed and inp.export.decision.promote and inp.export.candidate and inp.export.sha256):
        raise ValueError("promote called for a candidate that was not cleared for promotion")
    name = inp.run.model_name
    version = registry.next_version(stores.registry, name)
    key = model_key(name, version)
    stores.s3.copy_object(Bucket=stores.artifacts_bucket, Key=key,
                          CopySource={"Bucket": stores.artifacts_bucket, "Key": inp.export.onnx_key})
    card = model_card(inp, version)
    stores.put_json(stores.artifacts_bucket, card_key(name, version), card)

    spec = inp.run.spec
    record = {
        "model_key": key, "sha256": inp.export.sha256, "size_bytes": inp.export.size_bytes,
        "card_key": card_key(name, version), "columns": inp.run.dataset.columns.model_dump(),
        "primary_metric": inp.evaluation.metric, "test_score": inp.export.onnx_test_score,
        "run_id": inp.run.run_id, "dataset_version": inp.run.dataset.version,
        "family": inp.export.candidate.family, "params": inp.export.candidate.params,
        "regression_tolerance": regression_tolerance(inp),
        "quality_threshold": spec.monitoring.quality_threshold,
    }
    registry.register_version(stores.registry, name, version, {**record, "decision": inp.export.decision.model_dump()})
    previous = inp.evaluation.champion.version if inp.evaluation.champion else None
    registry.set_alias(stores.registry, name, version, record, expected_version=previous)
    return PromoteResult(model_name=name, version=version, promoted=True, previous_champion=previous,
                         model_key=key, sha256=inp.export.sha256)
