"""Build, fit and score scikit-learn Pipelines that export to ONNX with parity (training layer only).

Every Pipeline takes ``evergreen.data.model_matrix``: a 2-D object array, numeric columns first
(float32-exact floats, NaN for missing) then categorical columns (str, "" for missing). Its
ColumnTransformer selects columns by INTEGER position, which skl2onnx maps onto the ONNX inputs
"numeric" [N, k] and "categorical" [N, m] in that order (see evergreen.export).

Preprocessing per family (FACTS, "scikit-learn -> ONNX"):
  - linear models (logistic_regression, ridge): numeric SimpleImputer(median) + StandardScaler;
  - trees (decision_tree, random_forest, extra_trees): numeric SimpleImputer(median), no scaler
    (a float32 scaler in ONNX would move values across split thresholds), never raw NaN (the ONNX
    converter drops the trees' missing-value direction);
  - hist_gradient_boosting: raw numerics with NaN ("passthrough"; it learns where missing values
    go and converts exactly; after imputer + scaler it does not) and never native categoricals;
  - every family: categorical SimpleImputer(missing_values="", most_frequent) +
    OneHotEncoder(handle_unknown="ignore"), so unseen categories become all-zero rows; linear models
    take it as a sparse matrix (one stored value per cell instead of the one-hot width: 3-6 bytes per
    model cell at fit time instead of 18-20, BENCHMARKS.md), trees and boosting dense.

Serving-size caps (ONNX size and session load time grow with nodes; FACTS: a full-depth 100-tree
forest is 31 MB and loads in 0.76 s) live with every other parameter rule in evergreen.spec.PARAMS:
trees and forests default to max_depth=12 and never exceed MAX_DEPTH=16 (None means 16); forests
default to 100 trees, at most MAX_ESTIMATORS=200; hist_gradient_boosting at most MAX_BOOSTING_ITER=500
iterations. A larger value is refused (at spec validation, and again here), never lowered;
``resolve_params`` gives the parameters actually used (FitResult.params).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from threadpoolctl import threadpool_limits

from evergreen import compute, metrics, thresholds
from evergreen.contracts import ColumnSchema
from evergreen.data import Frame, concat_frames, model_matrix
from evergreen.features import vocabulary
from evergreen.metrics import score
from evergreen.spec import (  # the caps are defined once, in spec.py; re-exported here
    DEFAULT_BOOSTING_ITER,
    DEFAULT_MAX_DEPTH,
    DEFAULT_N_ESTIMATORS,
    MAX_BOOSTING_ITER,
    MAX_DEPTH,
    MAX_ESTIMATORS,
    MAX_LEAF_NODES,
    PARAMS,
    Candidate,
    DataSpec,
    check_params,
)

_ESTIMATORS: dict[tuple[str, str], type] = {
    ("logistic_regression", "classification"): LogisticRegression,
    ("ridge", "regression"): Ridge,
    ("decision_tree", "classification"): DecisionTreeClassifier,
    ("decision_tree", "regression"): DecisionTreeRegressor,
    ("random_forest", "classification"): RandomForestClassifier,
    ("random_forest", "regression"): RandomForestRegressor,
    ("extra_trees", "classification"): ExtraTreesClassifier,
    ("extra_trees", "regression"): ExtraTreesRegressor,
    ("hist_gradient_boosting", "classification"): HistGradientBoostingClassifier,
    ("hist_gradient_boosting", "regression"): HistGradientBoostingRegressor,
}
_TREES = {"decision_tree", "random_forest", "extra_trees"}
_LINEAR = {"logistic_regression", "ridge"}
_FORESTS = {"random_forest", "extra_trees"}


@dataclass
class FitResult:
    pipeline: Pipeline | None  # None: a cross-validated trial keeps no model (evergreen.cross_validation)
    validation_score: float | None  # None: a winner fitted on train + validation (fit_winner) has no rows left
    fit_seconds: float
    params: dict[str, Any] = field(default_factory=dict)  # the estimator parameters actually used
    threshold: float | None = None  # binary classifiers: tuned on validation (evergreen.thresholds); else None
    predict_seconds: float | None = None  # scoring: the predictions, the threshold's tuning and the metric
    scored_rows: int = 0  # the rows validation_score was computed on
    training_rows: int = 0  # the rows the pipeline was fitted on
    cv_std: float | None = None  # cross-validation (evergreen.cross_validation): the folds' scores' std
    cv_folds: int | None = None


def resolve_params(family: str, params: dict[str, Any], problem_type: str | None = None) -> dict[str, Any]:
    """The grid's params with Evergreen's defaults applied and a None that means a cap resolved to it.
    Raises ValueError naming every param the spec rules refuse (unknown, wrong type, out of range, over
    a serving-size cap); `problem_type` also refuses classification-only params for regression."""
    problems = check_params(family, problem_type, params)
    if problems:
        raise ValueError("; ".join(problems))
    rules = PARAMS[family][1]
    out = {k: rules[k].high if v is None and rules[k].null_means_cap else v for k, v in params.items()}
    if family == "logistic_regression":
        out.setdefault("max_iter", 1000)
    if family in _TREES:
        out.setdefault("max_depth", DEFAULT_MAX_DEPTH)
    if family in _FORESTS:
        out.setdefault("n_estimators", DEFAULT_N_ESTIMATORS)
    if family == "hist_gradient_boosting":
        out.setdefault("max_iter", DEFAULT_BOOSTING_ITER)
    return out


def _categorical_steps(categories: list[list[str]] | None, sparse: bool) -> Pipeline:
    """Missing -> the commonest value; one-hot over `categories` per column (None: every value seen),
    all-zero for any other value, as for one never seen. `sparse`: a CSR matrix (linear models take
    it as is: one stored value per categorical cell instead of the one-hot width)."""
    return Pipeline([
        ("impute", SimpleImputer(missing_values="", strategy="most_frequent")),
        ("onehot", OneHotEncoder(categories=categories or "auto", handle_unknown="ignore", sparse_output=sparse)),
    ])


def _numeric_steps(family: str) -> Any:
    if family == "hist_gradient_boosting":
        return "passthrough"
    impute = SimpleImputer(strategy="median")
    if family in _TREES:
        return impute
    return Pipeline([("impute", impute), ("scale", StandardScaler())])


def build_pipeline(family: str, params: dict[str, Any], schema: ColumnSchema, random_state: int,
                   categories: list[list[str]] | None = None) -> Pipeline:
    """An unfitted Pipeline("prep": ColumnTransformer, "model": estimator) for `family`; `categories`:
    the one-hot vocabulary of each categorical column (see ``vocabularies``)."""
    key = (family, schema.problem_type)
    if key not in _ESTIMATORS:
        raise ValueError(f"family {family!r} does not do {schema.problem_type}")
    k, m = len(schema.numeric), len(schema.categorical)
    transformers = []
    if k:
        transformers.append(("numeric", _numeric_steps(family), list(range(k))))
    sparse = family in _LINEAR
    if m:
        transformers.append(("categorical", _categorical_steps(categories, sparse), list(range(k, k + m))))
    if not transformers:
        raise ValueError("the schema has no feature columns")
    estimator_params = resolve_params(family, params, schema.problem_type)
    estimator_params["random_state"] = random_state
    if family in _FORESTS:
        estimator_params["n_jobs"] = compute.threads()
    if family == "hist_gradient_boosting":
        estimator_params["categorical_features"] = None  # native categoricals do not convert (FACTS)
    estimator = _ESTIMATORS[key](**estimator_params)
    prep = ColumnTransformer(transformers, remainder="drop", sparse_threshold=1.0 if sparse else 0.0)
    return Pipeline([("prep", prep), ("model", estimator)])


def _fit_target(frame: Frame, schema: ColumnSchema) -> np.ndarray:
    if schema.problem_type == "classification":
        return frame.target.astype(str).astype(object)
    return frame.target.astype(np.float64)


def empty_columns(frame: Frame, schema: ColumnSchema) -> list[str]:
    """Feature columns with no non-missing value in `frame` (infer_schema leaves out columns that
    are empty in the whole upload; this catches one that is empty in a split)."""
    empty = [n for n in schema.numeric if not np.any(~np.isnan(frame.columns[n]))]
    return empty + [n for n in schema.categorical if not np.any(frame.columns[n] != "")]


def vocabularies(train: Frame, schema: ColumnSchema, max_categories: int) -> list[list[str]]:
    """Per categorical column, its `max_categories` commonest training values (sorted): the one-hot
    width, and so the memory of every candidate, is bounded whatever the column's cardinality."""
    return [sorted(vocabulary(train.columns[name].tolist(), max_categories)) for name in schema.categorical]


