"""Step Functions: CloudFormation's state machines made executable (``register_state_machines``), and
an execution started without a name named as AWS names it (``DefaultExecutionName``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from evergreen_cli.local.shims.patch import Patch


class DefaultExecutionName(Patch):
    """Name an execution started without ``name`` with a UUID, as AWS does.

    Gap (found here, not in FACTS): with ``execute_state_machine`` on, moto's
    ``StepFunctionsParserBackend.start_execution`` keeps ``name=None``: the ARN
    ends in ``:None`` and the next unnamed start fails with ``ExecutionAlreadyExists``.
    """

    name = "start_execution"

    def __init__(self) -> None:
        super().__init__()
        from moto.stepfunctions.parser.models import StepFunctionsParserBackend

        self.owner = StepFunctionsParserBackend

    def _replacement(self) -> Callable[..., Any]:
        original = self._original

        def start_execution(backend: Any, state_machine_arn: str, name: str | None = None,
                            execution_input: Any = None, trace_header: Any = None) -> Any:
            return original(backend, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header)

        return start_execution


def register_state_machines(arns: Iterable[str], types: Mapping[str, str] | None = None) -> None:
    """Make CloudFormation's state machines executable.

    Gap (FACTS): moto's CloudFormation creates ``AWS::StepFunctions::StateMachine``
    in the plain Step Functions backend; the executing interpreter (and the API,
    once ``execute_state_machine`` is on) use the parser backend. Re-create each
    there under the same ARN (same name, same account and region).
    """
    from moto.stepfunctions.models import stepfunctions_backends
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends
    from moto.utilities.arns import parse_arn

    for arn in arns:
        where = parse_arn(arn)
        created = stepfunctions_backends[where.account][where.region].describe_state_machine(arn)
        parser = stepfunctions_parser_backends[where.account][where.region]
        copy_ = parser.create_state_machine(
            name=created.name, definition=created.definition, roleArn=created.roleArn,
            tags=created.backend.get_tags_list_for_state_machine(arn) or None,
            sm_type=(types or {}).get(arn) or created.type or "STANDARD",
        )
        assert copy_.arn == arn, (copy_.arn, arn)
