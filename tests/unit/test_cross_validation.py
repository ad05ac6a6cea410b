"""evergreen.cross_validation: k-fold scoring of a candidate on small data, checked against
scikit-learn's own cross-validation on the same folds."""

from __future__ import annotations

import numpy as np
import pytest
from evergreen import thresholds, training
from evergreen.contracts import ColumnSchema
from evergreen.cross_validation import cross_validate, folds_of
from evergreen.csvfile import read_table
from evergreen.data import Frame, build_frame, model_matrix
from evergreen.metrics import score
from evergreen.schema import infer_schema
from evergreen.spec import Candidate, ModelSpec, SearchSpec
from evergreen.synthetic import make_churn, make_rare
from sklearn.model_selection import StratifiedKFold, cross_val_predict, cross_val_score

LOGISTIC = Candidate(candidate_id="c000", family="logistic_regression", params={"C": 0.5})


def frame_of(raw: bytes, spec: dict) -> tuple[Frame, ColumnSchema]:
    table = read_table(raw, source="t", text_columns=[spec["target"]])
    schema = infer_schema(table, ModelSpec.model_validate(spec)).schema
    return build_frame(table, schema).frame, schema


@pytest.fixture(scope="module")
def churn():
    return frame_of(make_churn(600, seed=3), {"name": "churn", "target": "churned", "problem_type": "classification",
                                              "primary_metric": "accuracy"})


@pytest.fixture(scope="module")
def rare():
    return frame_of(make_rare(2000, seed=1), {"name": "fraud", "target": "fraud", "problem_type": "classification",
                                              "primary_metric": "balanced_accuracy"})


def test_the_spec_cross_validates_only_small_data():
    search = SearchSpec(cv_max_rows=1000, cv_folds=4)
    assert search.folds({"train": 600, "validation": 400}) == 4
    assert search.folds({"train": 601, "validation": 400}) is None
    assert search.search_rows({"train": 600, "validation": 400}) == 1000
    assert search.search_rows({"train": 601, "validation": 400}) == 601
    assert SearchSpec(cv_max_rows=0).folds({"train": 10, "validation": 5}) is None


def test_the_spec_cross_validates_data_whose_rarest_class_is_small():
    search = SearchSpec(cv_max_rows=1000, cv_min_class_rows=500, cv_max_rare_rows=20_000)
    rows = {"train": 12_000, "validation": 4_000}
    assert search.folds({**rows, "rarest_class": 400}) == 5  # 400 positives: ~80 in a validation split
    assert search.folds({**rows, "rarest_class": 500}) is None
    assert search.folds(rows) is None  # regression: no class to count
    assert search.folds({"train": 16_000, "validation": 4_001, "rarest_class": 10}) is None  # beyond cv_max_rare_rows
    assert SearchSpec(cv_min_class_rows=0).folds({**rows, "rarest_class": 1}) is None


def test_folds_are_stratified_and_fewer_when_a_class_is_too_rare(churn):
    frame, schema = churn
    splits = folds_of(frame, schema, 5, seed=0)
    assert len(splits) == 5
    assert sorted(np.concatenate([held for _, held in splits]).tolist()) == list(range(frame.n_rows))
    for fit_rows, _ in splits:
        assert sorted(set(frame.target[fit_rows].tolist())) == schema.classes
    few = frame.take(np.concatenate([np.flatnonzero(frame.target == "no"), np.flatnonzero(frame.target == "yes")[:3]]))
    assert len(folds_of(few, schema, 5, seed=0)) == 3
    single = frame.take(np.concatenate([np.flatnonzero(frame.target == "no"), np.flatnonzero(frame.target == "yes")[:1]]))
    with pytest.raises(ValueError, match="class 'yes' has 1 row"):
        folds_of(single, schema, 5, seed=0)


def scikit_learns(frame, schema, seed: int) -> tuple:
    """(pipeline, X, y, folds): the same candidate and folds, for scikit-learn's own cross-validation."""
    return (training.build_pipeline("logistic_regression", LOGISTIC.params, schema, seed), model_matrix(frame, schema),
            frame.target.astype(str), StratifiedKFold(n_splits=5, shuffle=True, random_state=seed))


def test_the_score_is_scikit_learns_cross_validation_on_the_same_folds(churn):
    frame, schema = churn
    fit = cross_validate(LOGISTIC, frame, schema, "accuracy", 5, random_state=7, max_categories=50)
    pipeline, X, y, folds = scikit_learns(frame, schema, 7)
    theirs = cross_val_score(pipeline, X, y, cv=folds, scoring="accuracy")
    assert fit.threshold == 0.5  # balanced classes: no gain of 2 standard errors, so the argmax, as scikit-learn's
    assert fit.validation_score == pytest.approx(theirs.mean(), abs=1e-12)
    assert fit.cv_std == pytest.approx(theirs.std(), abs=1e-12)
    assert fit.cv_folds == 5 and fit.training_rows == fit.scored_rows == frame.n_rows
    assert fit.pipeline is None  # only the search's winner is fitted on every row (RefitWinner)


def test_a_binary_threshold_is_tuned_on_the_out_of_fold_probabilities(rare):
    frame, schema = rare
    fit = cross_validate(LOGISTIC, frame, schema, "balanced_accuracy", 5, random_state=0, max_categories=50)
    pipeline, X, y, folds = scikit_learns(frame, schema, 0)
    proba = cross_val_predict(pipeline, X, y, cv=folds, method="predict_proba")
    expected = thresholds.tune(frame.target, proba, schema.classes, "balanced_accuracy")
    assert expected < 0.5 and fit.threshold == expected
    scores = []
    for _, held in folds.split(np.zeros(frame.n_rows), frame.target.astype(str)):
        others = np.setdiff1d(np.arange(frame.n_rows), held)  # each fold: a threshold tuned without it
        fold_threshold = thresholds.tune(frame.target[others], proba[others], schema.classes, "balanced_accuracy")
        scores.append(score("balanced_accuracy", frame.target[held],
                            thresholds.labels(proba[held], schema.classes, fold_threshold).astype(str), proba[held],
                            schema.classes))
    assert fit.validation_score == pytest.approx(np.mean(scores), abs=1e-9)
    in_sample = np.mean([score("balanced_accuracy", frame.target[held],
                               thresholds.labels(proba[held], schema.classes, expected).astype(str), proba[held],
                               schema.classes) for _, held in folds.split(np.zeros(frame.n_rows), frame.target.astype(str))])
    assert fit.validation_score <= in_sample  # the cross-fitted score pays for tuning; the in-sample one does not
    assert fit.validation_score > 0.6  # well above the 0.5 a majority-class answer gets


def test_regression_folds_and_score():
    frame, schema = frame_of(make_churn(400, seed=5), {"name": "tenure", "target": "tenure_months",
                                                       "problem_type": "regression", "primary_metric": "rmse"})
    ridge = Candidate(candidate_id="c000", family="ridge", params={"alpha": 1.0})
    fit = cross_validate(ridge, frame, schema, "rmse", 4, random_state=1, max_categories=50)
    from sklearn.model_selection import KFold

    theirs = cross_val_score(training.build_pipeline("ridge", ridge.params, schema, 1), model_matrix(frame, schema),
                             frame.target, cv=KFold(4, shuffle=True, random_state=1),
                             scoring="neg_root_mean_squared_error")
    assert fit.threshold is None and fit.cv_folds == 4
    assert fit.validation_score == pytest.approx(-theirs.mean(), rel=1e-9)
