"""The whole Evergreen stack on moto, in this process: ``LocalStack``.

The same ``template.yaml`` and ASL as on AWS: the template is translated and
created by moto's CloudFormation, moto's Step Functions interpreter runs the
state machine, and the shims in ``evergreen_cli.local.shims`` (one module per
service) bridge what moto does not do. With ``server_port`` a moto server shares
these backends, so the unmodified ``aws`` CLI works against ``http://localhost:<port>``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from evergreen_cli.local.lambda_processes import DEFAULT_FUNCTIONS, LambdaProcesses
from evergreen_cli.local.sam import load_template
from evergreen_cli.local.shims.cloudwatch import AlarmEvaluator, Transition, create_alarms
from evergreen_cli.local.shims.dynamodb import SerialDynamoDB
from evergreen_cli.local.shims.events import EventBridgeToStepFunctions, ScheduledInvocation, ScheduledRules
from evergreen_cli.local.shims.lambda_ import InProcessLambda, Invocation
from evergreen_cli.local.shims.patch import Patch, restore_env
from evergreen_cli.local.shims.s3 import configure_buckets
from evergreen_cli.local.shims.sagemaker import LocalTrainingJobs
from evergreen_cli.local.shims.stepfunctions import DefaultExecutionName, register_state_machines
from evergreen_cli.local.template import Dropped, Prepared, prepare_for_moto, translate

MOTO_CONFIG: dict[str, Any] = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}
DEFAULT_API_KEY = "evergreen-local-key"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def find_root(start: Path | None = None, template: str = "template.yaml") -> Path:
    """The project root: `start` (default: the working directory) or the nearest parent holding `template`."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / template).is_file():
            return folder
    raise FileNotFoundError(f"no {template} in {start} or its parents: run from an Evergreen checkout, or pass --root")


