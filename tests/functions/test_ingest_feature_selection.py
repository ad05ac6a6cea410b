"""Ingest (on moto) leaves constant and ID-like columns out of the schema the trials train on, says why in
the run's contract notices, and keeps that decision under the locked contract."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from evergreen import registry, run_records
from evergreen.contracts import IngestInput, RunContext
from evergreen.data_contract import DataContract
from evergreen.steps import ingest
from evergreen.storage import Stores

from tests.support.infra import moto_stores

SPEC = "{name: m, target: churned, problem_type: classification, primary_metric: accuracy, %s}"


@pytest.fixture
def stores(monkeypatch):
    yield from moto_stores(monkeypatch)


def csv(n: int = 400, region: Callable[[int], str] = lambda i: "eu") -> bytes:
    lines = ["id,tenure,plan,region,churned"]
    lines += [f"C-{i:05d},{i % 37},{['basic', 'pro', 'max'][i % 3]},{region(i)},{'yes' if i % 4 == 0 else 'no'}"
              for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


def ingest_run(stores: Stores, run_id: str, body: bytes, spec: str = "") -> RunContext:
    stores.put_bytes(stores.data_bucket, "specs/m.yaml", (SPEC % spec).encode())
    key = f"uploads/m/{run_id}.csv"
    stores.put_bytes(stores.data_bucket, key, body, "text/csv")
    event = {"model_name": "m", "source": {"bucket": stores.data_bucket, "key": key}}
    ctx = ingest.run(IngestInput(run_id=run_id, event=event), stores)
    run_records.release_lock(stores.experiments, "m", run_id)  # what FinishRun does
    return ctx


def test_constant_and_id_columns_are_left_out_of_the_schema_with_why(stores):
    ctx = ingest_run(stores, "r1", csv())
    columns = ctx.dataset.columns
    assert columns.numeric == ["tenure"] and columns.categorical == ["plan"]
    notices = ctx.contract.notices
    train = ctx.dataset.rows["train"]
    assert (f"column 'id' left out: ID-like, {train} distinct values in {train} training rows "
            "(list it in spec.features.categorical to keep it)") in notices
    assert (f"column 'region' left out: constant, 'eu' in all {train} training rows "
            "(list it in spec.features.categorical to keep it)") in notices
    profile = stores.get_json(stores.artifacts_bucket, ctx.dataset.profile_key)
    assert set(profile["profile"]["categorical"]) == {"plan"}  # nothing downstream sees them


def test_a_declared_column_or_auto_drop_off_keeps_them(stores):
    declared = ingest_run(stores, "r1", csv(), "features: {categorical: [id]}")
    assert declared.dataset.columns.categorical == ["id", "plan"]
    assert not any("'id'" in n for n in declared.contract.notices)
    off = ingest_run(stores, "r2", csv(), "features: {auto_drop: false}")
    assert off.dataset.columns.categorical == ["id", "plan", "region"]
    assert not any("left out" in n for n in off.contract.notices)


def test_under_the_locked_contract_a_left_out_column_stays_out_even_when_it_varies(stores):
    first = ingest_run(stores, "r1", csv())
    contract = DataContract(version=1, columns=first.dataset.columns)
    stores.put_json(stores.artifacts_bucket, "models/m/contracts/v000001.json", contract.model_dump())
    registry.register_champion(stores.registry, "m", 1, {
        "model_key": "k", "sha256": "s", "columns": first.dataset.columns.model_dump(),
        "contract_key": "models/m/contracts/v000001.json", "contract_version": 1}, expected_version=None)
    later = ingest_run(stores, "r2", csv(region=lambda i: ["eu", "us"][i % 2]))
    assert later.dataset.columns == first.dataset.columns
    assert "columns not in contract v1 are left out: 'id', 'region' (bump contract.version in the spec to take them in)" \
        in later.contract.notices
    # a declared new version decides afresh: the varying region comes in, the id stays out
    bumped = ingest_run(stores, "r3", csv(region=lambda i: ["eu", "us"][i % 2]), "contract: {version: 2}")
    assert bumped.dataset.columns.categorical == ["plan", "region"]
    assert bumped.contract.changes == ["columns added: ['region']"]
    assert any(n.startswith("column 'id' left out: ID-like") for n in bumped.contract.notices)
