"""NextRung: after a rung of trials, plan the next rung of the search or end it (evergreen.search).

The state machine loops TrainRung -> NextRung until the search is done; the finalists then go to
RefitWinner. Pure: no AWS call (the trials' compute comes in their results)."""

from __future__ import annotations

from datetime import UTC, datetime

from evergreen import search
from evergreen.contracts import NextRungInput, SearchState


def run(inp: NextRungInput) -> SearchState:
    run = inp.run
    return search.next_state(run.spec, run.search, inp.trials, run.dataset.rows["train"], datetime.now(UTC))
