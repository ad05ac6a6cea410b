"""Check an upload under score/<model>/ against the champion's columns and cut it into chunks of rows.

BATCH_CHUNK_ROWS (template parameter BatchChunkRows) is the lines per chunk; Plan doubles it when a
file would need more than evergreen.batch.MAX_CHUNKS chunks.
"""

import os

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from evergreen import batch
from evergreen.batch_contracts import BatchPlanInput
from evergreen.steps import batch_plan
from evergreen.storage import Stores

logger = Logger(service="evergreen-batch-plan")
STORES = Stores.from_env()
CHUNK_ROWS = int(os.environ.get("BATCH_CHUNK_ROWS", batch.DEFAULT_CHUNK_ROWS))


@logger.inject_lambda_context
@event_parser(model=BatchPlanInput)
def handler(event: BatchPlanInput, context: LambdaContext) -> dict:
    return batch_plan.run(event, STORES, CHUNK_ROWS).model_dump(mode="json")
