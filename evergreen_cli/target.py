"""Which Evergreen stack a command talks to: the local one, or a deployed one found by its name.

- ``--stack NAME`` (or ``$EVERGREEN_STACK``): CloudFormation's ``describe_stacks`` gives the outputs
  (buckets, tables, state machine, functions, API URL), with boto3's usual credentials, region and
  endpoint (``AWS_PROFILE``, ``AWS_REGION``, ``AWS_ENDPOINT_URL``...).
- ``--local``, the default when a local stack is up: the state file ``evergreen up`` / ``make up``
  writes (evergreen_cli.local.running) gives the moto endpoint, the API and its key, and the outputs.

Commands only see a ``Target``: its outputs, boto3 clients on it, and how to reach its API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from evergreen_cli.output import CliError
from evergreen_cli.local import running

LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass
class Target:
    kind: str  # "local" | "stack"
    name: str  # the CloudFormation stack's name
    region: str | None
    outputs: dict[str, str]
    endpoint_url: str | None = None  # the local moto server; None: boto3's own (AWS, or $AWS_ENDPOINT_URL)
    local_api: tuple[str, str] | None = None  # (url, key) of the local stack's API
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def where(self) -> str:
        if self.kind == "local":  # no endpoint: in the local stack's own process (evergreen_cli.local.ui)
            return f"the local stack ({self.endpoint_url})" if self.endpoint_url else "the local stack"
        return f"stack {self.name!r}"

    @cached_property
    def session(self) -> Any:
        import boto3

        if self.kind == "local":
            return boto3.session.Session(region_name=self.region, **LOCAL_CREDENTIALS)
        return boto3.session.Session(region_name=self.region)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, endpoint_url=self.endpoint_url)
        return self._clients[service]

    def output(self, key: str) -> str:
        try:
            return self.outputs[key]
        except KeyError:
            raise CliError(f"{self.where} has no output {key!r} (outputs: {', '.join(sorted(self.outputs)) or 'none'})") from None

    def table(self, output_key: str) -> Any:
        """The DynamoDB table named by an output (RegistryTableName, ExperimentsTableName, ...)."""
        return self.session.resource("dynamodb", endpoint_url=self.endpoint_url).Table(self.output(output_key))


def local_target(required: bool) -> Target | None:
    """The running local stack, or None (an error when `required`) when none is up."""
    try:
        found = running.read()
    except ValueError as exc:
        raise CliError(str(exc)) from None
    problem = found.problem() if found is not None else None
    if found is None or problem:
        if not required:
            return None
        why = f"{running.state_path()} is stale: {problem}" if problem else f"no {running.state_path()}"
        raise CliError(f"no local stack is running ({why}): start one with `make up` or `evergreen up`")
    return running_target(found)


def running_target(found: running.RunningStack) -> Target:
    """The local stack a state file (or `evergreen up` itself) describes."""
    return Target(kind="local", name=found.stack_name, region=found.region, outputs=dict(found.outputs),
                  endpoint_url=found.endpoint_url, local_api=(found.api_url, found.api_key))


def stack_target(name: str, region: str | None) -> Target:
    """A deployed stack (or one on any endpoint boto3 is pointed at), by its CloudFormation outputs."""
    from botocore.exceptions import BotoCoreError, ClientError

    target = Target(kind="stack", name=name, region=region, outputs={})
    try:
        stacks = target.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        raise CliError(f"stack {name!r}: {exc.response['Error'].get('Message') or exc}") from None
    except BotoCoreError as exc:
        raise CliError(f"stack {name!r}: {exc}") from None
    [stack] = stacks
    status = str(stack["StackStatus"])
    if status != "CREATE_COMPLETE" and status.startswith(("CREATE_", "ROLLBACK_", "DELETE_")):  # never or no longer made
        raise CliError(f"stack {name!r} is {status}: {stack.get('StackStatusReason') or 'not usable'}")
    target.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    if "StateMachineArn" not in target.outputs or "RegistryTableName" not in target.outputs:
        raise CliError(f"stack {name!r} is not an Evergreen stack: it has no StateMachineArn and RegistryTableName outputs")
    return target


def resolve(stack: str | None, local: bool, region: str | None) -> Target:
    """--stack wins; else --local (required), else the local stack when one is up."""
    if stack and local:
        raise CliError("give either --stack NAME or --local, not both")
    if stack:
        return stack_target(stack, region)
    found = local_target(required=local)
    if found is None:
        raise CliError(f"no stack to talk to: no local stack is up ({running.state_path()} not found or stale) "
                       "and no --stack NAME (or $EVERGREEN_STACK) was given")
    return found


@dataclass
class Choice:
    """The global options (evergreen_cli.app's callback); the target is resolved on first use."""
    stack: str | None = None
    local: bool = False
    region: str | None = None
    found: Target | None = None


def target_of(ctx: Any) -> Target:
    """The target of a command, from its typer context (resolved once per invocation)."""
    choice: Choice = ctx.find_root().obj
    if choice.found is None:
        choice.found = resolve(choice.stack, choice.local, choice.region)
    return choice.found
