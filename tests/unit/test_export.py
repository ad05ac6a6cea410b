"""evergreen.export: every family converts and matches scikit-learn through OnnxModel, on data with
missing values and categories never seen in training; the parity gate fails what does not match."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import load_model_from_string

from evergreen import export as export_module
from evergreen.contracts import ColumnSchema
from evergreen.data import Frame, concat_frames, split_frame
from evergreen.export import (
    PROBA_TOLERANCE,
    REGRESSION_MAGNITUDE_TOLERANCE,
    REGRESSION_TOLERANCE,
    UNSEEN_CATEGORY,
    check_parity,
    onnx_schema,
    probe_frame,
    to_onnx,
)
from evergreen.spec import FAMILIES, Candidate
from evergreen.training import fit_candidate, predict

# odd tree counts: no exact 0.5 vote ties, so labels must agree on every row
SMALL = {"random_forest": {"n_estimators": 15}, "extra_trees": {"n_estimators": 15},
         "hist_gradient_boosting": {"max_iter": 40}}


def mixed_data(problem: str, n_classes: int = 2, n: int = 500, seed: int = 0) -> tuple[Frame, ColumnSchema]:
    """3 numeric (different scales, ~10% NaN) and 2 categorical (~8% missing) features."""
    rng = np.random.default_rng(seed)
    num = rng.normal(size=(n, 3)) * np.array([1.0, 50.0, 0.01]) + np.array([0.0, 200.0, 0.0])
    colour = rng.choice(["red", "green", "blue", "violet"], size=n)
    kind = rng.choice(["x", "y", "z"], size=n)
    signal = num[:, 0] + (num[:, 1] - 200) / 50 * (colour == "red") - 100 * num[:, 2] * (kind == "x") + rng.normal(0, 0.3, n)
    num = num.astype(np.float32)
    num[rng.random(num.shape) < 0.1] = np.nan
    colour[rng.random(n) < 0.08] = ""
    kind[rng.random(n) < 0.08] = ""
    if problem == "regression":
        target = 1000.0 + 30.0 * signal
        classes = None
    else:
        classes = [f"class {i}" for i in range(n_classes)]
        cuts = np.quantile(signal, np.linspace(0, 1, n_classes + 1)[1:-1])
        target = np.array(classes, dtype=object)[np.digitize(signal, cuts)]
    columns = {"n1": num[:, 0], "n2": num[:, 1], "n3": num[:, 2],
               "colour": colour.astype(object), "kind": kind.astype(object)}
    schema = ColumnSchema(numeric=["n1", "n2", "n3"], categorical=["colour", "kind"], target="y",
                          problem_type=problem, classes=classes)
    return Frame(columns=columns, target=target), schema


def fitted(family: str, frame: Frame, schema: ColumnSchema):
    classification = schema.problem_type == "classification"
    train, val, test = split_frame(frame, 0.2, 0.2, 0, classification)
    metric = "accuracy" if classification else "rmse"
    result = fit_candidate(Candidate(candidate_id="c0", family=family, params=SMALL.get(family, {})),
                           train, val, schema, metric, 0)
    return result.pipeline, concat_frames(test, probe_frame(test, schema, seed=1))


CASES = [(family, problem, n_classes)
         for family, (kinds, _) in FAMILIES.items()
         for problem, n_classes in (("classification", 2), ("classification", 3), ("regression", 0))
         if problem in kinds]


@pytest.mark.parametrize("family,problem,n_classes", CASES, ids=[f"{f}-{p}-{k}" for f, p, k in CASES])
def test_every_family_converts_with_parity(family, problem, n_classes):
    frame, schema = mixed_data(problem, n_classes)
    pipeline, probe = fitted(family, frame, schema)
    assert np.isnan(probe.columns["n1"]).any() and (probe.columns["colour"] == UNSEEN_CATEGORY).any()
    onnx_bytes = to_onnx(pipeline, schema)
    report = check_parity(pipeline, onnx_bytes, probe, schema)
    assert report.passed, report
    assert report.rows == probe.n_rows
    if problem == "classification":
        assert report.tolerance == PROBA_TOLERANCE
        assert report.max_abs_diff < 1e-5
        assert report.label_agreement == 1.0
    else:
        assert report.label_agreement is None
        assert report.max_abs_diff < 1e-5 * 2000  # float32 output of values around 1000


@pytest.mark.parametrize("problem", ["classification", "regression"])
def test_graph_follows_the_input_and_output_contract(problem):
    frame, schema = mixed_data(problem, 3)
    pipeline, _ = fitted("hist_gradient_boosting", frame, schema)
    model = load_model_from_string(to_onnx(pipeline, schema))
    inputs = {i.name: i.type.tensor_type for i in model.graph.input}
    assert list(inputs) == ["numeric", "categorical"]
    assert [d.dim_value for d in inputs["numeric"].shape.dim][1] == 3
    assert [d.dim_value for d in inputs["categorical"].shape.dim][1] == 2
    outputs = [o.name for o in model.graph.output]
    assert outputs == (["label", "probabilities"] if problem == "classification" else ["variable"])
    opsets = {o.domain: o.version for o in model.opset_import}
    assert opsets[""] <= 22 and opsets.get("ai.onnx.ml", 0) <= 3
    assert onnx_schema(model.SerializeToString()) == schema


@pytest.mark.parametrize("keep", ["numeric", "categorical"])
@pytest.mark.parametrize("family", ["logistic_regression", "random_forest", "hist_gradient_boosting"])
def test_one_input_group_only(keep, family):
    frame, schema = mixed_data("classification")
    schema = schema.model_copy(update={"categorical": []} if keep == "numeric" else {"numeric": []})
    pipeline, probe = fitted(family, frame, schema)
    onnx_bytes = to_onnx(pipeline, schema)
    assert [i.name for i in load_model_from_string(onnx_bytes).graph.input] == [keep]
    assert check_parity(pipeline, onnx_bytes, probe, schema).passed


def test_gate_fails_a_model_that_does_not_match():
    frame, schema = mixed_data("classification")
    pipeline, probe = fitted("logistic_regression", frame, schema)
    other, _ = fitted("decision_tree", frame, schema)
    report = check_parity(pipeline, to_onnx(other, schema), probe, schema)
    assert not report.passed and report.max_abs_diff > 0.1 and report.label_agreement < 1.0


def flip_sklearn_labels(monkeypatch, rows):
    """scikit-learn's side of the gate answers the other class on `rows` (its probabilities unchanged)."""

    def flipped(pipeline, frame, schema, threshold=None):
        labels, proba = predict(pipeline, frame, schema, threshold)
        labels = labels.astype(object)
        for i in rows:
            labels[i] = schema.classes[1 - schema.classes.index(labels[i])]
        return labels, proba

    monkeypatch.setattr(export_module, "predict", flipped)


