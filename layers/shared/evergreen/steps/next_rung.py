"""NextRung: after a rung of trials, plan the next rung of the search or end it (evergreen.search).

The state machine loops TrainRung -> NextRung until the search is done; the finalists then go to
RefitWinner. Neither a rung's configurations nor its results travel in the state, so that a search of
any size fits the 256 KB payload:
  - `write_rung` (Ingest for the first rung, NextRung for the others) puts the rung's configurations in
    the artifacts bucket (storage.rung_items_key) as the JSON array TrainRung's Distributed Map reads
    (ItemReader), and leaves them out of the SearchState it returns (`items_key`, `size` name them);
  - each Train records its trial in the experiments table and returns a one-field summary the Map
    drops (ResultPath null); a Train invocation that crashed (timeout, out of memory) leaves a crash
    record instead (TrialCrashed: run_records "crash#<rung>#<candidate id>");
  - `rung_trials` reads them back: one TrialResult per configuration of the rung, in its order.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from evergreen import run_records, search
from evergreen.contracts import NextRungInput, SearchState, TrialResult
from evergreen.spec import Candidate
from evergreen.storage import Stores, rung_items_key

# a configuration is what the rung's items file says: DynamoDB keeps numbers without their type (a
# recorded max_features 1.0, all features, would read back as 1, one feature), so only the rest of a
# trial comes from its record
CONFIGURATION = ("candidate_id", "family", "params")
UNRECORDED = ("no trial record: its Train invocation failed and the failure could not be recorded either "
              "(see the TrainRung Map run's failed child executions)")


def run(inp: NextRungInput, stores: Stores) -> SearchState:
    run = inp.run
    state = read_rung(stores, run.search)
    trials = rung_trials(stores, run.run_id, state, run.spec.primary_metric or "")
    after = search.next_state(run.spec, state, trials, run.spec.search.search_rows(run.dataset.rows), datetime.now(UTC))
    after = after.model_copy(update={"finalists": search.shortlist(after.finalists, run.spec.higher_is_better)})
    return write_rung(stores, run.model_name, run.run_id, after)


def write_rung(stores: Stores, model_name: str, run_id: str, state: SearchState) -> SearchState:
    """The state as it travels: the rung's configurations written to S3 for TrainRung's ItemReader and
    left out of it. A finished search has no rung to write."""
    if state.done:
        return state.model_copy(update={"candidates": [], "items_key": None, "size": 0})
    key = rung_items_key(model_name, run_id, state.rung)
    stores.put_json(stores.artifacts_bucket, key, [c.model_dump(mode="json") for c in state.candidates])
    return state.model_copy(update={"candidates": [], "items_key": key, "size": len(state.candidates)})


def read_rung(stores: Stores, state: SearchState) -> SearchState:
    """The state with its rung's configurations read back from S3 (as `write_rung` wrote them)."""
    if state.candidates or state.items_key is None:
        return state
    items = stores.get_json(stores.artifacts_bucket, state.items_key)
    return state.model_copy(update={"candidates": [Candidate.model_validate(item) for item in items]})


def rung_trials(stores: Stores, run_id: str, state: SearchState, metric: str) -> list[TrialResult]:
    """One trial per configuration of the rung, in its order: its record in the experiments table (the
    configuration itself from the items file); failed with its crash record's error when its Train
    invocation crashed; failed as unrecorded when there is neither."""
    fields = [f for f in TrialResult.model_fields if f not in CONFIGURATION]
    records = run_records.rung_trials(stores.experiments, run_id, state.rung, fields)
    missing = [c for c in state.candidates if run_records.trial_id(c.candidate_id, state.rung) not in records]
    crashes = run_records.rung_crashes(stores.experiments, run_id, state.rung) if missing else {}
    out = []
    for candidate in state.candidates:
        configuration = candidate.model_dump(mode="json") | {"rung": state.rung}
        record = records.get(run_records.trial_id(candidate.candidate_id, state.rung))
        if record is not None:
            out.append(TrialResult.model_validate(record | configuration))
        else:
            out.append(TrialResult(**configuration, status="failed", metric=metric,
                                   error=crash_error(crashes.get(candidate.candidate_id))))
    return out


def crash_error(recorded: str | None) -> str:
    """A crash record's error (the Catch's {"Error", "Cause"} as JSON text) as a trial's error: the
    Cause, as the Map's TrialCrashed state used to return it, or the Error when there is no Cause."""
    if recorded is None:
        return UNRECORDED
    try:
        error = json.loads(recorded)
    except ValueError:
        return recorded
    if not isinstance(error, dict):
        return recorded
    return str(error.get("Cause") or error.get("Error") or UNRECORDED)
