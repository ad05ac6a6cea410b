"""evergreen_cli.timeline on a real pipeline execution's history (moto's, kept in tests/events) and the
real ASL: each state's timing, a failure inside a state, retries, and the progress estimate."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from evergreen_cli import timeline
from tests.support.infra import ROOT

HISTORY = json.loads((ROOT / "tests" / "events" / "pipeline_execution_history.json").read_text())
ASL = json.loads((ROOT / "statemachines" / "pipeline.asl.json").read_text())


def test_states_of_a_promoting_run_in_order_with_their_timings():
    runs = timeline.states(HISTORY, ASL["States"])
    assert [r.name for r in runs] == ["Ingest", "TrainRung", "NextRung", "SearchDone", "RefitWhere", "RefitWinner",
                                      "Export", "Evaluate", "ShouldPromote", "Promote", "RecordPromotion", "Promoted"]
    ingest, train = runs[0], runs[1]
    assert (ingest.type, ingest.attempts, ingest.error) == ("Task", 1, None)
    assert abs(ingest.seconds - 2.032) < 1e-6  # 02:14:26.828 -> 02:14:28.860
    assert train.type == "Map" and train.attempts == 0 and abs(train.seconds - 3.715) < 1e-6
    assert all(r.exited is not None for r in runs)
    assert runs[-1].as_dict()["type"] == "Succeed"


def _event(i: int, kind: str, at: datetime, **detail) -> dict:
    event = {"id": i, "type": kind, "timestamp": at}
    if detail:
        key = {"TaskStateEntered": "stateEnteredEventDetails", "TaskStateExited": "stateExitedEventDetails",
               "LambdaFunctionFailed": "lambdaFunctionFailedEventDetails"}[kind]
        event[key] = detail
    return event


def test_a_retried_then_caught_failure_is_shown_on_its_state_and_a_running_state_has_no_exit():
    t0 = datetime(2026, 12, 1, 12, 0, 0)
    cause = json.dumps({"errorMessage": "s3://b/uploads/demo/x.csv: file is not UTF-8 text", "errorType": "DataError",
                        "stackTrace": ["..."]})
    events = [
        _event(1, "ExecutionStarted", t0),
        _event(2, "TaskStateEntered", t0, name="Ingest"),
        _event(3, "LambdaFunctionScheduled", t0),
        _event(4, "LambdaFunctionFailed", t0 + timedelta(seconds=1), error="Lambda.ServiceException", cause="throttled"),
        _event(5, "LambdaFunctionScheduled", t0 + timedelta(seconds=3)),
        _event(6, "LambdaFunctionFailed", t0 + timedelta(seconds=4), error="DataError", cause=cause),
        _event(7, "TaskStateExited", t0 + timedelta(seconds=4), name="Ingest"),
        _event(8, "TaskStateEntered", t0 + timedelta(seconds=4), name="RecordFailure"),
        _event(9, "LambdaFunctionScheduled", t0 + timedelta(seconds=4)),
    ]
    ingest, record = timeline.states(events, ASL["States"])
    assert ingest.attempts == 2 and ingest.seconds == 4.0
    assert ingest.error == "DataError s3://b/uploads/demo/x.csv: file is not UTF-8 text"  # the last failure, its message
    assert record.name == "RecordFailure" and record.exited is None and record.seconds is None


def test_progress_counts_work_states_done_out_of_the_most_still_ahead():
    runs = timeline.states(HISTORY, ASL["States"])
    # From the start the longest way is the SageMaker refit's: Ingest, TrainRung, NextRung, Prepare/RefitOn/Collect,
    # Export, Evaluate, Promote, RecordPromotion: 10 work states
    assert timeline.progress(ASL, [], finished=False) == timeline.Progress(0, 10)
    after_ingest = timeline.progress(ASL, runs[:1], finished=False)
    assert after_ingest == timeline.Progress(1, 10)
    in_refit = runs[:6]  # RefitWinner entered: Lambda refit, so only Export, Evaluate, Promote, RecordPromotion after it
    in_refit[-1] = timeline.StateRun(name="RefitWinner", type="Task", entered=in_refit[-1].entered)
    assert timeline.progress(ASL, in_refit, finished=False) == timeline.Progress(3, 8)
    done = timeline.progress(ASL, runs, finished=True)
    assert done == timeline.Progress(8, 8) and done.fraction == 1.0


def test_work_left_ignores_catch_edges_and_loops():
    left = timeline.work_left(ASL)
    assert left["RecordFailure"] == 1  # RecordFailure -> FailureKind -> Fail: not back into the pipeline
    assert left["Promoted"] == 0
    assert left["SearchDone"] == 7  # the SageMaker refit (3), Export, Evaluate, Promote, RecordPromotion; the loop back
    # to TrainRung stops at SearchDone, already on the path (TrainRung, NextRung: 2)