def fit_pipeline(candidate: Candidate, train: Frame, schema: ColumnSchema, random_state: int,
                 max_categories: int = DataSpec().max_categories) -> tuple[Pipeline, float]:
    """(the candidate's Pipeline fitted on `train`, its fit seconds). Raises ValueError when a feature
    column has no value in `train` or `train` lacks one of the schema's classes."""
    empty = empty_columns(train, schema)
    if empty:
        raise ValueError(f"columns {empty} have no values in the training rows; imputers cannot be fitted on them")
    if schema.problem_type == "classification":
        present = sorted(set(train.target.tolist()))
        if present != list(schema.classes or []):
            raise ValueError(
                f"the training rows have classes {present} but the schema has {schema.classes}; "
                "every class must appear in them (split_frame and sample_frame guarantee it)"
            )
    pipeline = build_pipeline(candidate.family, candidate.params, schema, random_state,
                              vocabularies(train, schema, max_categories) if schema.categorical else None)
    started = time.perf_counter()
    with threadpool_limits(limits=compute.threads()):  # OpenMP (HistGB) and BLAS, as n_jobs for forests
        pipeline.fit(model_matrix(train, schema), _fit_target(train, schema))
    seconds = time.perf_counter() - started
    if schema.problem_type == "classification" and [str(c) for c in pipeline.classes_] != schema.classes:
        raise ValueError(f"the fitted classes {list(pipeline.classes_)} differ from the schema's {schema.classes}")
    return pipeline, seconds


