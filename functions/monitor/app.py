"""Every MonitorScheduleMinutes: each champion's live quality (stored labels) and drift (served inputs), put to CloudWatch."""

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from evergreen.steps import monitor
from evergreen.storage import Stores

logger = Logger(service="evergreen-monitor")
copy_config_to_registered_loggers(source_logger=logger, include={"evergreen"})
STORES = Stores.from_env()
SETTINGS = monitor.MonitorSettings.from_env()
CLOUDWATCH = boto3.client("cloudwatch")


@logger.inject_lambda_context
@event_parser(model=monitor.MonitorInput)
def handler(event: monitor.MonitorInput, context: LambdaContext) -> dict:
    return monitor.run(event, STORES, CLOUDWATCH, SETTINGS).model_dump(mode="json")
