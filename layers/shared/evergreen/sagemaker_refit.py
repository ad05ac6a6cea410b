"""The winner's full fit beyond Lambda: where it runs, and the SageMaker training job that runs it.

``plan`` estimates the memory of fitting the winner on the whole training split (the model matrix:
rows x (numeric columns + one-hot width), at the BYTES_PER_CELL of the costliest family the spec
names, since ingest plans before the winner is known) and picks Lambda (RefitFunction) when it fits
in the function's memory with HEADROOM, else a SageMaker training job; the spec's ``compute.refit``
can force either.

The job runs AWS's prebuilt scikit-learn image (no docker build): its program is
``evergreen/sagemaker_entry.py`` from a source bundle this module builds from the installed
evergreen package (``source_bundle``), with a requirements.txt that pins the training layer's
versions, so the pickle it writes is read by the same scikit-learn that evaluates and exports it.
Pure except ``source_bundle``, which reads the installed package's files.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import evergreen
from evergreen.contracts import RefitPlan, RunContext, TrialResult
from evergreen.spec import ComputeSpec

# peak bytes per model-matrix cell of a family's fit, rounded up from benchmarks/bench_refit_memory.py on 100k-300k
# rows x 179 model columns (BENCHMARKS.md, "Refit memory"): linear models take the one-hot sparse (2.8-6.0 measured),
# trees take it dense (18-20), hist_gradient_boosting copies it to float64 and bins it (56-62)
BYTES_PER_CELL = {"logistic_regression": 8, "ridge": 8, "decision_tree": 24, "random_forest": 24, "extra_trees": 24,
                  "hist_gradient_boosting": 64}
BASE_MB = 450  # the function's imports and the loaded splits before the fit (measured 340-355 MB, and headroom)
HEADROOM = 0.8  # the share of the function's memory a planned fit may use
# what the training job installs over the image: the training layer's pins (layers/training/requirements.txt)
# and evergreen's own (pydantic, pyyaml); tests/unit/test_sagemaker_refit.py keeps them in step
REQUIREMENTS = ("numpy==2.4.6", "scipy==1.17.1", "scikit-learn==1.9.1", "pydantic==2.13.5", "pyyaml==6.0.3")
PROGRAM = "train_entry.py"
# AWS's scikit-learn framework image with Python 3.12 (our wheels are cp312), per region: the registry
# accounts the SageMaker Python SDK lists for it (image_uri_config/sklearn.json)
IMAGE = "sagemaker-scikit-learn:1.4-2-py312-cpu-py3"
REGISTRIES = {
    "af-south-1": "510948584623", "ap-east-1": "651117190479", "ap-northeast-1": "354813040037",
    "ap-northeast-2": "366743142698", "ap-northeast-3": "867004704886", "ap-south-1": "720646828776",
    "ap-south-2": "628508329040", "ap-southeast-1": "121021644041", "ap-southeast-2": "783357654285",
    "ap-southeast-3": "951798379941", "ap-southeast-4": "106583098589", "ca-central-1": "341280168497",
    "ca-west-1": "190319476487", "eu-central-1": "492215442770", "eu-central-2": "680994064768",
    "eu-north-1": "662702820516", "eu-south-1": "978288397137", "eu-south-2": "104374241257",
    "eu-west-1": "141502667606", "eu-west-2": "764974769150", "eu-west-3": "659782779980",
    "il-central-1": "898809789911", "me-central-1": "272398656194", "me-south-1": "801668240914",
    "sa-east-1": "737474898029", "us-east-1": "683313688378", "us-east-2": "257758044811",
    "us-west-2": "246618743249",
}
CHANNELS = ("train", "validation")


def plan(rows: int, width: int, families: Iterable[str], function_mb: int, compute: ComputeSpec) -> RefitPlan:
    """Where the winner's fit on `rows` training rows of `width` model columns runs, when the winner
    is one of `families`."""
    estimated = int(BASE_MB + rows * width * max(BYTES_PER_CELL[f] for f in families) / 2**20)
    budget = int(function_mb * HEADROOM)
    if compute.refit != "auto":
        return RefitPlan(runner=compute.refit, reason=f"spec compute.refit is {compute.refit}", estimated_mb=estimated)
    if estimated <= budget:
        return RefitPlan(runner="lambda", estimated_mb=estimated,
                         reason=f"about {estimated} MB, within {budget} MB of RefitFunction's {function_mb} MB")
    return RefitPlan(runner="sagemaker", estimated_mb=estimated,
                     reason=f"about {estimated} MB ({rows:,} rows x {width} model columns) is over {budget} MB "
                            f"of RefitFunction's {function_mb} MB")


def training_image(configured: str, region: str) -> str:
    """The configured image (the SageMakerTrainingImage parameter), else AWS's scikit-learn image in `region`."""
    if configured:
        return configured
    if region not in REGISTRIES:
        raise ValueError(f"no AWS scikit-learn image is known here for region {region}: set the SageMakerTrainingImage "
                         f"template parameter (AWS's {IMAGE} in your region)")
    return f"{REGISTRIES[region]}.dkr.ecr.{region}.amazonaws.com/{IMAGE}"


