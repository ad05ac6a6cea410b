"""Fit the winning trial's configuration on the whole training split (when the trials used a sample)."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from evergreen.contracts import RefitInput
from evergreen.steps import refit
from evergreen.storage import Stores

logger = Logger(service="evergreen-refit")
STORES = Stores.from_env()


@logger.inject_lambda_context
@event_parser(model=RefitInput)
def handler(event: RefitInput, context: LambdaContext) -> list[dict]:
    return [trial.model_dump(mode="json") for trial in refit.run(event, STORES, memory_mb=context.memory_limit_in_mb)]
