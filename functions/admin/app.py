"""ModelAdminFunction: rollback, promote, end_rollout, pin, unpin and status of a model (evergreen.admin).

    aws lambda invoke --function-name <ModelAdminFunctionName> \
        --payload '{"action": "rollback", "model": "churn", "version": 1, "reason": "..."}' out.json

A refused action fails the invocation with its reason in one line (errorType AdminError)."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from evergreen import admin
from evergreen.storage import Stores

logger = Logger(service="evergreen-admin")
STORES = Stores.from_env()


@logger.inject_lambda_context(log_event=True)  # who asked for what goes to the log beside the audit entry
def handler(event: dict, context: LambdaContext) -> dict:
    return admin.run(admin.parse_request(event), STORES)