class LocalStack:
    """Evergreen's template and state machine running on moto; a context manager.

    >>> with LocalStack(Path(".")) as stack:          # doctest: +SKIP
    ...     stack.client("s3").put_object(Bucket=stack.outputs["DataBucketName"], Key=..., Body=...)
    ...     arn = stack.list_executions()[0]["executionArn"]
    ...     stack.wait_for_execution(arn)["status"]
    """

    _active: LocalStack | None = None
    _active_lock = threading.Lock()

    def __init__(self, root: Path | str = ".", parameters: dict[str, Any] | None = None,
                 server_port: int | None = None, region: str = "us-east-1", *,
                 template: str = "template.yaml", stack_name: str = "evergreen-local",
                 api_key: str = DEFAULT_API_KEY, verbose: bool = False, lambda_processes: int = 0):
        """`lambda_processes`: run the Map's trials (lambda_processes.DEFAULT_FUNCTIONS) in that many
        worker processes, which reach moto through the server on `server_port`; 0: every handler
        runs in this process (tests patch them there)."""
        if lambda_processes and not server_port:
            raise ValueError("lambda_processes needs server_port: the workers reach moto over HTTP")
        self.lambda_processes = lambda_processes
        self.root = Path(root).resolve()
        self.parameters = {k: str(v) for k, v in (parameters or {}).items()}
        self.server_port = server_port
        self.region = region
        self.template_path = self.root / template
        self.stack_name = stack_name
        self.api_key = api_key
        self.verbose = verbose
        self.outputs: dict[str, str] = {}
        self.resources: dict[str, str] = {}
        self.sam: dict[str, Any] = {}
        self.prepared: Prepared | None = None
        self.alarms: dict[str, str] = {}
        self._mock: Any = None
        self._resolve: Any = None
        self._server: Any = None
        self._processes: LambdaProcesses | None = None
        self._session: Any = None
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._saved_env: dict[str, str | None] = {}
        self._patches: list[Patch] = []
        self._quieted: dict[logging.Logger, int] = {}
        self.lambdas: InProcessLambda | None = None
        self.events: EventBridgeToStepFunctions | None = None
        self.alarm_evaluator: AlarmEvaluator | None = None
        self.schedules: ScheduledRules | None = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _set_env(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _quiet_loggers(self, names: list[str]) -> None:
        for name in names:
            logger = logging.getLogger(name)
            self._quieted.setdefault(logger, logger.level)
            logger.setLevel(logging.CRITICAL)

    def local_environment(self) -> dict[str, str]:
        """What handlers see besides the template's variables (these win over it)."""
        # no X-Ray daemon here; a Map's fits run at once in this one process: one thread each (evergreen.compute)
        env = {"POWERTOOLS_TRACE_DISABLED": "1", "EVERGREEN_THREADS": "1"}
        if not self.verbose:  # the demo tells a story; handlers' JSON logs and EMF lines would drown it
            env["POWERTOOLS_LOG_LEVEL"] = "WARNING"
            env["POWERTOOLS_METRICS_DISABLED"] = "true"  # EMF goes to stdout, never to moto's CloudWatch
        return env

    def start(self) -> LocalStack:
        with LocalStack._active_lock:
            if LocalStack._active is not None:
                raise RuntimeError("another LocalStack is running in this process (moto's backends are global)")
            LocalStack._active = self
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        from moto import mock_aws

        self._set_env({**DUMMY_CREDENTIALS, "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region})
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.pop("AWS_PROFILE", None)
        if self.server_port:
            self._set_env({"MOTO_PORT": str(self.server_port)})  # the interpreter's clients use it (FACTS)
        if not self.verbose:  # the interpreter logs each failing state; describe_execution has the error too
            self._quiet_loggers(["moto.stepfunctions.parser"])
        self._mock = mock_aws(config=MOTO_CONFIG)  # type: ignore[arg-type]
        self._mock.start()
        self._set_env(DUMMY_CREDENTIALS)  # mock_aws sets its own; keep the ones we print
        if self.server_port:
            self._start_server()

        # Template -> moto CloudFormation.
        self.sam = load_template(self.template_path)
        cfn = translate(self.sam, self.parameters)
        s3 = self.client("s3")
        staging = f"{self.stack_name}-local-staging"
        s3.create_bucket(Bucket=staging)
        self.prepared = prepare_for_moto(cfn, self.root, s3, staging)
        cloudformation = self.client("cloudformation")
        stack_id = cloudformation.create_stack(
            StackName=self.stack_name, TemplateBody=json.dumps(self.prepared.template),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in self.parameters.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )["StackId"]
        stack = cloudformation.describe_stacks(StackName=stack_id)["Stacks"][0]
        if stack["StackStatus"] != "CREATE_COMPLETE":
            raise RuntimeError(f"moto could not create the stack: {stack['StackStatus']} {stack.get('StackStatusReason')}")
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        summaries = cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_id)
        self.resources = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                          for page in summaries for r in page["StackResourceSummaries"]}

        # The shims, in dependency order.
        prepared = self.prepared
        register_state_machines(
            [self.resources[s] for s in prepared.state_machines],
            {self.resources[s]: prepared.template["Resources"][s]["Properties"].get("StateMachineType", "STANDARD")
             for s in prepared.state_machines})
        self._resolve = resolve = self._resolver(stack_id)
        configure_buckets(s3, {self.resources[b]: resolve(p) for b, p in prepared.buckets.items()})
        self.alarms = create_alarms(self.client("cloudwatch"), prepared.deferred, resolve)
        self.resources.update(self.alarms)
        self.lambdas = InProcessLambda(
            {self.resources[lid]: spec for lid, spec in prepared.functions.items()},
            self.client("lambda"), self.local_environment())
        self.events = EventBridgeToStepFunctions()
        for patch in (self.lambdas, self.events, DefaultExecutionName(), LocalTrainingJobs(), SerialDynamoDB()):
            patch.install()
            self._patches.append(patch)
        if self.lambda_processes:  # after install: the workers start with the handlers' environment
            self._processes = LambdaProcesses(
                DEFAULT_FUNCTIONS, {**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.server_port}"},
                self.lambda_processes)
            self.lambdas.processes = self._processes
        self.alarm_evaluator = AlarmEvaluator(self.client("cloudwatch"), self.client("events"))
        self.schedules = ScheduledRules(self.client("events"), self.client("lambda"))
        self.schedules.rules()  # an unsupported schedule (cron) is an error now, not at the first tick
        for logical_id, alarm in prepared.deferred.items():
            AlarmEvaluator.check(self.client("cloudwatch").describe_alarms(
                AlarmNames=[self.alarms[logical_id]])["MetricAlarms"][0])

    def _start_server(self) -> None:
        from moto.server import ThreadedMotoServer

        if not self.verbose:  # werkzeug logs every request the aws CLI makes
            self._quiet_loggers(["werkzeug"])
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.server_port, verbose=False)
        self._server.start()
        # Same process, so the same backends and config; also tell the server (FACTS, "Server mode").
        request = urllib.request.Request(f"http://127.0.0.1:{self.server_port}/moto-api/config",
                                         data=json.dumps(MOTO_CONFIG).encode(), method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def _resolver(self, stack_id: str) -> Any:
        """moto's own intrinsic resolver, bound to the created stack."""
        from moto.cloudformation.models import cloudformation_backends
        from moto.cloudformation.parsing import clean_json

        account = self.client("sts").get_caller_identity()["Account"]
        resource_map = cloudformation_backends[account][self.region].stacks[stack_id].resource_map
        return lambda value: clean_json(value, resource_map)

    def resolve(self, value: Any) -> Any:
        """Template intrinsics (``Ref``, ``Fn::If`` on the template's conditions, ...) resolved as moto did."""
        assert self._resolve is not None, "start() first"
        return self._resolve(value)

    def stop(self) -> None:
        """Stop the shims, the server and moto (which drops all state); restore the environment."""
        try:
            if self._mock is not None:
                self._stop_running_executions()
            if self._processes is not None:
                self._processes.close()
                self._processes = None
            for patch in reversed(self._patches):
                patch.uninstall()
            self._patches.clear()
            if self._server is not None:
                self._server.stop()
                self._server = None
            if self._mock is not None:
                self._mock.stop()
                self._mock = None
        finally:
            for logger, level in self._quieted.items():
                logger.setLevel(level)
            self._quieted.clear()
            restore_env(self._saved_env)
            self._clients.clear()
            self._session = None
            with LocalStack._active_lock:
                if LocalStack._active is self:
                    LocalStack._active = None

    def _stop_running_executions(self) -> None:
        sfn = self.client("stepfunctions")
        for execution in self.list_executions():
            if execution["status"] == "RUNNING":
                try:
                    sfn.stop_execution(executionArn=execution["executionArn"], cause="local stack stopped")
                except Exception:  # noqa: BLE001 - best effort on the way out
                    pass

    # ------------------------------------------------------------------ use
    def client(self, service: str) -> Any:
        """A boto3 client on this stack (thread-safe to get; one per service)."""
        with self._clients_lock:
            if service not in self._clients:
                import boto3

                if self._session is None:
                    self._session = boto3.session.Session(region_name=self.region, **{
                        "aws_access_key_id": DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                        "aws_secret_access_key": DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]})
                self._clients[service] = self._session.client(service)
            return self._clients[service]

    @property
    def dropped(self) -> list[Dropped]:
        """What the local stack does not create, and why."""
        return list(self.prepared.dropped) if self.prepared else []

    @property
    def invocations(self) -> list[Invocation]:
        return self.lambdas.invocations if self.lambdas else []

    @property
    def state_machine_arns(self) -> list[str]:
        return [self.resources[s] for s in self.prepared.state_machines if s in self.resources] if self.prepared else []

    def function_name(self, logical_id: str) -> str:
        return self.resources[logical_id]

    def list_executions(self) -> list[dict[str, Any]]:
        """Every execution of the stack's state machines, oldest first."""
        sfn = self.client("stepfunctions")
        executions = [e for arn in self.state_machine_arns
                      for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn)
                      for e in page["executions"]]
        return sorted(executions, key=lambda e: e["startDate"])

    def wait_for_execution(self, arn: str, timeout: float = 120, poll: float = 0.1) -> dict[str, Any]:
        """``describe_execution`` once the execution has left RUNNING."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            execution = sfn.describe_execution(executionArn=arn)
            if execution["status"] != "RUNNING":
                execution.pop("ResponseMetadata", None)
                return execution
            if time.monotonic() > deadline:
                raise TimeoutError(f"{arn} still RUNNING after {timeout} s")
            time.sleep(poll)

    def wait_for_new_execution(self, known: int, timeout: float = 10, poll: float = 0.05) -> dict[str, Any]:
        """The first execution beyond the ``known`` count (events start them asynchronously on AWS)."""
        deadline = time.monotonic() + timeout
        while True:
            executions = self.list_executions()
            if len(executions) > known:
                return executions[known]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no new execution after {timeout} s")
            time.sleep(poll)

    def tick_schedules(self, now: Any = None, *, force: bool = False) -> list[ScheduledInvocation]:
        """Fire the scheduled rules whose rate has elapsed at ``now`` (all with ``force``); moto never fires them."""
        assert self.schedules is not None, "start() first"
        return self.schedules.tick(now, force=force)

    def tick_alarms(self, now: Any = None) -> list[Transition]:
        assert self.alarm_evaluator is not None, "start() first"
        return self.alarm_evaluator.tick(now)
