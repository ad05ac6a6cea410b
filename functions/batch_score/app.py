"""Score one chunk of a batch with the pinned champion version; write its parts of the two CSV files.

Batch predictions are not written to the prediction log (PredictionsTable): see evergreen.steps.batch_score.
"""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from evergreen.batch_contracts import ScoreChunkInput
from evergreen.steps import batch_score
from evergreen.storage import Stores

logger = Logger(service="evergreen-batch-score")
STORES = Stores.from_env()
CHAMPIONS = batch_score.PinnedChampions(STORES)  # verified models, kept while the container is warm


@logger.inject_lambda_context
@event_parser(model=ScoreChunkInput)
def handler(event: ScoreChunkInput, context: LambdaContext) -> dict:
    return batch_score.run(event, STORES, CHAMPIONS).model_dump(mode="json")
