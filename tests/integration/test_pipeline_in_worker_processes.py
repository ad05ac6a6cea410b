"""The pipeline with its compute-bound functions in worker processes (make up's default): the trials,
the refit and the export reach moto over HTTP from other processes, and the run ends as in-process."""

from __future__ import annotations

import socket

import boto3
import pytest

from evergreen import registry
from evergreen_cli.local.stack import LocalStack
from evergreen.spec import parse_spec
from evergreen.synthetic import make_churn
from tests.support.infra import ROOT
from tests.support.specs import churn_spec
from tests.support.uploads import train_on_upload

pytestmark = pytest.mark.e2e

SPEC = parse_spec(churn_spec("workers", """  - family: logistic_regression
    grid: {C: [0.1, 1.0]}
  - family: random_forest
    grid: {n_estimators: [20], max_depth: [4]}
"""))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_trials_refit_and_export_in_worker_processes_promote_a_champion():
    with LocalStack(root=ROOT, stack_name="evergreen-workers", server_port=free_port(), lambda_processes=2) as stack:
        assert stack.lambdas.processes.functions == {"TrainFunction", "RefitFunction", "ExportFunction"}
        execution = train_on_upload(stack, SPEC, make_churn(1500, seed=3))
        assert execution["status"] == "SUCCEEDED", execution
        calls = [(i.function, i.error_type) for i in stack.lambdas.invocations]
        assert calls.count(("TrainFunction", None)) == 3 and ("ExportFunction", None) in calls
        table = boto3.resource("dynamodb", region_name=stack.region).Table(stack.outputs["RegistryTableName"])
        champion = registry.get_alias(table, "workers")
        assert champion["version"] == 1 and champion["sha256"]
