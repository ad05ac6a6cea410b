"""Export: convert the best candidates to ONNX with skl2onnx and prove onnxruntime reproduces
scikit-learn; the first that passes is the artifact Evaluate judges and Promote would serve. Its size
and its median time to answer one row (p50_ms) are measured here for Evaluate's budget gate.

Candidates are tried in ranking order (best validation score first, at most MAX_ATTEMPTS): one whose
conversion or parity check fails is skipped with its reason and the next is tried, so a broken
conversion fails that candidate, never the service. With none left, passed=False, and Evaluate
records a rejection; the champion keeps serving.

A runner-up with no model (a cross-validated trial keeps none: only the winner is fitted on all the
rows, by RefitWinner) is fitted here the same way before it is tried (training.fit_winner).

A binary candidate's parity is checked with its decision threshold (TrialResult.threshold,
evergreen.thresholds), as it will be served. The ONNX bytes are verified as a model before they are
stored (OnnxModel refuses custom domains and external data).
"""

from __future__ import annotations

from evergreen import data, export, tracking
from evergreen.contracts import ExportInput, ExportResult, RunContext, TrialResult
from evergreen.evaluation import rank_trials
from evergreen.onnx_model import ModelIntegrityError, OnnxModel, sha256_hex
from evergreen.steps import refit
from evergreen.steps.common import dump_pipeline, load_pipeline, load_split
from evergreen.storage import Stores, candidate_key, export_key

MAX_ATTEMPTS = 3


def convert(pipeline, candidate: TrialResult, columns, parity_rows) -> tuple[bytes | None, object, str]:
    """-> (onnx bytes or None, parity report or None, reason)."""
    label = f"{candidate.candidate_id} ({candidate.family})"
    try:
        onnx_bytes = export.to_onnx(pipeline, columns)
    except Exception as exc:  # noqa: BLE001 - skl2onnx raises many types; all mean "this candidate cannot be served"
        return None, None, f"ONNX conversion of {label} failed: {type(exc).__name__}: {exc}"
    parity = export.check_parity(pipeline, onnx_bytes, parity_rows, columns, threshold=candidate.threshold)
    if not parity.passed:
        agreement = f", label agreement {parity.label_agreement:.4f}" if parity.label_agreement is not None else ""
        return None, parity, (f"ONNX parity check failed for {label}: max abs diff {parity.max_abs_diff:.3g} > "
                              f"tolerance {parity.tolerance:g}{agreement}")
    return onnx_bytes, parity, (f"ONNX matches scikit-learn on {parity.rows} rows: test split + probes with missing "
                                f"values and unseen categories (max abs diff {parity.max_abs_diff:.3g})")


def fitted(stores: Stores, run: RunContext, candidate: TrialResult) -> tuple[object, TrialResult]:
    """(the candidate's fitted pipeline, the candidate naming its artifact): its trial's model, or for
    a cross-validated runner-up, which kept none, a fit on all the search's rows (stored)."""
    if candidate.artifact_key is not None:
        return load_pipeline(stores, candidate.artifact_key), candidate
    fit = refit.fit_on_search_rows(stores, run, candidate)
    key = candidate_key(run.model_name, run.run_id, candidate.candidate_id)
    stores.put_bytes(stores.artifacts_bucket, key, dump_pipeline(fit.pipeline))
    return fit.pipeline, candidate.model_copy(update={"artifact_key": key, "trained_rows": fit.training_rows})


def run(inp: ExportInput, stores: Stores) -> ExportResult:
    columns = inp.run.dataset.columns
    ranking = rank_trials(inp.trials, inp.run.spec.higher_is_better)
    test = load_split(stores, inp.run.dataset, "test")
    # the test split plus probe rows with missing values and unseen categories: what live traffic will send
    parity_rows = data.concat_frames(test, export.probe_frame(test, columns))
    skipped: list[str] = []
    for candidate in ranking[:MAX_ATTEMPTS]:
        pipeline, candidate = fitted(stores, inp.run, candidate)
        onnx_bytes, parity, reason = convert(pipeline, candidate, columns, parity_rows)
        if onnx_bytes is None:
            skipped.append(reason)
            continue
        digest = sha256_hex(onnx_bytes)
        try:
            served = OnnxModel(onnx_bytes, numeric=columns.numeric, categorical=columns.categorical,
                               classes=columns.classes, expected_sha256=digest, threshold=candidate.threshold)
        except ModelIntegrityError as exc:
            skipped.append(f"exported graph of {candidate.candidate_id} refused: {exc}")
            continue
        key = export_key(inp.run.model_name, inp.run.run_id)
        stores.put_bytes(stores.artifacts_bucket, key, onnx_bytes)
        note = f" (after skipping: {'; '.join(skipped)})" if skipped else ""
        return ExportResult(passed=True, reason=reason + note, candidate=candidate, onnx_key=key, sha256=digest,
                            size_bytes=len(onnx_bytes), parity=parity, skipped=skipped, ranking=ranking,
                            p50_ms=export.single_row_p50_ms(served, test, columns), versions=tracking.versions())
    return ExportResult(passed=False, reason="no candidate could be exported: " + "; ".join(skipped),
                        skipped=skipped, ranking=ranking)
