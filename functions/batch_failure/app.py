"""Record why a batch failed (error.json beside its outputs), remove its working files, send an alert."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from evergreen.batch_contracts import BatchFailureInput
from evergreen.steps import batch_failure
from evergreen.storage import Stores

logger = Logger(service="evergreen-batch-failure")
STORES = Stores.from_env()


@logger.inject_lambda_context
@event_parser(model=BatchFailureInput)
def handler(event: BatchFailureInput, context: LambdaContext) -> dict:
    return batch_failure.run(event, STORES).model_dump(mode="json")