def job_name(run: RunContext) -> str:
    """A training job name (63 characters at most, unique per run)."""
    digest = hashlib.sha256(run.run_id.encode()).hexdigest()[:12]
    return f"evergreen-{run.model_name[:30]}-{digest}"


def hyperparameters(run: RunContext, winner: TrialResult, program_uri: str) -> dict[str, str]:
    """What the entry point reads (every value a JSON string, as the scikit-learn image expects)."""
    spec = run.spec
    values: dict[str, Any] = {
        "sagemaker_program": PROGRAM,
        "sagemaker_submit_directory": program_uri,
        "candidate": {"candidate_id": winner.candidate_id, "family": winner.family, "params": winner.params},
        "columns": run.dataset.columns.model_dump(mode="json"),
        "metric": spec.primary_metric,
        "seed": spec.split.seed,
        "max_categories": spec.data.max_categories,
        "cross_validated": bool(spec.search.folds(run.dataset.rows)),
        "threshold": winner.threshold,
    }
    return {key: json.dumps(value) for key, value in values.items()}


def job_request(run: RunContext, winner: TrialResult, program_uri: str, output_uri: str) -> dict[str, Any]:
    """The data-dependent part of CreateTrainingJob (the state machine adds the role and the image)."""
    compute, dataset = run.spec.compute, run.dataset
    keys = {"train": dataset.train_key, "validation": dataset.validation_key}
    return {
        "TrainingJobName": job_name(run),
        "HyperParameters": hyperparameters(run, winner, program_uri),
        "InputDataConfig": [{
            "ChannelName": channel,
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{dataset.bucket}/{keys[channel]}",
                                            "S3DataDistributionType": "FullyReplicated"}},
        } for channel in CHANNELS],
        "OutputDataConfig": {"S3OutputPath": output_uri},
        "ResourceConfig": {"InstanceType": compute.instance_type, "InstanceCount": 1,
                           "VolumeSizeInGB": compute.volume_gb},
        "StoppingCondition": {"MaxRuntimeInSeconds": compute.max_runtime_minutes * 60},
    }


def source_bundle() -> tuple[bytes, str]:
    """(sourcedir.tar.gz, its sha256): the installed evergreen package, the program at the top and
    requirements.txt. Deterministic for the same files."""
    package = Path(evergreen.__file__).parent
    files = sorted(package.rglob("*.py"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
        add(PROGRAM, b"from evergreen.sagemaker_entry import main\n\nmain()\n")
        add("requirements.txt", ("\n".join(REQUIREMENTS) + "\n").encode())
        for path in files:
            add(f"evergreen/{path.relative_to(package).as_posix()}", path.read_bytes())
    data = buf.getvalue()
    return data, hashlib.sha256(data).hexdigest()