def fit_candidate(
    candidate: Candidate, train: Frame, validation: Frame, schema: ColumnSchema, metric: str, random_state: int,
    max_categories: int = DataSpec().max_categories,
) -> FitResult:
    """Fit one candidate on train and score it on validation with `metric`; a binary classifier's
    decision threshold is tuned on validation first (evergreen.thresholds.tune) and scored with."""
    pipeline, seconds = fit_pipeline(candidate, train, schema, random_state, max_categories)
    started = time.perf_counter()
    validation_score, threshold = score_validation(pipeline, validation, schema, metric)
    predict_seconds = time.perf_counter() - started
    return FitResult(
        pipeline=pipeline,
        validation_score=validation_score,
        fit_seconds=seconds,
        params=resolve_params(candidate.family, candidate.params, schema.problem_type),
        threshold=threshold,
        predict_seconds=predict_seconds,
        scored_rows=validation.n_rows,
        training_rows=train.n_rows,
    )


def fit_winner(
    candidate: Candidate, train: Frame, validation: Frame, schema: ColumnSchema, metric: str, random_state: int,
    max_categories: int, *, cross_validated: bool, threshold: float | None,
) -> FitResult:
    """The search winner's fit on every row its search drew from; RefitFunction and the SageMaker
    training job (evergreen.sagemaker_entry) both run it.
      - scored on the validation split: fitted on the training split, its threshold tuned again on
        validation (fit_candidate), since a threshold belongs to the model it was tuned for;
      - cross-validated (small data): fitted on train + validation, keeping `threshold`, the one
        tuned out of fold (evergreen.cross_validation): no row is left to tune it on, so
        validation_score is None."""
    if not cross_validated:
        return fit_candidate(candidate, train, validation, schema, metric, random_state, max_categories)
    rows = concat_frames(train, validation)
    pipeline, seconds = fit_pipeline(candidate, rows, schema, random_state, max_categories)
    return FitResult(pipeline=pipeline, validation_score=None, fit_seconds=seconds,
                     params=resolve_params(candidate.family, candidate.params, schema.problem_type),
                     threshold=threshold, training_rows=rows.n_rows)


def score_validation(pipeline: Pipeline, validation: Frame, schema: ColumnSchema,
                     metric: str) -> tuple[float, float | None]:
    """(`metric` on validation, the decision threshold the model will answer with) from one prediction
    of validation. A binary classifier's threshold is tuned on all of validation
    (evergreen.thresholds.tune); its score is cross-fitted (metrics.cross_fitted_scores): each half of
    validation is labelled with the threshold tuned on the other half, and the halves averaged. The
    threshold is None for multiclass and regression."""
    labels, proba = predict(pipeline, validation, schema)
    threshold = thresholds.tune(validation.target, proba, schema.classes, metric)
    if threshold is None:
        return score(metric, validation.target, labels, proba, schema.classes), None
    parts = metrics.halves(validation.target)
    return float(np.mean(metrics.cross_fitted_scores(metric, validation.target, proba, schema.classes, parts))), threshold


def predict(pipeline: Pipeline, frame: Frame, schema: ColumnSchema,
            threshold: float | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(labels, probabilities): str labels and float64 [N, n_classes] in schema.classes order for
    classifiers, the labels made from the probabilities by evergreen.thresholds.labels (`threshold`:
    a binary classifier's; None: the argmax, which is what the Pipeline's own predict returns);
    float64 predictions and None for regressors."""
    matrix = model_matrix(frame, schema)
    if schema.problem_type == "classification":
        proba = np.asarray(pipeline.predict_proba(matrix), dtype=np.float64)
        return thresholds.labels(proba, schema.classes, threshold).astype(str), proba
    return np.asarray(pipeline.predict(matrix), dtype=np.float64).reshape(-1), None


def evaluate_pipeline(pipeline: Pipeline, frame: Frame, schema: ColumnSchema, metric: str,
                      threshold: float | None = None) -> float:
    """The Pipeline's `metric` on `frame`, labels by `threshold` (see ``predict``)."""
    labels, proba = predict(pipeline, frame, schema, threshold)
    return score(metric, frame.target, labels, proba, schema.classes)
