"""Concatenate a batch's parts into predictions.csv and rejected.csv, write summary.json, remove the parts."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from evergreen.batch_contracts import CombineInput
from evergreen.steps import batch_combine
from evergreen.storage import Stores

logger = Logger(service="evergreen-batch-combine")
STORES = Stores.from_env()


@logger.inject_lambda_context
@event_parser(model=CombineInput)
def handler(event: CombineInput, context: LambdaContext) -> dict:
    return batch_combine.run(event, STORES).model_dump(mode="json")
