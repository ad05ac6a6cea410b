"""Run an exported model with onnxruntime only (numpy + onnxruntime; never scikit-learn).

Used by inference (serving the champion), evaluate (scoring the champion on a new test split) and
export (parity with scikit-learn). Model bytes are checked before a session is created: the
sha256 must match the registry, and the graph may not reference external data or non-standard
operator domains.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from evergreen import thresholds

# ai.onnx (""), ai.onnx.ml: everything skl2onnx emits for our families.
ALLOWED_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})


class ModelIntegrityError(RuntimeError):
    """The model bytes are not the registered ones, or the graph is not safe to load."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_model_bytes(data: bytes, expected_sha256: str | None) -> None:
    """Refuse bytes that differ from the registered hash, use external data or unknown op domains."""
    if expected_sha256 is not None:
        actual = sha256_hex(data)
        if actual != expected_sha256:
            raise ModelIntegrityError(f"model sha256 {actual} does not match the registered {expected_sha256}")
    # onnx (protobuf) is light enough here; onnxruntime alone cannot list domains before loading.
    from onnx import TensorProto, load_model_from_string

    model = load_model_from_string(data)
    bad = sorted({op.domain for op in model.opset_import} - ALLOWED_DOMAINS)
    bad += sorted({n.domain for n in model.graph.node} - ALLOWED_DOMAINS - set(bad))
    if bad:
        raise ModelIntegrityError(f"model uses operator domains outside the standard ones: {bad}")
    for init in model.graph.initializer:
        if init.data_location == TensorProto.EXTERNAL or init.external_data:
            raise ModelIntegrityError(f"model initializer {init.name!r} uses external data")


@dataclass
class Prediction:
    labels: np.ndarray  # [N]: class names (str objects, as onnxruntime returns them) or float64 (regression)
    probabilities: np.ndarray | None = None  # [N, n_classes] float32, classification only


class OnnxModel:
    """An InferenceSession plus the input contract of evergreen.contracts.ColumnSchema, and a binary
    classifier's decision threshold: with one, its labels are evergreen.thresholds.labels of its
    probabilities, not the graph's argmax label (no threshold: the graph's label, as exported)."""

    def __init__(self, data: bytes, *, numeric: list[str], categorical: list[str], classes: list[str] | None,
                 expected_sha256: str | None = None, threshold: float | None = None) -> None:
        check_model_bytes(data, expected_sha256)
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # Lambda: 1-2 vCPUs; one thread avoids spin-up cost per call
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
        self.numeric = list(numeric)
        self.categorical = list(categorical)
        self.classes = list(classes) if classes else None
        self.threshold = thresholds.checked(threshold, self.classes)
        self._input_names = {i.name for i in self.session.get_inputs()}

    def run(self, numeric: np.ndarray | None, categorical: np.ndarray | None) -> Prediction:
        """Run the session on the ColumnSchema feeds: float32 "numeric" [N, k], str "categorical" [N, m].

        Feeds already of those types (evergreen.features and evergreen.serving.feeds make them) go to
        onnxruntime as they are; onnxruntime reads a str object array directly."""
        feeds: dict[str, np.ndarray] = {}
        if "numeric" in self._input_names:
            feeds["numeric"] = np.asarray(numeric, dtype=np.float32)
        if "categorical" in self._input_names:
            feeds["categorical"] = np.asarray(categorical, dtype=object)
        outputs = self.session.run(None, feeds)
        labels = np.asarray(outputs[0]).reshape(-1)
        if self.classes is None:
            return Prediction(labels=labels.astype(np.float64), probabilities=None)
        proba = np.asarray(outputs[1], dtype=np.float32) if len(outputs) > 1 else None
        if self.threshold is not None:
            labels = thresholds.labels(proba, self.classes, self.threshold)
        return Prediction(labels=labels, probabilities=proba)
