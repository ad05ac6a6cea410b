"""RefitWinner: fit the best trial's configuration on every row the search draws from.

The trials were fitted on the search sample (evergreen.steps.train); ranking stays theirs. When the
sample was all the rows and the winner kept its model, that artifact is the final one and nothing is
fitted. Otherwise the winner is fitted again on every row, recorded as a trial of its own
("<candidate id>-refit"), and takes the winner's place in the trials Evaluate receives.

Which rows, and the decision threshold of a binary winner:
  - on the validation split (large data): the whole training split. The threshold is tuned again,
    on validation, with the refit model (training.fit_winner does both): a threshold belongs to the
    probabilities it cuts, and a model fitted on more rows gives other ones (a forest's leaves hold
    other counts, a linear model moves its intercept). Validation stays out of the fit so that it
    can tune the threshold on rows the model never saw; next to the training split it adds few rows;
  - under cross-validation (small data, spec.search.folds): train + validation, keeping the trial's
    threshold, tuned on out-of-fold probabilities of fits on (k-1)/k of these rows. A cross-validated
    trial keeps no model (evergreen.cross_validation), so the winner is always fitted here.

The fit runs here (``run``, in RefitFunction) or, when ingest planned it beyond Lambda's memory
(RunContext.refit), in a SageMaker training job: ``prepare_sagemaker`` ships the program and returns
the job's request, the state machine runs it (createTrainingJob.sync), ``collect_sagemaker`` takes
its pipeline.joblib in as the refit artifact.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from typing import Any

from evergreen import run_records, sagemaker_refit, tracking, training
from evergreen.contracts import Candidate, RefitInput, RunContext, SageMakerRefitInput, TrialResult
from evergreen.evaluation import rank_trials
from evergreen.steps.common import dump_pipeline, load_split
from evergreen.storage import Stores, refit_key, sagemaker_code_key, sagemaker_output_prefix


def run(inp: RefitInput, stores: Stores, memory_mb: int | None = None) -> list[TrialResult]:
    """Fit the winner on every row the search draws from here, when the trials used a sample.
    `memory_mb`: the function's memory (the Lambda context's), what the refit's GB-seconds are counted in."""
    started = time.perf_counter()
    spec, dataset = inp.run.spec, inp.run.dataset
    best = rank_trials(inp.trials, spec.higher_is_better)[0]
    if best.artifact_key is not None and best.trained_rows >= spec.search.search_rows(dataset.rows):
        return inp.trials
    fit = fit_on_search_rows(stores, inp.run, best)
    return _take_refit(inp, stores, best, dump_pipeline(fit.pipeline), fit.training_rows, fit.validation_score,
                       fit.fit_seconds, fit.threshold,
                       gb_seconds=tracking.gb_seconds(time.perf_counter() - started, memory_mb))


def fit_on_search_rows(stores: Stores, run: RunContext, trial: TrialResult) -> training.FitResult:
    """`trial`'s configuration fitted on every row its search drew from (training.fit_winner): the
    winner here, a runner-up Export falls back to (cross-validated trials keep no model)."""
    spec, dataset = run.spec, run.dataset
    return training.fit_winner(Candidate(candidate_id=trial.candidate_id, family=trial.family, params=trial.params),
                               load_split(stores, dataset, "train"), load_split(stores, dataset, "validation"),
                               dataset.columns, spec.primary_metric, spec.split.seed, spec.data.max_categories,
                               cross_validated=bool(spec.search.folds(dataset.rows)), threshold=trial.threshold)


def _take_refit(inp: RefitInput, stores: Stores, best: TrialResult, pipeline: bytes, rows: int,
                validation_score: float | None, fit_seconds: float, threshold: float | None,
                where: str | None = None, gb_seconds: float | None = None) -> list[TrialResult]:
    """Store the refit pipeline, record it as a trial with the threshold tuned for it, and put it in
    the winner's place."""
    key = refit_key(inp.run.model_name, inp.run.run_id)
    stores.put_bytes(stores.artifacts_bucket, key, pipeline)
    refit = best.model_copy(update={"artifact_key": key, "trained_rows": rows, "refit_validation_score": validation_score,
                                    "fit_seconds": round(fit_seconds, 4), "threshold": threshold,
                                    "gb_seconds": gb_seconds})
    run_records.record_trial(stores.experiments, {
        "run_id": inp.run.run_id, "model_name": inp.run.model_name, "dataset_version": inp.run.dataset.version,
        "seed": inp.run.spec.split.seed, "versions": tracking.versions(), **refit.model_dump(mode="json"),
        "candidate_id": f"{best.candidate_id}-refit", "fitted_by": where})
    return [refit if t.candidate_id == best.candidate_id else t for t in inp.trials]


def prepare_sagemaker(inp: SageMakerRefitInput, stores: Stores, role_arn: str, image: str) -> dict[str, Any]:
    """The winner's CreateTrainingJob request; the program bundle is put once per content."""
    best = rank_trials(inp.trials, inp.run.spec.higher_is_better)[0]
    bundle, digest = sagemaker_refit.source_bundle()
    key = sagemaker_code_key(digest)
    if not stores.exists(stores.artifacts_bucket, key):
        stores.put_bytes(stores.artifacts_bucket, key, bundle, "application/gzip")
    output = sagemaker_output_prefix(inp.run.model_name, inp.run.run_id)
    request = sagemaker_refit.job_request(inp.run, best, f"s3://{stores.artifacts_bucket}/{key}",
                                          f"s3://{stores.artifacts_bucket}/{output}")
    return {**request, "RoleArn": role_arn,
            "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"}}


def collect_sagemaker(inp: SageMakerRefitInput, stores: Stores) -> list[TrialResult]:
    """The finished job's model.tar.gz (pipeline.joblib, metrics.json: its validation score and the
    threshold tuned for it) as the refit artifact."""
    best = rank_trials(inp.trials, inp.run.spec.higher_is_better)[0]
    uri = ((inp.job or {}).get("ModelArtifacts") or {}).get("S3ModelArtifacts", "")
    prefix = f"s3://{stores.artifacts_bucket}/{sagemaker_output_prefix(inp.run.model_name, inp.run.run_id)}"
    if not uri.startswith(prefix):
        raise ValueError(f"training job {inp.job and inp.job.get('TrainingJobName')!r} wrote {uri!r}, not under {prefix}")
    with tarfile.open(fileobj=io.BytesIO(stores.get_bytes(stores.artifacts_bucket, uri.removeprefix(
            f"s3://{stores.artifacts_bucket}/"))), mode="r:gz") as tar:
        pipeline = tar.extractfile("pipeline.joblib").read()
        metrics = json.loads(tar.extractfile("metrics.json").read())
    return _take_refit(inp, stores, best, pipeline, metrics["trained_rows"], metrics["validation_score"],
                       metrics["fit_seconds"], metrics["threshold"],
                       where=f"SageMaker training job {inp.job.get('TrainingJobName')}")
