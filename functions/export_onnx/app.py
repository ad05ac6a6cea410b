"""Convert the best candidates to ONNX in ranking order; the first that passes parity is the challenger."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from evergreen.contracts import ExportInput
from evergreen.steps import export_onnx
from evergreen.storage import Stores

logger = Logger(service="evergreen-export-onnx")
STORES = Stores.from_env()


@logger.inject_lambda_context
@event_parser(model=ExportInput)
def handler(event: ExportInput, context: LambdaContext) -> dict:
    return export_onnx.run(event, STORES).model_dump(mode="json")
