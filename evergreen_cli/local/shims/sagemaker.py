"""SageMaker training jobs for the local stack: ``sagemaker:createTrainingJob.sync`` run on this machine.

moto's Step Functions interpreter lists sagemaker among the services it does not integrate (FACTS):
a ``createTrainingJob.sync`` task would be forwarded to moto's SageMaker, which records the job and
never runs it. ``LocalTrainingJobs`` makes the interpreter build ``InProcessTrainingJob`` for
sagemaker tasks instead. It does what the job would: the channels' S3 objects and the
hyperparameters are laid out as SageMaker lays them out, the program bundle
(``sagemaker_submit_directory``) is unpacked and its ``sagemaker_program`` is run in a child Python
with SageMaker's SM_* environment variables, and the model directory is tarred to
``<S3OutputPath>/<job>/output/model.tar.gz``. The task's output is what DescribeTrainingJob
answers for a completed job. The child runs on this machine's Python and packages: the bundle's
requirements.txt is not installed (the image installs it on AWS).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from evergreen_cli.local.shims.patch import Patch


class TrainingJobFailed(RuntimeError):
    """The program exited with an error (the job would end Failed)."""


def _split_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def run_training_job(request: dict[str, Any], s3: Any) -> dict[str, Any]:
    """Run one CreateTrainingJob request here; the DescribeTrainingJob answer of the finished job."""
    name = request["TrainingJobName"]
    hyperparameters = request.get("HyperParameters") or {}
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
        root = Path(tmp)
        config, model, code = root / "input" / "config", root / "model", root / "code"
        for folder in (config, model, code):
            folder.mkdir(parents=True)
        (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
        env = {**os.environ, "SM_INPUT_CONFIG_DIR": str(config), "SM_MODEL_DIR": str(model)}
        for channel in request.get("InputDataConfig") or []:
            folder = root / "input" / "data" / channel["ChannelName"]
            folder.mkdir(parents=True)
            bucket, prefix = _split_uri(channel["DataSource"]["S3DataSource"]["S3Uri"])
            for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
                s3.download_file(bucket, item["Key"], str(folder / Path(item["Key"]).name))
            env[f"SM_CHANNEL_{channel['ChannelName'].upper()}"] = str(folder)
        bucket, key = _split_uri(json.loads(hyperparameters["sagemaker_submit_directory"]))
        with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()), mode="r:gz") as tar:
            tar.extractall(code, filter="data")
        program = json.loads(hyperparameters["sagemaker_program"])
        env["PYTHONPATH"] = str(code)  # the bundle's evergreen, not this process's
        done = subprocess.run([sys.executable, program], cwd=code, env=env, capture_output=True, text=True)
        if done.returncode:
            raise TrainingJobFailed(f"training job {name} failed: {done.stderr.strip()[-2000:]}")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for path in sorted(model.iterdir()):
                tar.add(path, arcname=path.name)
        out_bucket, out_prefix = _split_uri(request["OutputDataConfig"]["S3OutputPath"])
        out_key = f"{out_prefix.rstrip('/')}/{name}/output/model.tar.gz".lstrip("/")
        s3.put_object(Bucket=out_bucket, Key=out_key, Body=buf.getvalue())
    return {"TrainingJobName": name, "TrainingJobStatus": "Completed", "SecondaryStatus": "Completed",
            "ModelArtifacts": {"S3ModelArtifacts": f"s3://{out_bucket}/{out_key}"}}


def _in_process_training_job_class() -> type:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
        StateTaskService,
    )
    from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

    class InProcessTrainingJob(StateTaskService):
        """``arn:aws:states:::sagemaker:createTrainingJob.sync``, run by ``run_training_job``."""

        def _get_supported_parameters(self) -> set[str]:
            return {"TrainingJobName", "RoleArn", "AlgorithmSpecification", "HyperParameters", "InputDataConfig",
                    "OutputDataConfig", "ResourceConfig", "StoppingCondition"}

        def _eval_service_task(self, env: Any, resource_runtime_part: Any, normalised_parameters: dict,
                               state_credentials: Any) -> None:
            if (self.resource.api_action, str(self.resource.condition)) != ("createTrainingJob", "sync"):
                raise ValueError(f"the local stack runs sagemaker:createTrainingJob.sync only, not "
                                 f"{self.resource.resource_arn}")
            s3 = boto_client_for(service="s3", region=resource_runtime_part.region, state_credentials=state_credentials)
            env.stack.append(run_training_job(normalised_parameters, s3))

    return InProcessTrainingJob


class LocalTrainingJobs(Patch):
    """The interpreter's sagemaker tasks become ``InProcessTrainingJob``s; every other service is moto's."""

    name = "state_task_service_for"

    def __init__(self) -> None:
        super().__init__()
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory

        self.owner = state_task_factory
        self._job_class = _in_process_training_job_class()

    def _replacement(self):
        original, job_class = self._original, self._job_class

        def state_task_service_for(service_name: str) -> Any:
            return job_class() if service_name == "sagemaker" else original(service_name=service_name)

        return state_task_service_for
