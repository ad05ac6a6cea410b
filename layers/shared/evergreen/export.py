"""Export a fitted Pipeline to ONNX and prove parity with scikit-learn (training layer only).

The ONNX graph follows the contract in evergreen.contracts.ColumnSchema: inputs "numeric"
(float32 [N, k], NaN = missing) and "categorical" (string [N, m], "" = missing), each omitted when
empty; outputs "label" and "probabilities" (classifiers, no ZipMap, columns in schema.classes
order) or "variable" ([N, 1] float32, regressors). evergreen.onnx_model.OnnxModel runs it.

Parity gate (``check_parity``), run on the data given (the test split, ideally with
``probe_frame`` rows appended so missing values and unseen categories are exercised):
  - classification: max |p_onnx - p_sklearn| over all probabilities <= tolerance
    (PROBA_TOLERANCE = 1e-4 by default; measured differences are ~1e-7, and the silent
    mis-conversions in FACTS are >= 1e-2). A row whose labels differ is accepted only when it is a
    tie (see below).
    Forests with an even number of trees produce exact 0.5/0.5 votes; scikit-learn's argmax takes
    the first class while ONNX sums float32 votes and may land on either side. A disagreeing row
    passes when scikit-learn's probabilities of both labels are within `tolerance` of its top
    probability; such rows lower label_agreement but do not fail the gate, any other does.
    A binary classifier with a decision threshold is compared as it is served: both sides label by
    evergreen.thresholds.labels, and a disagreeing row passes when scikit-learn's P(classes[1]) is
    within `tolerance` of the threshold (float32 probabilities may land on either side of it).
  - regression: max |y_onnx - y_sklearn| <= tolerance * std(target of the frame) +
    REGRESSION_MAGNITUDE_TOLERANCE * max |y_sklearn| (tolerance defaults to
    REGRESSION_TOLERANCE = 1e-4). The first term makes the gate independent of the target's units;
    the second allows for the float32 output (relative precision 6e-8, summed over many trees).
    The report's `tolerance` is that absolute bound.
"""

from __future__ import annotations

import json
import time
import warnings

import numpy as np
from onnx import load_model_from_string
from sklearn.base import is_classifier
from sklearn.pipeline import Pipeline
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType

from evergreen.contracts import ColumnSchema, ParityReport
from evergreen.data import Frame, model_inputs
from evergreen.onnx_model import OnnxModel
from evergreen.training import predict

# ai.onnx 17 and ai.onnx.ml 3 convert every family (onnxruntime 1.32 refuses ai.onnx >= 23).
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
PROBA_TOLERANCE = 1e-4
REGRESSION_TOLERANCE = 1e-4
REGRESSION_MAGNITUDE_TOLERANCE = 1e-5
UNSEEN_CATEGORY = "__evergreen_unseen__"
SCHEMA_METADATA_KEY = "evergreen.schema"


def initial_types(schema: ColumnSchema) -> list[tuple[str, object]]:
    types: list[tuple[str, object]] = []
    if schema.numeric:
        types.append(("numeric", FloatTensorType([None, len(schema.numeric)])))
    if schema.categorical:
        types.append(("categorical", StringTensorType([None, len(schema.categorical)])))
    return types


def to_onnx(pipeline: Pipeline, schema: ColumnSchema) -> bytes:
    """Serialized ONNX model of a fitted Pipeline from evergreen.training.build_pipeline.

    The schema is stored in the model's metadata under "evergreen.schema" (JSON) for inspection;
    serving reads the schema from the registry, not from here.
    """
    estimator = pipeline.steps[-1][1]
    options = {id(estimator): {"zipmap": False}} if is_classifier(estimator) else None
    with warnings.catch_warnings():
        # skl2onnx writes booleans into AttributeProto.ints for HistGB; protobuf 6 warns, 7 refuses
        # (FACTS: pin protobuf<7). Known and pinned, so not worth a warning per conversion.
        warnings.filterwarnings(
            "ignore", message=r".*AttributeProto\.ints: Expected an int, got a boolean", category=DeprecationWarning
        )
        model = convert_sklearn(pipeline, initial_types=initial_types(schema), options=options, target_opset=TARGET_OPSET)
    entry = model.metadata_props.add()
    entry.key = SCHEMA_METADATA_KEY
    entry.value = schema.model_dump_json()
    return model.SerializeToString()


def onnx_schema(onnx_bytes: bytes) -> ColumnSchema | None:
    """The schema stored by ``to_onnx``, or None."""
    for entry in load_model_from_string(onnx_bytes).metadata_props:
        if entry.key == SCHEMA_METADATA_KEY:
            return ColumnSchema.model_validate(json.loads(entry.value))
    return None


