"""Train: fit one candidate configuration on the search sample, score it on validation, record the
trial, keep the artifact. The sample (spec.search.sample_rows of the training split, stratified, the
same rows for every trial) bounds a trial's time and memory; RefitWinner fits the winner on all of it.

A candidate whose fit raises (a bad hyperparameter value, a degenerate split) is a failed trial,
returned as such: one bad candidate never fails the run. Storage errors still raise (and are retried).
"""

from __future__ import annotations

import traceback

from evergreen import data, run_records, training
from evergreen.contracts import TrainInput, TrialResult
from evergreen.steps.common import dump_pipeline, load_split
from evergreen.storage import Stores, candidate_key


def search_sample(train: data.Frame, inp: TrainInput) -> data.Frame:
    return data.sample_frame(train, inp.spec.search.sample_rows, inp.spec.split.seed,
                             classification=inp.spec.problem_type == "classification")


def run(inp: TrainInput, stores: Stores) -> TrialResult:
    train = search_sample(load_split(stores, inp.dataset, "train"), inp)
    validation = load_split(stores, inp.dataset, "validation")
    metric = inp.spec.primary_metric
    base = {"candidate_id": inp.candidate.candidate_id, "family": inp.candidate.family,
            "params": inp.candidate.params, "metric": metric}
    try:
        fit = training.fit_candidate(inp.candidate, train, validation, inp.dataset.columns, metric,
                                     random_state=inp.spec.split.seed, max_categories=inp.spec.data.max_categories)
    except Exception as exc:  # noqa: BLE001 - any fit failure is this candidate's failure, recorded with its reason
        trial = TrialResult(**base, status="failed", error=f"{type(exc).__name__}: {exc}")
        _record(stores, inp, trial, traceback.format_exc(limit=5))
        return trial

    key = candidate_key(inp.model_name, inp.run_id, inp.candidate.candidate_id)
    stores.put_bytes(stores.artifacts_bucket, key, dump_pipeline(fit.pipeline))
    trial = TrialResult(**base, status="ok", validation_score=fit.validation_score,
                        fit_seconds=round(fit.fit_seconds, 4), artifact_key=key, trained_rows=train.n_rows)
    _record(stores, inp, trial)
    return trial


def _record(stores: Stores, inp: TrainInput, trial: TrialResult, trace: str | None = None) -> None:
    """Every trial is tracked and comparable: same run, same data version, same metric."""
    run_records.record_trial(stores.experiments, {
        "run_id": inp.run_id, "model_name": inp.model_name, "dataset_version": inp.dataset.version,
        "traceback": trace, **trial.model_dump(mode="json"),
    })
