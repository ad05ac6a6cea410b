"""Train: fit one candidate configuration on its rung's sample, score it, record the trial, keep the
artifact (a cross-validated trial keeps none: see evergreen.cross_validation). The sample (a stratified sample of the training split, the same rows for every trial of a
rung: the last rung's is spec.search.sample_rows) bounds a trial's time and memory; RefitWinner fits
the winner on all of it. Scored on the validation split; on small data (spec.search.folds) by k-fold
cross-validation on train + validation instead, the sample then drawn from both
(evergreen.cross_validation).

A trial that would start once the search's budget is spent (its deadline passed, or the run's trials
have used spec.search.max_gb_seconds) is skipped: recorded, and returned as such (evergreen.search).

A candidate whose fit raises (a bad hyperparameter value, a degenerate split) is a failed trial,
returned as such: one bad candidate never fails the run. Storage errors still raise (and are retried).
"""

from __future__ import annotations

import time
import traceback
from datetime import UTC, datetime

from evergreen import compute, cross_validation, data, run_records, search, tracking, training
from evergreen.contracts import TrainInput, TrialResult
from evergreen.steps.common import dump_pipeline, load_split
from evergreen.storage import Stores, candidate_key


def search_rows(stores: Stores, inp: TrainInput) -> data.Frame:
    """The rows the trial fits on: the training split (with validation under cross-validation,
    spec.search.folds), sampled to the rung's size."""
    frame = load_split(stores, inp.dataset, "train")
    if inp.spec.search.folds(inp.dataset.rows):
        frame = data.concat_frames(frame, load_split(stores, inp.dataset, "validation"))
    rows = inp.sample_rows if inp.sample_rows is not None else inp.spec.search.sample_rows
    return data.sample_frame(frame, rows, inp.spec.split.seed, classification=inp.spec.problem_type == "classification")


def fit_trial(inp: TrainInput, stores: Stores) -> training.FitResult:
    """Fit and score the trial's candidate as Train does (tracking.reproduce_best_trial fits it again
    with this): cross-validated on its rows (evergreen.cross_validation) when the data is small, else
    fitted on its rows and scored on the validation split."""
    spec, rows = inp.spec, search_rows(stores, inp)
    folds = spec.search.folds(inp.dataset.rows)
    if folds:
        return cross_validation.cross_validate(inp.candidate, rows, inp.dataset.columns, spec.primary_metric, folds,
                                               random_state=spec.split.seed, max_categories=spec.data.max_categories)
    return training.fit_candidate(inp.candidate, rows, load_split(stores, inp.dataset, "validation"),
                                  inp.dataset.columns, spec.primary_metric, random_state=spec.split.seed,
                                  max_categories=spec.data.max_categories)


def trial_id(inp: TrainInput) -> str:
    """The trial's name in the run: its candidate's id, with the rung after the first (a configuration
    trains once per rung it reaches)."""
    return inp.candidate.candidate_id if inp.rung == 0 else f"{inp.candidate.candidate_id}-r{inp.rung}"


def run(inp: TrainInput, stores: Stores, memory_mb: int | None = None) -> TrialResult:
    """`memory_mb`: the function's memory (the Lambda context's), what the trial's GB-seconds are counted in."""
    started = time.perf_counter()
    metric = inp.spec.primary_metric
    base = {"candidate_id": inp.candidate.candidate_id, "family": inp.candidate.family,
            "params": inp.candidate.params, "metric": metric, "rung": inp.rung}
    if inp.deadline is not None:
        spent = run_records.trial_gb_seconds(stores.experiments, inp.run_id) if inp.spec.search.max_gb_seconds else 0.0
        reason = search.budget_spent(inp.spec, datetime.now(UTC), inp.deadline, spent)
        if reason is not None:
            trial = TrialResult(**base, status="skipped", error=reason)
            _record(stores, inp, trial)
            return trial
    try:
        fit = fit_trial(inp, stores)
    except Exception as exc:  # noqa: BLE001 - any fit failure is this candidate's failure, recorded with its reason
        trial = TrialResult(**base, status="failed", error=f"{type(exc).__name__}: {exc}",
                            gb_seconds=tracking.gb_seconds(time.perf_counter() - started, memory_mb))
        _record(stores, inp, trial, traceback.format_exc(limit=5))
        return trial

    key = None
    if fit.pipeline is not None:  # a cross-validated trial keeps none: RefitWinner fits the winner
        key = candidate_key(inp.model_name, inp.run_id, trial_id(inp))
        stores.put_bytes(stores.artifacts_bucket, key, dump_pipeline(fit.pipeline))
    trial = TrialResult(**base, status="ok", validation_score=fit.validation_score, cv_std=fit.cv_std,
                        cv_folds=fit.cv_folds, fit_seconds=round(fit.fit_seconds, 4), artifact_key=key,
                        trained_rows=fit.training_rows, threshold=fit.threshold,
                        fitted_params={**fit.params, "random_state": inp.spec.split.seed, "threads": compute.threads()},
                        predict_us_per_row=round(fit.predict_seconds / fit.scored_rows * 1e6, 3),
                        gb_seconds=tracking.gb_seconds(time.perf_counter() - started, memory_mb))
    _record(stores, inp, trial)
    return trial


def _record(stores: Stores, inp: TrainInput, trial: TrialResult, trace: str | None = None) -> None:
    """Every trial is tracked and comparable: same run, same data version, same metric, and the seed,
    code and library versions it ran with; its input, so tracking.reproduce_best_trial can fit it again.
    The input is one JSON string, not a map: nothing queries inside it, and it holds the whole spec, so
    as a map it was most of what every read of the run's trials deserialised."""
    run_records.record_trial(stores.experiments, {
        "run_id": inp.run_id, "model_name": inp.model_name, "dataset_version": inp.dataset.version,
        "seed": inp.spec.split.seed, "versions": tracking.versions(), "trial_input": inp.model_dump_json(),
        "traceback": trace, "trial_id": trial_id(inp), **trial.model_dump(mode="json"),
    })
