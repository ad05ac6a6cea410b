"""Export: convert to ONNX with skl2onnx, prove onnxruntime reproduces scikit-learn, and decide on the
exact artifact that would be served.

Candidates are tried in ranking order (at most MAX_ATTEMPTS): one whose conversion or parity check
fails is skipped with its reason and the next is tried, so a broken conversion fails that candidate,
never the service. With none left, passed=False and the Choice state records a rejection; the
champion keeps serving. The decision compares the ONNX model's test score with the champion's
(its served ONNX model on the same split) or, with no comparable champion, with the baseline. The
exported model's outputs on the test split are kept as `prediction_profile`: the monitor's baseline
for prediction drift and the estimated quality (evergreen.monitoring.drift).

A binary candidate is judged as it will be served: with its decision threshold (TrialResult.threshold,
evergreen.thresholds) in the parity check, the test score and the prediction profile alike.
"""

from __future__ import annotations

from evergreen import data, export
from evergreen.contracts import Decision, ExportInput, ExportResult, TrialResult
from evergreen.evaluation import decide
from evergreen.monitoring.drift import prediction_profile
from evergreen.onnx_model import ModelIntegrityError, OnnxModel, sha256_hex
from evergreen.steps.common import load_pipeline, load_split, score_onnx
from evergreen.storage import Stores, export_key

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


def run(inp: ExportInput, stores: Stores) -> ExportResult:
    columns, ev, spec = inp.run.dataset.columns, inp.evaluation, inp.run.spec
    test = load_split(stores, inp.run.dataset, "test")
    # the test split plus probe rows with missing values and unseen categories: what live traffic will send
    parity_rows = export.concat_frames(test, export.probe_frame(test, columns))
    skipped: list[str] = []
    for candidate in (ev.ranking or [ev.challenger])[:MAX_ATTEMPTS]:
        onnx_bytes, parity, reason = convert(load_pipeline(stores, candidate.artifact_key), candidate, columns, parity_rows)
        if onnx_bytes is None:
            skipped.append(reason)
            continue
        digest = sha256_hex(onnx_bytes)
        try:
            model = OnnxModel(onnx_bytes, numeric=columns.numeric, categorical=columns.categorical,
                              classes=columns.classes, expected_sha256=digest, threshold=candidate.threshold)
        except ModelIntegrityError as exc:
            skipped.append(f"exported graph of {candidate.candidate_id} refused: {exc}")
            continue
        key = export_key(inp.run.model_name, inp.run.run_id)
        stores.put_bytes(stores.artifacts_bucket, key, onnx_bytes)
        score = score_onnx(model, test, columns, spec.primary_metric)
        feeds = data.model_inputs(test, columns)
        outputs = model.run(feeds.get("numeric"), feeds.get("categorical"))
        baseline = prediction_profile(outputs.labels, outputs.probabilities, columns.classes, test.target)
        decision = decide(metric=ev.metric, higher_is_better=ev.higher_is_better, margin=ev.margin, challenger=score,
                          baseline=ev.baseline_test_score, champion=ev.champion,
                          breaking=inp.run.contract.breaking, reference=ev.reference)
        note = f" (after skipping: {'; '.join(skipped)})" if skipped else ""
        return ExportResult(passed=True, reason=reason + note, decision=decision, candidate=candidate, onnx_key=key,
                            sha256=digest, size_bytes=len(onnx_bytes), parity=parity, onnx_test_score=score,
                            skipped=skipped, prediction_profile=baseline)
    reason = "no candidate could be exported: " + "; ".join(skipped)
    return ExportResult(passed=False, reason=reason, decision=Decision(promote=False, reason=reason), skipped=skipped)
