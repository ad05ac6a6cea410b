"""A search of more than 200 trials (the old cap of the inline Map) through the real template.yaml and
state machine on moto: TrainRung's Distributed Map reads the rung's configurations from S3, runs each
Train in-process, and NextRung reads the rung back from the experiments table. The compute budget stops
the search after its first few trials, so the test stays quick: the rest of the rung is skipped."""

from __future__ import annotations

import json

import pytest

from evergreen import run_records, search
from evergreen_cli.local.stack import LocalStack
from evergreen.spec import parse_spec
from evergreen.storage import Stores, from_dynamo, rung_items_key
from evergreen.synthetic import make_churn
from tests.support.infra import ROOT
from tests.support.uploads import train_on_upload
from tests.support.specs import churn_spec

pytestmark = pytest.mark.e2e

# halving over 300 trials (of one family: quick fits) on 600 rows; the first trials spend the budget
SPEC = parse_spec(churn_spec("wide", """  - family: logistic_regression
    space: {C: {log_uniform: [0.001, 100]}}
""", "search: {strategy: halving, max_trials: 300, eta: 3, min_rows: 50, max_gb_seconds: 1.0}\n"))


@pytest.fixture(scope="module")
def run():
    with LocalStack(root=ROOT, stack_name="evergreen-wide") as stack:
        execution = train_on_upload(stack, SPEC, make_churn(600, seed=2))
        yield stack, execution, Stores.from_env()


def test_a_search_of_hundreds_of_trials_is_a_valid_spec():
    assert SPEC.search.max_trials == 300 > 200 and search.strategy_of(SPEC) == "halving"


def test_the_rung_runs_as_a_distributed_map_over_its_items_in_s3(run):
    stack, execution, stores = run
    assert execution["status"] == "SUCCEEDED", execution
    output = json.loads(execution["output"])
    items = stores.get_json(stores.artifacts_bucket, rung_items_key("wide", execution["name"], 0))
    assert len(items) > 200  # the first rung of 300 trials over the rungs the data allows
    assert "trials" not in output or len(output["trials"]) <= search.FINALISTS + 1  # RefitWinner's, not the Map's

    sfn = stack.client("stepfunctions")
    events = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
    [started] = [e["mapRunStartedEventDetails"]["mapRunArn"] for e in events if e["type"] == "MapRunStarted"]
    counts = sfn.describe_map_run(mapRunArn=started)["itemCounts"]
    assert counts["total"] == counts["succeeded"] == len(items) and counts["failed"] == 0


def test_next_rung_reads_every_trial_from_the_table_and_the_budget_ends_the_search(run):
    stack, execution, stores = run
    output = json.loads(execution["output"])
    state = output["run"]["search"]
    assert state["done"] and state["rung"] == 0 and state["stopped"].startswith("budget: the trials used")
    assert state["items_key"] is None and state["candidates"] == []
    records = run_records.run_trials(stores.experiments, execution["name"])
    trials = [r for r in records if not r["candidate_id"].endswith("-refit")]
    statuses = [r["status"] for r in trials]
    items = stores.get_json(stores.artifacts_bucket, rung_items_key("wide", execution["name"], 0))
    # every item has its trial record; none crashed (one did, in moto's DynamoDB race: shims.dynamodb)
    assert run_records.rung_crashes(stores.experiments, execution["name"], 0) == {}
    assert len(trials) == len(items)
    assert statuses.count("ok") >= 1 and set(statuses) == {"ok", "skipped"}
    assert state["trials"] == statuses.count("ok")  # skipped trials did not train
    # what travels on is the shortlist of the ok trials, never the rung
    assert {t["status"] for t in state["finalists"]} == {"ok"}
    assert len(state["finalists"]) == min(statuses.count("ok"), search.FINALISTS)
    assert len(execution["output"]) < 64 * 1024
    rec = from_dynamo(stores.experiments.get_item(Key={"run_id": execution["name"], "sk": "run"})["Item"])
    assert rec["status"] in ("PROMOTED", "REJECTED"), rec["reason"]
    assert len(rec["summary"]["leaderboard"]) == min(len(trials), 100)
