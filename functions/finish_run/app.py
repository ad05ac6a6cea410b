"""Record the run's outcome, reason and cost."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from evergreen.contracts import FinishInput
from evergreen.steps import finish_run
from evergreen.storage import Stores

logger = Logger(service="evergreen-finish-run")
STORES = Stores.from_env()


@logger.inject_lambda_context
@event_parser(model=FinishInput)
def handler(event: FinishInput, context: LambdaContext) -> dict:
    # its own memory from its context: its role cannot read its own configuration (a circular reference)
    own = {context.invoked_function_arn: context.memory_limit_in_mb}
    return finish_run.run(event, STORES, known_memory=own).model_dump(mode="json")
