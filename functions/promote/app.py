"""Register the exported model and make it the champion."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from evergreen.contracts import PromoteInput
from evergreen.steps import promote
from evergreen.storage import Stores

logger = Logger(service="evergreen-promote")
STORES = Stores.from_env()


@logger.inject_lambda_context
@event_parser(model=PromoteInput)
def handler(event: PromoteInput, context: LambdaContext) -> dict:
    return promote.run(event, STORES).model_dump(mode="json")
