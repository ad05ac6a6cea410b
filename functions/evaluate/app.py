"""Judge the exported ONNX challenger against the champion (or a baseline) on the test split; decide."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from evergreen.contracts import EvaluateInput
from evergreen.steps import evaluate
from evergreen.storage import Stores

logger = Logger(service="evergreen-evaluate")
STORES = Stores.from_env()


@logger.inject_lambda_context
@event_parser(model=EvaluateInput)
def handler(event: EvaluateInput, context: LambdaContext) -> dict:
    return evaluate.run(event, STORES).model_dump(mode="json")
