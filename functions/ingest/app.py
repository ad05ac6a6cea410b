"""Ingest an upload or feedback into a versioned dataset and plan the trials."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from evergreen.contracts import IngestInput
from evergreen.steps import ingest
from evergreen.storage import Stores

logger = Logger(service="evergreen-ingest")
STORES = Stores.from_env()


@logger.inject_lambda_context
@event_parser(model=IngestInput)
def handler(event: IngestInput, context: LambdaContext) -> dict:
    return ingest.run(event, STORES).model_dump(mode="json")