def test_label_disagreement_passes_only_on_ties(monkeypatch):
    frame, schema = mixed_data("classification")
    pipeline, probe = fitted("decision_tree", frame, schema)
    onnx_bytes = to_onnx(pipeline, schema)
    _, proba = predict(pipeline, probe, schema)
    decided = np.flatnonzero(np.abs(proba[:, 0] - 0.5) > 0.1)
    flip_sklearn_labels(monkeypatch, decided[:1])
    report = check_parity(pipeline, onnx_bytes, probe, schema)
    assert not report.passed and report.label_agreement < 1.0

    # rows tied at exactly 0.5/0.5 (as in an even-sized forest): either label is right
    tied = probe.take(np.arange(4))
    constant = Frame(columns=tied.columns, target=tied.target)

    class Tied:
        def predict_proba(self, matrix):
            return np.full((matrix.shape[0], 2), 0.5)

    flip_sklearn_labels(monkeypatch, [0, 1])
    report = check_parity(Tied(), onnx_bytes, constant, schema, tolerance=1.0)
    assert report.passed and report.label_agreement < 1.0


def test_parity_with_a_threshold_compares_the_labels_as_served(monkeypatch):
    frame, schema = mixed_data("classification")
    pipeline, probe = fitted("logistic_regression", frame, schema)
    onnx_bytes = to_onnx(pipeline, schema)
    _, proba = predict(pipeline, probe, schema)
    threshold = float(np.quantile(proba[:, 1], 0.3))  # far from 0.5: a third of the rows change label
    report = check_parity(pipeline, onnx_bytes, probe, schema, threshold=threshold)
    assert report.passed and report.label_agreement == 1.0

    # a disagreement on a row far from the threshold fails the gate; on a row at the threshold it passes
    far = int(np.argmax(np.abs(proba[:, 1] - threshold)))
    flip_sklearn_labels(monkeypatch, [far])
    assert not check_parity(pipeline, onnx_bytes, probe, schema, threshold=threshold).passed
    at = int(np.argmin(np.abs(proba[:, 1] - threshold)))
    on_it = float(proba[at, 1]) - 1e-6  # within the tolerance of its probability, beyond float32's rounding of it
    flip_sklearn_labels(monkeypatch, [at])
    report = check_parity(pipeline, onnx_bytes, probe, schema, threshold=on_it)
    assert report.passed and report.label_agreement < 1.0


def test_regression_tolerance_scales_with_the_target():
    frame, schema = mixed_data("regression")
    pipeline, probe = fitted("ridge", frame, schema)
    report = check_parity(pipeline, to_onnx(pipeline, schema), probe, schema)
    predictions, _ = predict(pipeline, probe, schema)
    expected = (REGRESSION_TOLERANCE * float(np.std(probe.target)) +
                REGRESSION_MAGNITUDE_TOLERANCE * float(np.max(np.abs(predictions))) + 1e-12)
    assert report.tolerance == pytest.approx(expected) and report.passed


def test_gate_catches_the_silent_forest_nan_misconversion():
    """FACTS: a forest fed raw NaN converts without error but drops missing_go_to_left."""
    from evergreen.data import model_matrix
    from evergreen.training import build_pipeline

    frame, schema = mixed_data("classification", n=1500)
    train, _, test = split_frame(frame, 0.2, 0.2, 0, True)
    pipeline = build_pipeline("random_forest", {"n_estimators": 15}, schema, 0)
    pipeline.named_steps["prep"].transformers[0] = ("numeric", "passthrough", [0, 1, 2])  # no imputer
    pipeline.fit(model_matrix(train, schema), train.target.astype(str))
    report = check_parity(pipeline, to_onnx(pipeline, schema), concat_frames(test, probe_frame(test, schema)), schema)
    assert not report.passed and report.max_abs_diff > 0.1
