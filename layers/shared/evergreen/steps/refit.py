"""RefitWinner: fit the best trial's configuration on the whole training split.

The trials were fitted on the search sample (evergreen.steps.train); ranking stays theirs. When the
sample was the whole split, the winner's artifact is already the final one and nothing is fitted.
Otherwise the winner is fitted again on every training row, scored on validation, recorded as a trial
of its own ("<candidate id>-refit"), and takes the winner's place in the trials Evaluate receives.

A binary winner's decision threshold is tuned again, on validation, with the refit model
(training.fit_candidate does it): a threshold belongs to the probabilities it cuts, and a model fitted
on more rows gives other ones (a forest's leaves hold other counts, a linear model moves its
intercept), so the trial's threshold would cut the refit model's probabilities in the wrong place.

The fit runs here (``run``, in RefitFunction) or, when ingest planned it beyond Lambda's memory
(RunContext.refit), in a SageMaker training job: ``prepare_sagemaker`` ships the program and returns
the job's request, the state machine runs it (createTrainingJob.sync), ``collect_sagemaker`` takes
its pipeline.joblib in as the refit artifact.
"""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

from evergreen import run_records, sagemaker_refit, training
from evergreen.contracts import Candidate, RefitInput, SageMakerRefitInput, TrialResult
from evergreen.evaluation import rank_trials
from evergreen.steps.common import dump_pipeline, load_split
from evergreen.storage import Stores, refit_key, sagemaker_code_key, sagemaker_output_prefix


def run(inp: RefitInput, stores: Stores) -> list[TrialResult]:
    """Fit the winner on every training row here, when the trials used a sample."""
    spec, dataset = inp.run.spec, inp.run.dataset
    best = rank_trials(inp.trials, spec.higher_is_better)[0]
    if best.trained_rows is None or best.trained_rows >= dataset.rows["train"]:
        return inp.trials
    train = load_split(stores, dataset, "train")
    validation = load_split(stores, dataset, "validation")
    candidate = Candidate(candidate_id=best.candidate_id, family=best.family, params=best.params)
    fit = training.fit_candidate(candidate, train, validation, dataset.columns, spec.primary_metric,
                                 random_state=spec.split.seed, max_categories=spec.data.max_categories)
    return _take_refit(inp, stores, best, dump_pipeline(fit.pipeline), train.n_rows, fit.validation_score,
                       fit.fit_seconds, fit.threshold)


def _take_refit(inp: RefitInput, stores: Stores, best: TrialResult, pipeline: bytes, rows: int,
                validation_score: float, fit_seconds: float, threshold: float | None,
                where: str | None = None) -> list[TrialResult]:
    """Store the refit pipeline, record it as a trial with the threshold tuned for it, and put it in
    the winner's place."""
    key = refit_key(inp.run.model_name, inp.run.run_id)
    stores.put_bytes(stores.artifacts_bucket, key, pipeline)
    refit = best.model_copy(update={"artifact_key": key, "trained_rows": rows, "refit_validation_score": validation_score,
                                    "fit_seconds": round(fit_seconds, 4), "threshold": threshold})
    run_records.record_trial(stores.experiments, {
        "run_id": inp.run.run_id, "model_name": inp.run.model_name, "dataset_version": inp.run.dataset.version,
        **refit.model_dump(mode="json"), "candidate_id": f"{best.candidate_id}-refit", "fitted_by": where})
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
    return _take_refit(inp, stores, best, pipeline, inp.run.dataset.rows["train"], metrics["validation_score"],
                       metrics["fit_seconds"], metrics["threshold"],
                       where=f"SageMaker training job {inp.job.get('TrainingJobName')}")
