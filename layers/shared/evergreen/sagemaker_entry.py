"""The SageMaker training job's program: the winner's fit on every row its search drew from.

It runs in AWS's scikit-learn image (and in the local stack's shim,
evergreen_cli.local.shims.sagemaker), and finds what every SageMaker training container has where
SageMaker's environment variables say:
  SM_INPUT_CONFIG_DIR/hyperparameters.json   JSON-string values (evergreen.sagemaker_refit.hyperparameters)
  SM_CHANNEL_TRAIN, SM_CHANNEL_VALIDATION    the splits as ingest wrote them (*.npz)
  SM_MODEL_DIR                               pipeline.joblib and metrics.json, tarred to S3 by SageMaker
The fit is the one RefitFunction does (evergreen.training.fit_winner: the training split with a binary
classifier's threshold tuned again on validation, or train + validation under cross-validation; the
threshold goes to metrics.json), with the threads the instance has.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import joblib

from evergreen import splits, training
from evergreen.contracts import ColumnSchema
from evergreen.spec import Candidate


def _split(channel: str, columns: ColumnSchema):
    folder = Path(os.environ.get(f"SM_CHANNEL_{channel.upper()}", f"/opt/ml/input/data/{channel}"))
    [path] = sorted(folder.glob("*.npz"))
    return splits.read_split(path.read_bytes(), columns, source=str(path))


def main() -> None:
    config_dir = Path(os.environ.get("SM_INPUT_CONFIG_DIR", "/opt/ml/input/config"))
    config = {k: json.loads(v) for k, v in json.loads((config_dir / "hyperparameters.json").read_text()).items()}
    columns = ColumnSchema.model_validate(config["columns"])
    os.environ.setdefault("EVERGREEN_THREADS", str(os.cpu_count() or 1))
    fit = training.fit_winner(Candidate.model_validate(config["candidate"]), _split("train", columns),
                              _split("validation", columns), columns, config["metric"], config["seed"],
                              config["max_categories"], cross_validated=config["cross_validated"],
                              threshold=config["threshold"])
    model = Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    model.mkdir(parents=True, exist_ok=True)
    joblib.dump(fit.pipeline, model / "pipeline.joblib", compress=3)  # as evergreen.steps.common.dump_pipeline
    (model / "metrics.json").write_text(json.dumps({
        "validation_score": fit.validation_score, "fit_seconds": fit.fit_seconds, "params": fit.params,
        "threshold": fit.threshold, "trained_rows": fit.training_rows}))
    scored = "" if fit.validation_score is None else f": validation {config['metric']} {fit.validation_score:.6g}"
    print(f"fitted {config['candidate']['family']} on {fit.training_rows:,} rows{scored} in {fit.fit_seconds:.1f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
