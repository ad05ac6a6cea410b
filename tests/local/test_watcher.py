"""What `make up` prints about the runs (evergreen_cli.local.watcher): the formatting as pure functions,
then the watcher following a real pipeline run, a failed one and a batch scoring on the local stack."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from evergreen_cli.target import Target
from evergreen_cli.timeline import StateRun
from evergreen_cli.local.stack import LocalStack
from evergreen_cli.local.watcher import Watcher, new_lines, started
from evergreen.spec import dump_spec, parse_spec
from evergreen.synthetic import make_churn
from tests.support.infra import ROOT
from tests.support.specs import churn_spec

T0 = datetime(2026, 12, 6, 3, 5, 26, tzinfo=UTC)
RUN = "a7b74483-8412-444a-a403-dd7e4c8428ea"


def state(name: str, kind: str, start: float, took: float | None, error: str | None = None, attempts: int = 1) -> dict:
    """A state as evergreen_cli.runs.run_detail gives it (timeline.StateRun.as_dict)."""
    entered = T0 + timedelta(seconds=start)
    exited = None if took is None else entered + timedelta(seconds=took)
    return StateRun(name, kind, entered, exited, attempts, error).as_dict()


def detail(execution_status: str, states: list[dict], **record) -> dict:
    """What run_detail says of an execution; `record`: the run record's status and reason, or the execution's error."""
    return {"run_id": RUN, "execution_status": execution_status, "states": states,
            "seconds": 18.46 if execution_status != "RUNNING" else None, "status": execution_status,
            "reason": None, "error": None, "cause": None, **record}


def test_each_work_state_is_said_once_when_it_finished_then_the_outcome_with_the_records_reason():
    ingest, train = state("Ingest", "Task", 0, 0.31), state("TrainRung", "Map", 0.3, None)
    lines, shown = new_lines(detail("RUNNING", [ingest, train]), 0)
    assert (lines, shown) == ([f"[run] {RUN} Ingest done in 0.3s"], 1)  # TrainRung still runs
    assert new_lines(detail("RUNNING", [ingest, train]), shown) == ([], 1)  # the next poll: nothing new

    train = state("TrainRung", "Map", 0.3, 15.5)
    states = [ingest, train, state("NextRung", "Task", 15.8, 0.1), state("SearchDone", "Choice", 15.9, 0.0),
              state("Export", "Task", 15.9, 1.06, attempts=2), state("ShouldPromote", "Choice", 17, 0.0),
              state("Promoted", "Succeed", 17, 0.0)]
    done = detail("SUCCEEDED", states, status="PROMOTED", reason="v1 promoted: no champion yet:\n  challenger accuracy 0.9000")
    lines, shown = new_lines(done, shown)
    assert lines == [f"[run] {RUN} TrainRung done in 15.5s",
                     f"[run] {RUN} NextRung done in 0.1s",  # a Choice or Succeed state is not said
                     f"[run] {RUN} Export done in 1.1s (2 tries)",
                     f"[run] {RUN} SUCCEEDED in 18.5s: PROMOTED: v1 promoted: no champion yet: challenger accuracy 0.9000"]
    assert shown == 4


def test_a_failed_state_is_said_when_the_next_one_starts_and_a_failed_run_says_why_once():
    failed = state("Ingest", "Task", 0, None, error="DataError s3://b/uploads/demo/x.csv: file is not UTF-8 text")
    running = detail("RUNNING", [failed, state("RecordFailure", "Task", 0.1, None)])
    assert new_lines(running, 0) == ([f"[run] {RUN} Ingest failed: DataError s3://b/uploads/demo/x.csv: file is not UTF-8 text"], 1)
    ended = detail("FAILED", [failed, state("RecordFailure", "Task", 0.1, 0.4), state("RunFailed", "Fail", 0.5, None)],
                   reason="DataError: s3://b/uploads/demo/x.csv: file is not UTF-8 text")
    assert new_lines(ended, 1)[0] == [f"[run] {RUN} RecordFailure done in 0.4s",  # FAILED is not said twice
                                      f"[run] {RUN} FAILED in 18.5s: DataError: s3://b/uploads/demo/x.csv: file is not UTF-8 text"]
    unrecorded = detail("FAILED", [], error="States.TaskFailed",
                        cause='{"errorMessage": "boom", "errorType": "RuntimeError"}')
    assert new_lines(unrecorded, 0)[0] == [f"[run] {RUN} FAILED in 18.5s: States.TaskFailed boom"]


def test_a_batch_says_what_it_scored_and_each_start_says_its_machine_and_trigger():
    output = {"summary": {"rows": 500, "scored": 498, "rejected": 2, "model": "demo", "version": 3,
                          "predictions_key": "scored/demo/rows.csv/predictions.csv"}}
    assert new_lines(detail("SUCCEEDED", []), 0, output)[0] == [
        f"[run] {RUN} SUCCEEDED in 18.5s: scored 498 of 500 rows (2 rejected) with demo v3: scored/demo/rows.csv/predictions.csv"]
    upload = {"detail-type": "Object Created", "detail": {"bucket": {"name": "b"}, "object": {"key": "uploads/demo/data.csv"}}}
    alarm = {"detail-type": "CloudWatch Alarm State Change", "detail": {"alarmName": "evergreen-local-quality-demo"}}
    assert started(RUN, "pipeline", upload) == f"[run] {RUN} started (pipeline: upload uploads/demo/data.csv)"
    assert started(RUN, "pipeline", alarm) == f"[run] {RUN} started (pipeline: alarm evergreen-local-quality-demo)"
    assert started(RUN, "pipeline", {"model_name": "demo"}) == f"[run] {RUN} started (pipeline: started by hand for demo)"
    assert started(RUN, "batch-scoring", None) == f"[run] {RUN} started (batch-scoring: started by hand)"


# ----------------------------------------------------------------------------- on the local stack

SPEC = parse_spec(churn_spec("churn", "  - family: logistic_regression\n    grid: {C: [1.0]}\n"))


def follow(watcher: Watcher, stack: LocalStack, known: int) -> list[str]:
    """Poll as `make up` does until the new execution has said its outcome; every line in order."""
    execution = stack.wait_for_new_execution(known)
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while not any(re.match(rf"\[run\] {execution['name']} [A-Z_]+ in ", line) for line in lines):
        assert time.monotonic() < deadline, lines
        lines += watcher.poll()
        time.sleep(0.2)
    assert watcher.poll() == []  # an ended execution says nothing more
    return lines


@pytest.mark.e2e
def test_the_watcher_follows_runs_on_the_local_stack_as_make_up_prints_them():
    with LocalStack(ROOT, {"ModelName": "churn"}, stack_name="evergreen-watch") as stack:
        s3, bucket = stack.client("s3"), stack.outputs["DataBucketName"]
        s3.put_object(Bucket=bucket, Key="specs/churn.yaml", Body=dump_spec(SPEC).encode())
        target = Target(kind="local", name=stack.stack_name, region=stack.region, outputs=stack.outputs)
        watcher = Watcher(target, stack.state_machine_arns)
        assert watcher.poll() == []

        s3.put_object(Bucket=bucket, Key="uploads/churn/first.csv", Body=make_churn(400, seed=1))
        lines = follow(watcher, stack, 0)
        [execution] = stack.list_executions()
        name = execution["name"]
        assert lines[0] == f"[run] {name} started (pipeline: upload uploads/churn/first.csv)"
        said = [re.fullmatch(rf"\[run\] {name} (\w+) done in \d+\.\ds", line).group(1) for line in lines[1:-1]]
        assert said == ["Ingest", "TrainRung", "NextRung", "RefitWinner", "Export", "Evaluate", "Promote", "RecordPromotion"]
        assert re.fullmatch(rf"\[run\] {name} SUCCEEDED in \d+\.\ds: PROMOTED: v1 promoted: no champion yet: .+", lines[-1])

        s3.put_object(Bucket=bucket, Key="uploads/churn/no-target.csv", Body=make_churn(200, seed=2).replace(b",churned", b",other"))
        lines = follow(watcher, stack, 1)
        name = stack.list_executions()[1]["name"]
        assert len(lines) == 4 and lines[0] == f"[run] {name} started (pipeline: upload uploads/churn/no-target.csv)"
        assert re.fullmatch(rf"\[run\] {name} Ingest failed after \d+\.\ds: DataError .*target column 'churned' not found", lines[1])
        assert re.fullmatch(rf"\[run\] {name} RecordFailure done in \d+\.\ds", lines[2])
        assert re.fullmatch(rf"\[run\] {name} FAILED in \d+\.\ds: DataError: .*target column 'churned' not found", lines[3])

        rows = b"".join(line.rsplit(b",", 1)[0] + b"\n" for line in make_churn(50, seed=3).splitlines())  # no target
        s3.put_object(Bucket=bucket, Key="score/churn/rows.csv", Body=rows)
        lines = follow(watcher, stack, 2)
        name = stack.list_executions()[2]["name"]
        assert lines[0] == f"[run] {name} started (batch-scoring: upload score/churn/rows.csv)"
        assert [line.split()[2] for line in lines[1:-1]] == ["Plan", "ScoreChunks", "Combine"]
        assert re.fullmatch(rf"\[run\] {name} SUCCEEDED in \d+\.\ds: scored 50 of 50 rows with churn v1: "
                            r"scored/churn/rows\.csv/predictions\.csv", lines[-1])
