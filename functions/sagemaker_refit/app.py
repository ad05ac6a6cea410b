"""Both ends of the SageMaker training job that fits a winner too large for RefitFunction:
"prepare" builds its request (and ships its program), "collect" takes its model in."""

import os

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from evergreen.contracts import SageMakerRefitInput
from evergreen.sagemaker_refit import training_image
from evergreen.steps import refit
from evergreen.storage import Stores

logger = Logger(service="evergreen-sagemaker-refit")
STORES = Stores.from_env()


@logger.inject_lambda_context
@event_parser(model=SageMakerRefitInput)
def handler(event: SageMakerRefitInput, context: LambdaContext) -> dict | list[dict]:
    if event.action == "prepare":
        image = training_image(os.environ.get("TRAINING_IMAGE", ""), os.environ["AWS_REGION"])
        return refit.prepare_sagemaker(event, STORES, os.environ["SAGEMAKER_ROLE_ARN"], image)
    return [trial.model_dump(mode="json") for trial in refit.collect_sagemaker(event, STORES)]
