"""evergreen.cost: a run's Lambda GB-seconds, state transitions and dollars from its execution's history.

tests/events/pipeline_execution_history.json is the history moto's interpreter kept of a local run of
the pipeline (a two-candidate grid, promoted), as get_execution_history gives it, inputs and outputs left out.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from evergreen import cost
from tests.support.infra import ROOT

HISTORY = json.loads((ROOT / "tests/events/pipeline_execution_history.json").read_text())
TASKS = ["Ingest", "NextRung", "RefitWinner", "Export", "Evaluate", "Promote", "RecordPromotion"]
FUNCTIONS = {"Ingest": "IngestFunction", "NextRung": "NextRungFunction", "RefitWinner": "RefitFunction",
             "Export": "ExportFunction", "Evaluate": "EvaluateFunction", "Promote": "PromoteFunction",
             "RecordPromotion": "FinishRunFunction"}
LATER = datetime(2027, 1, 1, tzinfo=UTC)  # "now" for histories whose invocations have all ended


def events(history: list[dict] = HISTORY) -> list[dict]:
    """The events as boto3 gives them: timestamps as datetimes."""
    return [{**e, "timestamp": datetime.fromisoformat(e["timestamp"])} for e in history]


def until(event_type: str, state: str) -> list[dict]:
    """The history as it stood when `state`'s Lambda had just started (what FinishRun reads of its own run)."""
    entered = next(e["id"] for e in HISTORY if e.get("stateEnteredEventDetails", {}).get("name") == state)
    started = next(e["id"] for e in HISTORY if e["type"] == event_type and e["id"] > entered)
    return events([e for e in HISTORY if e["id"] <= started])


def test_each_task_invocation_lasts_from_its_start_to_its_end_and_names_its_state_and_function():
    recorded = events()
    invocations = cost.lambda_invocations(recorded, now=LATER)
    assert [i.state for i in invocations] == TASKS
    # walk the history in order: each Started is followed by its function's end before anything else starts
    starts = [e for e in recorded if e["type"] == "LambdaFunctionStarted"]
    ends = [e for e in recorded if e["type"] == "LambdaFunctionSucceeded"]
    for invocation, start, end in zip(invocations, starts, ends, strict=True):
        assert invocation.seconds == (end["timestamp"] - start["timestamp"]).total_seconds() > 0
        assert f"-{FUNCTIONS[invocation.state]}-" in invocation.function_arn


def test_an_invocation_without_an_end_runs_until_now_as_finish_runs_own_does_while_it_reads_the_history():
    history = until("LambdaFunctionStarted", "RecordPromotion")
    started = history[-1]["timestamp"]
    *others, own = cost.lambda_invocations(history, now=started + timedelta(seconds=1.5))
    assert own.state == "RecordPromotion" and own.seconds == 1.5
    assert [i.state for i in others] == TASKS[:-1]


def test_transitions_are_the_states_entered_and_what_finish_run_sees_lacks_the_end_state():
    recorded = events()
    path = ["Ingest", "TrainRung", "NextRung", "SearchDone", "RefitWhere", "RefitWinner", "Export", "Evaluate",
            "ShouldPromote", "Promote", "RecordPromotion", "Promoted"]
    assert [e["stateEnteredEventDetails"]["name"] for e in recorded if e["type"].endswith("StateEntered")] == path
    assert cost.state_transitions(recorded, cost.lambda_invocations(recorded, LATER)) == len(path)
    seen = until("LambdaFunctionStarted", "RecordPromotion")
    assert cost.state_transitions(seen, cost.lambda_invocations(seen, LATER)) == len(path) - 1


def test_a_retried_task_is_two_invocations_of_its_state_and_one_more_transition():
    """The shape AWS records for a Task whose first invocation failed and whose Retry invoked it again."""
    t0, arn = datetime(2026, 12, 1, 12, tzinfo=UTC), "arn:aws:lambda:us-east-1:1:function:stk-TrainFunction-X"

    def event(i: int, previous: int, kind: str, seconds: float, **details) -> dict:
        return {"id": i, "previousEventId": previous, "type": kind, "timestamp": t0 + timedelta(seconds=seconds), **details}

    history = [
        event(1, 0, "TaskStateEntered", 0, stateEnteredEventDetails={"name": "Export"}),
        event(2, 1, "LambdaFunctionScheduled", 0.1, lambdaFunctionScheduledEventDetails={"resource": arn}),
        event(3, 2, "LambdaFunctionStarted", 0.2),
        event(4, 3, "LambdaFunctionFailed", 3.2, lambdaFunctionFailedEventDetails={"error": "Lambda.ServiceException"}),
        event(5, 4, "LambdaFunctionScheduled", 5.2, lambdaFunctionScheduledEventDetails={"resource": arn}),
        event(6, 5, "LambdaFunctionStarted", 5.3),
        event(7, 6, "LambdaFunctionSucceeded", 6.3),
        event(8, 7, "TaskStateExited", 6.3, stateExitedEventDetails={"name": "Export"}),
    ]
    invocations = cost.lambda_invocations(history, LATER)
    assert [(i.state, i.seconds, i.entered) for i in invocations] == [("Export", 3.0, 1), ("Export", 1.0, 1)]
    assert cost.state_transitions(history, invocations) == 2


def test_the_run_cost_prices_gb_seconds_requests_and_transitions_and_adds_the_steps_the_history_cannot_time():
    recorded = events()
    invocations = cost.lambda_invocations(recorded, LATER)
    memory = {i.function_arn: 1024 * (n + 1) for n, i in enumerate(invocations)}  # a different size each
    usage = cost.StepUsage(invocations=2, gb_seconds=4.5, transitions=2)
    spent = cost.run_cost(invocations, 12, memory.__getitem__, {"Train": usage})

    for i in invocations:
        step = spent["steps"][i.state]
        assert step["invocations"] == 1 and step["seconds"] == pytest.approx(i.seconds, abs=1e-4)
        assert step["gb_seconds"] == pytest.approx(i.seconds * memory[i.function_arn] / 1024, abs=1e-4)
    assert spent["steps"]["Train"] == {"invocations": 2, "gb_seconds": 4.5}
    assert spent["state_transitions"] == 12 + 2 and spent["lambda_requests"] == len(TASKS) + 2
    gb_seconds = sum(i.seconds * memory[i.function_arn] / 1024 for i in invocations) + 4.5
    assert spent["lambda_gb_seconds"] == pytest.approx(gb_seconds, abs=1e-3)
    assert spent["usd"]["lambda"] == pytest.approx(gb_seconds * 0.0000166667 + 9 * 0.20 / 1e6, abs=1e-6)
    assert spent["usd"]["step_functions"] == pytest.approx(14 * 0.025 / 1000, abs=1e-6)
    assert spent["usd"]["total"] == pytest.approx(spent["usd"]["lambda"] + spent["usd"]["step_functions"], abs=1e-6)
    assert spent["prices"]["as_of"] == cost.PRICES_AS_OF


def test_the_distributed_maps_runs_are_named_for_their_children():
    [arn] = cost.map_runs(events())
    assert arn.startswith("arn:aws:states:us-east-1:123456789012:mapRun:")
