"""Export: convert the challenger with skl2onnx and prove onnxruntime reproduces scikit-learn on the
test split. A failed conversion or parity check fails this candidate (passed=False with the reason),
never the service: the Choice state then records a rejection and the champion keeps serving."""

from __future__ import annotations

from evergreen import export
from evergreen.contracts import ExportInput, ExportResult
from evergreen.onnx_model import ModelIntegrityError, OnnxModel, sha256_hex
from evergreen.steps.common import load_pipeline, load_split, score_onnx
from evergreen.storage import Stores, export_key


def run(inp: ExportInput, stores: Stores) -> ExportResult:
    columns = inp.run.dataset.columns
    challenger = inp.evaluation.challenger
    pipeline = load_pipeline(stores, challenger.artifact_key)
    test = load_split(stores, inp.run.dataset, "test")
    try:
        onnx_bytes = export.to_onnx(pipeline, columns)
    except Exception as exc:  # noqa: BLE001 - skl2onnx raises many types; all mean "this candidate cannot be served"
        return ExportResult(passed=False, reason=f"ONNX conversion of {challenger.candidate_id} ({challenger.family}) "
                                                  f"failed: {type(exc).__name__}: {exc}")
    parity = export.check_parity(pipeline, onnx_bytes, test, columns)
    if not parity.passed:
        return ExportResult(passed=False, parity=parity, size_bytes=len(onnx_bytes), reason=(
            f"ONNX parity check failed for {challenger.candidate_id} ({challenger.family}): max abs diff "
            f"{parity.max_abs_diff:.3g} > tolerance {parity.tolerance:g}"
            + (f", label agreement {parity.label_agreement:.4f}" if parity.label_agreement is not None else "")))
    digest = sha256_hex(onnx_bytes)
    try:
        model = OnnxModel(onnx_bytes, numeric=columns.numeric, categorical=columns.categorical,
                          classes=columns.classes, expected_sha256=digest)
    except ModelIntegrityError as exc:
        return ExportResult(passed=False, parity=parity, reason=f"exported graph refused: {exc}")
    key = export_key(inp.run.model_name, inp.run.run_id)
    stores.put_bytes(stores.artifacts_bucket, key, onnx_bytes)
    return ExportResult(
        passed=True, onnx_key=key, sha256=digest, size_bytes=len(onnx_bytes), parity=parity,
        onnx_test_score=score_onnx(model, test, columns, inp.run.spec.primary_metric),
        reason=f"ONNX matches scikit-learn on {parity.rows} test rows (max abs diff {parity.max_abs_diff:.3g})",
    )