def single_row_p50_ms(model: OnnxModel, frame: Frame, schema: ColumnSchema, rows: int = 200) -> float:
    """The median time, in ms, `model` takes to answer one row, over the first `rows` rows of `frame`
    sent one at a time after a warm-up call, as inference answers a single-record request."""
    feeds = model_inputs(frame.take(np.arange(min(rows, frame.n_rows))), schema)
    numeric, categorical = feeds.get("numeric"), feeds.get("categorical")

    def one(i: int) -> None:
        model.run(None if numeric is None else numeric[i:i + 1], None if categorical is None else categorical[i:i + 1])

    one(0)
    times = []
    for i in range(min(rows, frame.n_rows)):
        started = time.perf_counter()
        one(i)
        times.append(time.perf_counter() - started)
    return float(np.median(times) * 1000)


def probe_frame(frame: Frame, schema: ColumnSchema, seed: int = 0, rows: int = 200) -> Frame:
    """`rows` rows sampled from `frame` with ~30% of feature values made missing and ~30% of
    categorical values replaced by a category never seen in training. Append it to the parity data
    so the gate covers what serving will meet."""
    rng = np.random.default_rng(seed)
    sample = frame.take(rng.integers(0, frame.n_rows, size=rows))
    columns: dict[str, np.ndarray] = {}
    for name in schema.numeric:
        values = sample.columns[name].copy()
        values[rng.random(rows) < 0.3] = np.nan
        columns[name] = values
    for name in schema.categorical:
        values = sample.columns[name].copy()
        roll = rng.random(rows)
        values[roll < 0.3] = ""
        values[(roll >= 0.3) & (roll < 0.6)] = UNSEEN_CATEGORY
        columns[name] = values
    return Frame(columns=columns, target=sample.target)


def check_parity(
    pipeline: Pipeline, onnx_bytes: bytes, frame: Frame, schema: ColumnSchema, tolerance: float | None = None,
    threshold: float | None = None,
) -> ParityReport:
    """Compare OnnxModel(onnx_bytes) with the scikit-learn Pipeline on `frame`, both labelling by
    `threshold` when there is one (see module doc)."""
    model = OnnxModel(onnx_bytes, numeric=schema.numeric, categorical=schema.categorical, classes=schema.classes,
                      threshold=threshold)
    inputs = model_inputs(frame, schema)
    onnx = model.run(inputs.get("numeric"), inputs.get("categorical"))
    labels, proba = predict(pipeline, frame, schema, threshold)
    if schema.problem_type == "classification":
        tol = PROBA_TOLERANCE if tolerance is None else tolerance
        if onnx.probabilities is None or onnx.probabilities.shape != proba.shape:
            got = None if onnx.probabilities is None else onnx.probabilities.shape
            raise ValueError(f"ONNX probabilities have shape {got}; scikit-learn's have {proba.shape}")
        diff = float(np.max(np.abs(onnx.probabilities.astype(np.float64) - proba))) if proba.size else 0.0
        agree = onnx.labels == labels
        index = {c: j for j, c in enumerate(schema.classes or [])}
        unexplained = 0
        for i in np.flatnonzero(~agree):
            if threshold is not None:  # on the threshold (within tol): either label is its answer
                unexplained += int(abs(proba[i, 1] - threshold) > tol)
                continue
            # a tie: scikit-learn gives both labels its top probability (within tol)
            columns = [index.get(str(onnx.labels[i])), index.get(str(labels[i]))]
            if None in columns or min(proba[i, j] for j in columns) < proba[i].max() - tol:
                unexplained += 1
        agreement = float(agree.mean()) if agree.size else 1.0
        return ParityReport(
            rows=frame.n_rows, tolerance=tol, max_abs_diff=diff, label_agreement=agreement,
            passed=bool(diff <= tol and unexplained == 0),
        )
    rel = REGRESSION_TOLERANCE if tolerance is None else tolerance
    scale = float(np.std(frame.target.astype(np.float64))) if frame.n_rows else 0.0
    magnitude = float(np.max(np.abs(labels))) if labels.size else 0.0
    tol = rel * scale + REGRESSION_MAGNITUDE_TOLERANCE * magnitude + 1e-12
    diff = float(np.max(np.abs(onnx.labels - labels))) if labels.size else 0.0
    return ParityReport(rows=frame.n_rows, tolerance=tol, max_abs_diff=diff, label_agreement=None, passed=bool(diff <= tol))
