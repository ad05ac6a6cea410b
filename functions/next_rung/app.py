"""Plan the search's next rung from the last rung's trials (read from the experiments table), or end the search (successive halving, budgets)."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from evergreen.contracts import NextRungInput
from evergreen.steps import next_rung
from evergreen.storage import Stores

logger = Logger(service="evergreen-next-rung")
STORES = Stores.from_env()


@logger.inject_lambda_context
@event_parser(model=NextRungInput)
def handler(event: NextRungInput, context: LambdaContext) -> dict:
    state = next_rung.run(event, STORES)
    logger.info("search", extra={"rung": state.rung, "done": state.done, "stopped": state.stopped,
                                 "next_candidates": state.size, "trials": state.trials})
    return state.model_dump(mode="json")
