"""Fit and score one candidate; record the trial."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from evergreen.contracts import TrainInput
from evergreen.steps import train
from evergreen.storage import Stores

logger = Logger(service="evergreen-train")
STORES = Stores.from_env()


@logger.inject_lambda_context
@event_parser(model=TrainInput)
def handler(event: TrainInput, context: LambdaContext) -> dict:
    return train.run(event, STORES, memory_mb=context.memory_limit_in_mb).model_dump(mode="json")
