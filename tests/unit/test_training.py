"""evergreen.training (Pipelines per family) and evergreen.synthetic (the demo's concept drift)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from evergreen import thresholds
from evergreen.contracts import ColumnSchema
from evergreen.csvfile import read_table
from evergreen.data import Frame, build_frame, split_frame
from evergreen.schema import infer_schema
import evergreen.spec as spec_module
from evergreen.spec import Candidate, ModelSpec
from evergreen.synthetic import HEADER, make_churn, make_rare
from evergreen.training import (
    DEFAULT_MAX_DEPTH,
    MAX_BOOSTING_ITER,
    MAX_DEPTH,
    MAX_ESTIMATORS,
    MAX_LEAF_NODES,
    build_pipeline,
    evaluate_pipeline,
    fit_candidate,
    fit_winner,
    predict,
    resolve_params,
)

CHURN_SPEC = ModelSpec.model_validate({
    "name": "churn", "target": "churned", "problem_type": "classification", "primary_metric": "accuracy",
    "candidates": [{"family": "logistic_regression"}],
})


def churn_frame(n: int, seed: int, drift: float, schema: ColumnSchema | None = None) -> tuple[Frame, ColumnSchema]:
    table = read_table(make_churn(n, seed, drift), source="churn", text_columns=["churned"])
    schema = schema or infer_schema(table, CHURN_SPEC).schema
    return build_frame(table, schema).frame, schema


def candidate(family: str, **params) -> Candidate:
    return Candidate(candidate_id="c000", family=family, params=params)


def test_resolve_params_applies_defaults_and_resolves_null_to_the_cap():
    assert resolve_params("random_forest", {}) == {"max_depth": 12, "n_estimators": 100}
    assert resolve_params("extra_trees", {"n_estimators": MAX_ESTIMATORS, "max_depth": None}) == {
        "max_depth": MAX_DEPTH, "n_estimators": MAX_ESTIMATORS}
    assert resolve_params("decision_tree", {"max_depth": 4}) == {"max_depth": 4}
    assert resolve_params("hist_gradient_boosting", {}) == {"max_iter": 100}  # sklearn's own depth/leaf defaults
    assert resolve_params("hist_gradient_boosting", {"max_iter": MAX_BOOSTING_ITER, "max_depth": None, "max_leaf_nodes": None}) == {
        "max_iter": MAX_BOOSTING_ITER, "max_depth": MAX_DEPTH, "max_leaf_nodes": MAX_LEAF_NODES}
    assert resolve_params("logistic_regression", {"C": 2.0}) == {"C": 2.0, "max_iter": 1000}
    assert resolve_params("random_forest", {"class_weight": "balanced"}, "classification")["class_weight"] == "balanced"


@pytest.mark.parametrize("family,params,problem_type,message", [
    ("random_forest", {"alpha": 1}, None, r"does not take \['alpha'\]"),
    ("svm", {}, None, "unknown family 'svm'"),
    ("extra_trees", {"n_estimators": 1000}, None, r"n_estimators: at most 200 \(serving-size cap\), got 1000"),
    ("hist_gradient_boosting", {"max_iter": 5000}, None, "max_iter: at most 500"),
    ("decision_tree", {"max_depth": 17}, None, "max_depth: at most 16"),
    ("random_forest", {"max_depth": True}, None, "max_depth: must be an integer or null, got True"),
    ("logistic_regression", {"C": float("nan")}, None, "C: must be finite"),
    ("random_forest", {"class_weight": "balanced"}, "regression", "class_weight is only for classification"),
])
def test_resolve_params_refuses_what_the_spec_rules_refuse_never_lowers(family, params, problem_type, message):
    with pytest.raises(ValueError, match=message):
        resolve_params(family, params, problem_type)


def test_resolve_params_uses_the_spec_caps():
    assert (MAX_DEPTH, MAX_ESTIMATORS, MAX_BOOSTING_ITER, DEFAULT_MAX_DEPTH) == (
        spec_module.MAX_DEPTH, spec_module.MAX_ESTIMATORS, spec_module.MAX_BOOSTING_ITER, spec_module.DEFAULT_MAX_DEPTH)
    assert spec_module.PARAMS["random_forest"][1]["n_estimators"].high == MAX_ESTIMATORS


SCHEMA = ColumnSchema(numeric=["a", "b"], categorical=["c"], target="y", problem_type="classification", classes=["n", "y"])


def steps_of(pipeline: Pipeline) -> dict[str, object]:
    return {name: steps for name, steps, _ in pipeline.named_steps["prep"].transformers}


def test_preprocessing_per_family_uses_integer_columns():
    linear = build_pipeline("logistic_regression", {}, SCHEMA, random_state=3)
    prep = linear.named_steps["prep"]
    assert [cols for _, _, cols in prep.transformers] == [[0, 1], [2]]
    numeric = steps_of(linear)["numeric"]
    assert isinstance(numeric.steps[0][1], SimpleImputer) and numeric.steps[0][1].strategy == "median"
    assert isinstance(numeric.steps[1][1], StandardScaler)
    categorical = steps_of(linear)["categorical"]
    imputer, encoder = categorical.steps[0][1], categorical.steps[1][1]
    assert (imputer.missing_values, imputer.strategy) == ("", "most_frequent")
    assert isinstance(encoder, OneHotEncoder) and encoder.handle_unknown == "ignore"
    assert encoder.sparse_output is True and prep.sparse_threshold == 1.0  # linear models take the one-hot as CSR
    assert linear.named_steps["model"].random_state == 3

    forest = build_pipeline("random_forest", {"n_estimators": MAX_ESTIMATORS}, SCHEMA, random_state=1)
    assert isinstance(steps_of(forest)["numeric"], SimpleImputer)  # trees never see raw NaN
    assert (forest.named_steps["model"].n_estimators, forest.named_steps["model"].max_depth) == (MAX_ESTIMATORS, 12)
    with pytest.raises(ValueError, match="n_estimators: at most 200"):  # over the cap: refused, not lowered
        build_pipeline("random_forest", {"n_estimators": 999}, SCHEMA, random_state=1)

    forest_encoder = steps_of(forest)["categorical"].steps[1][1]
    assert forest_encoder.sparse_output is False and forest.named_steps["prep"].sparse_threshold == 0.0  # trees: dense

    boosting = build_pipeline("hist_gradient_boosting", {}, SCHEMA, random_state=1)
    assert steps_of(boosting)["numeric"] == "passthrough"  # raw NaN: exact in ONNX (FACTS)
    assert boosting.named_steps["model"].categorical_features is None

    only_categorical = SCHEMA.model_copy(update={"numeric": []})
    assert [cols for _, _, cols in build_pipeline("ridge", {}, only_categorical.model_copy(
        update={"problem_type": "regression", "classes": None}), 0).named_steps["prep"].transformers] == [[0]]
    with pytest.raises(ValueError, match="does not do classification"):
        build_pipeline("ridge", {}, SCHEMA, 0)


def test_fit_candidate_classes_follow_schema_and_scores_validation():
    frame, schema = churn_frame(600, seed=1, drift=0.0)
    train, val, _ = split_frame(frame, 0.2, 0.2, 0, True)
    result = fit_candidate(candidate("hist_gradient_boosting", max_iter=30), train, val, schema, "accuracy", 0)
    assert list(result.pipeline.classes_) == schema.classes == ["no", "yes"]
    assert result.fit_seconds > 0 and result.params == {"max_iter": 30}
    labels, proba = predict(result.pipeline, val, schema)
    from evergreen import metrics, thresholds

    assert result.threshold == thresholds.tune(val.target, proba, schema.classes, "accuracy")  # tuned on all of it
    # scored cross-fitted: each half of validation with the threshold tuned on the other half
    halves = metrics.halves(val.target)
    assert sorted(np.concatenate(halves).tolist()) == list(range(val.n_rows))
    assert result.validation_score == pytest.approx(np.mean(metrics.cross_fitted_scores(
        "accuracy", val.target, proba, schema.classes, halves))) and result.validation_score > 0.75
    assert labels.dtype.kind == "U" and set(labels) <= {"no", "yes"}
    assert proba.shape == (val.n_rows, 2) and np.allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(labels, np.array(schema.classes)[proba.argmax(axis=1)])


def test_fit_candidate_refuses_a_train_split_without_every_class():
    frame, schema = churn_frame(200, seed=2, drift=0.0)
    only_no = frame.take(np.flatnonzero(frame.target == "no"))
    with pytest.raises(ValueError, match=r"the training rows have classes \['no'\]"):
        fit_candidate(candidate("logistic_regression"), only_no, frame, schema, "accuracy", 0)


def test_fit_candidate_names_columns_empty_in_train():
    frame, schema = churn_frame(200, seed=2, drift=0.0)
    frame.columns["age"][:] = np.nan
    frame.columns["contract"][:] = ""
    with pytest.raises(ValueError, match=r"columns \['age', 'contract'\] have no values in the training rows"):
        fit_candidate(candidate("logistic_regression"), frame, frame, schema, "accuracy", 0)


def rare_frame(n: int, seed: int) -> tuple[Frame, ColumnSchema]:
    spec = CHURN_SPEC.model_copy(update={"name": "fraud", "target": "fraud", "primary_metric": "balanced_accuracy"})
    table = read_table(make_rare(n, seed), source="fraud", text_columns=["fraud"])
    schema = infer_schema(table, spec).schema
    return build_frame(table, schema).frame, schema


def test_a_binary_fit_tunes_its_threshold_on_validation_and_is_scored_cross_fitted():
    frame, schema = rare_frame(3000, seed=0)
    train, val, test = split_frame(frame, 0.2, 0.2, 0, True)
    result = fit_candidate(candidate("logistic_regression"), train, val, schema, "balanced_accuracy", 0)
    _, proba = predict(result.pipeline, val, schema)
    assert result.threshold == thresholds.tune(val.target, proba, schema.classes, "balanced_accuracy") < 0.5
    in_sample = evaluate_pipeline(result.pipeline, val, schema, "balanced_accuracy", result.threshold)
    assert result.validation_score < in_sample  # tuned and scored on the same rows flatters the threshold
    # argmax answers the majority class: the threshold is worth 0.1 of balanced accuracy on the test split too
    tuned = evaluate_pipeline(result.pipeline, test, schema, "balanced_accuracy", result.threshold)
    assert tuned > evaluate_pipeline(result.pipeline, test, schema, "balanced_accuracy") + 0.1
    labels, _ = predict(result.pipeline, test, schema, result.threshold)
    _, test_proba = predict(result.pipeline, test, schema)
    np.testing.assert_array_equal(labels, np.where(test_proba[:, 1] > result.threshold, "yes", "no"))


def test_the_winner_refits_on_train_alone_or_under_cross_validation_on_train_and_validation():
    frame, schema = rare_frame(3000, seed=0)
    train, val, _ = split_frame(frame, 0.2, 0.2, 0, True)
    args = (candidate("logistic_regression"), train, val, schema, "balanced_accuracy", 0, 20)
    held_out = fit_winner(*args, cross_validated=False, threshold=0.3)
    assert held_out.training_rows == train.n_rows and held_out.validation_score is not None
    assert held_out.threshold == fit_candidate(*args).threshold != 0.3  # tuned again for the refit model
    pooled = fit_winner(*args, cross_validated=True, threshold=0.3)
    assert pooled.training_rows == train.n_rows + val.n_rows
    assert pooled.threshold == 0.3 and pooled.validation_score is None  # the out-of-fold one: no row is left


def test_multiclass_and_regression_fits_have_no_threshold():
    rng = np.random.default_rng(0)
    x = rng.normal(size=300).astype(np.float32)
    three = Frame(columns={"x": x}, target=np.array(["a", "b", "c"], dtype=object)[np.digitize(x, [-0.5, 0.5])])
    schema = ColumnSchema(numeric=["x"], categorical=[], target="y", problem_type="classification",
                          classes=["a", "b", "c"])
    assert fit_candidate(candidate("logistic_regression"), three, three, schema, "accuracy", 0).threshold is None
    numbers = Frame(columns={"x": x}, target=x.astype(np.float64))
    schema = ColumnSchema(numeric=["x"], categorical=[], target="y", problem_type="regression")
    assert fit_candidate(candidate("ridge"), numbers, numbers, schema, "rmse", 0).threshold is None


def test_regression_predict_returns_float64():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200).astype(np.float32)
    frame = Frame(columns={"x": x}, target=3.0 * x.astype(np.float64) + 1)
    schema = ColumnSchema(numeric=["x"], categorical=[], target="y", problem_type="regression")
    result = fit_candidate(candidate("ridge", alpha=0.001), frame, frame, schema, "r2", 0)
    labels, proba = predict(result.pipeline, frame, schema)
    assert proba is None and labels.dtype == np.float64 and labels.shape == (200,)
    assert result.validation_score > 0.999


# --- synthetic --------------------------------------------------------------------------------


def test_make_churn_is_deterministic_and_shaped():
    raw = make_churn(300, seed=5)
    assert raw == make_churn(300, seed=5) and raw != make_churn(300, seed=6)
    assert make_churn(300, seed=5, drift=1.0) != raw
    table = read_table(raw, source="churn")
    assert table.header == HEADER and table.n_rows == 300
    schema = infer_schema(table, CHURN_SPEC).schema
    assert len(schema.numeric) == 6 and schema.categorical == ["contract", "payment_method"]
    assert schema.classes == ["no", "yes"]
    assert np.isnan(table.columns["monthly_charges"].values).any()  # some values are missing
    with pytest.raises(ValueError):
        make_churn(10, seed=0, drift=1.5)


def test_make_rare_is_deterministic_with_the_share_of_positives_asked_for():
    raw = make_rare(3000, seed=1)
    assert raw == make_rare(3000, seed=1) and raw != make_rare(3000, seed=2)
    frame, schema = rare_frame(3000, seed=1)
    assert schema.classes == ["no", "yes"] and schema.categorical == ["channel"] and len(schema.numeric) == 5
    shares = [np.mean(rare_frame(3000, seed)[0].target == "yes") for seed in range(5)]
    assert 0.015 < min(shares) and max(shares) < 0.035 and abs(np.mean(shares) - 0.025) < 0.005
    with pytest.raises(ValueError):
        make_rare(10, seed=0, positive_share=0.5)


def test_concept_drift_breaks_the_old_model_but_not_a_retrained_one():
    before, schema = churn_frame(2000, seed=11, drift=0.0)
    after, _ = churn_frame(2000, seed=12, drift=1.0, schema=schema)
    test_before, _ = churn_frame(1500, seed=13, drift=0.0, schema=schema)
    test_after, _ = churn_frame(1500, seed=14, drift=1.0, schema=schema)
    old = fit_candidate(candidate("logistic_regression"), before, test_before, schema, "accuracy", 0)
    new = fit_candidate(candidate("logistic_regression"), after, test_after, schema, "accuracy", 0)
    assert old.validation_score >= 0.85
    assert 0.55 <= evaluate_pipeline(old.pipeline, test_after, schema, "accuracy") <= 0.72
    assert new.validation_score >= 0.85
