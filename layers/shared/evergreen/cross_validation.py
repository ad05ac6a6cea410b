"""Score a candidate by k-fold cross-validation (training layer): how a search ranks on small data.

On a few thousand rows the validation split alone is a noisy judge: one validation row of a
250-row split is 0.4 points of accuracy, more than most differences between good configurations.
When train + validation hold at most ``spec.search.cv_max_rows`` rows (SearchSpec.folds), each
trial is scored instead on the rows of both, by ``spec.search.cv_folds``-fold cross-validation:
  - folds: StratifiedKFold for classification (every class in every fold's training part), KFold
    for regression; shuffled with the spec's seed, so every trial of a run sees the same folds;
  - the score: the mean of the folds' scores (and their standard deviation, recorded);
  - a binary classifier's decision threshold is tuned on the out-of-fold probabilities of all folds
    together (evergreen.thresholds.tune): every row is held out exactly once, so the threshold is
    tuned on as many rows as the search has, none of them seen by the model that predicted it. Each
    fold is scored with the threshold tuned on the other folds' out-of-fold probabilities (cross-
    fitted), so the score does not reward a threshold fitted to the rows it is scored on: on rare
    classes that bias favours poorly calibrated models, whose tuned threshold sits far from 0.5;
  - no artifact: a trial fits only its folds. The search's winner alone is fitted on all the rows
    (train + validation) with that threshold, by RefitWinner (training.fit_winner), as scikit-learn's
    search refits its best; a fit on all rows for every trial would add a sixth fit to each of five.
    The test split stays out of all of it: Evaluate and Export score on it alone.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from evergreen import thresholds, training
from evergreen.contracts import ColumnSchema
from evergreen.data import Frame
from evergreen.metrics import cross_fitted_scores, score
from evergreen.spec import Candidate


def folds_of(frame: Frame, schema: ColumnSchema, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(training rows, held-out rows) per fold. Classification: stratified, with as many folds as the
    rarest class has rows when that is fewer than `folds` (every fold's training part must hold every
    class); a class of a single row cannot be cross-validated (ValueError, naming it)."""
    if schema.problem_type != "classification":
        return list(KFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(frame.n_rows)))
    labels, counts = np.unique(frame.target.astype(str), return_counts=True)
    if counts.min() < 2:
        raise ValueError(f"class {str(labels[counts.argmin()])!r} has {counts.min()} row in the search's rows; "
                         "cross-validation needs at least 2 of every class")
    splitter = StratifiedKFold(n_splits=min(folds, int(counts.min())), shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(frame.n_rows), frame.target.astype(str)))


def cross_validate(candidate: Candidate, frame: Frame, schema: ColumnSchema, metric: str, folds: int,
                   random_state: int, max_categories: int) -> training.FitResult:
    """The candidate scored by `folds`-fold cross-validation on `frame` (see module doc); no pipeline
    (FitResult.pipeline None). fit_seconds and predict_seconds add up every fold's."""
    splits = folds_of(frame, schema, folds, random_state)
    classification = schema.problem_type == "classification"
    held_out = np.empty((frame.n_rows, len(schema.classes)), dtype=np.float64) if classification else None
    predictions = np.empty(frame.n_rows, dtype=np.float64)
    fit_seconds = predict_seconds = 0.0
    for train_rows, test_rows in splits:
        pipeline, seconds = training.fit_pipeline(candidate, frame.take(train_rows), schema, random_state,
                                                  max_categories)
        fit_seconds += seconds
        started = time.perf_counter()
        labels, proba = training.predict(pipeline, frame.take(test_rows), schema)
        predict_seconds += time.perf_counter() - started
        if classification:
            held_out[test_rows] = proba
        else:
            predictions[test_rows] = labels

    started = time.perf_counter()
    threshold = thresholds.tune(frame.target, held_out, schema.classes, metric) if classification else None
    held = [test_rows for _, test_rows in splits]
    if threshold is not None:  # each fold scored with the threshold tuned on the others
        scores = cross_fitted_scores(metric, frame.target, held_out, schema.classes, held)
    elif classification:
        scores = [score(metric, frame.target[rows], thresholds.labels(held_out[rows], schema.classes, None).astype(str),
                        held_out[rows], schema.classes) for rows in held]
    else:
        scores = [score(metric, frame.target[rows], predictions[rows], None, schema.classes) for rows in held]
    predict_seconds += time.perf_counter() - started

    return training.FitResult(
        pipeline=None,
        validation_score=float(np.mean(scores)),
        fit_seconds=fit_seconds,
        params=training.resolve_params(candidate.family, candidate.params, schema.problem_type),
        threshold=threshold,
        predict_seconds=predict_seconds,
        scored_rows=frame.n_rows,
        training_rows=frame.n_rows,
        cv_std=float(np.std(scores)),
        cv_folds=len(splits),
    )
