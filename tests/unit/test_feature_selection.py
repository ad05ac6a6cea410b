"""evergreen.feature_selection: constant, ID-like and row-counter columns are left out, each with why."""

from __future__ import annotations

import numpy as np
import pytest
from evergreen import data_contract, feature_selection
from evergreen.contracts import ColumnSchema
from evergreen.data import Frame
from evergreen.data_contract import DataContract, Plan
from evergreen.errors import DataError
from evergreen.serving.feeds import build_feeds
from evergreen.spec import SpecError, parse_spec

N = 200
RNG = np.random.default_rng(0)
SIGNAL = RNG.normal(size=N).astype(np.float32)  # a genuine feature, kept in every frame below


def frame(**columns: np.ndarray) -> tuple[Frame, ColumnSchema]:
    """A training Frame of the given columns plus "signal"; object arrays are categorical."""
    columns = {"signal": SIGNAL, **columns}
    n = len(next(iter(columns.values())))
    schema = ColumnSchema(numeric=[c for c, v in columns.items() if v.dtype != object],
                          categorical=[c for c, v in columns.items() if v.dtype == object],
                          target="y", problem_type="regression")
    return Frame(columns=columns, target=np.zeros(n)), schema


def left_out(keep=(), upload_rows=N, max_categories=50, **columns: np.ndarray) -> dict[str, str]:
    train, schema = frame(**columns)
    return feature_selection.left_out(train, schema, keep=set(keep), max_categories=max_categories,
                                      upload_rows=upload_rows)


def texts(values) -> np.ndarray:
    return np.array(list(values), dtype=object)


def test_a_constant_column_is_left_out_with_its_value_and_rows():
    got = left_out(rate=np.full(N, 7, dtype=np.float32), plan=texts(["pro"] * N))
    assert got == {
        "rate": "column 'rate' left out: constant, 7 in all 200 training rows "
                "(list it in spec.features.numeric to keep it)",
        "plan": "column 'plan' left out: constant, 'pro' in all 200 training rows "
                "(list it in spec.features.categorical to keep it)",
    }


def test_one_value_and_missing_cells_is_constant_too():
    rate = np.where(np.arange(N) % 4 == 0, np.nan, 0.5).astype(np.float32)
    plan = texts("pro" if i % 2 else "" for i in range(N))
    got = left_out(rate=rate, plan=plan)
    assert "constant, 0.5 in 150 of 200 training rows (the rest missing)" in got["rate"]
    assert "constant, 'pro' in 100 of 200 training rows (the rest missing)" in got["plan"]


def test_an_all_missing_column_is_left_out():
    got = left_out(rate=np.full(N, np.nan, dtype=np.float32), plan=texts([""] * N))
    assert got["rate"].startswith("column 'rate' left out: no value in the 200 training rows")
    assert got["plan"].startswith("column 'plan' left out: no value in the 200 training rows")


def test_an_id_like_text_column_is_left_out_naming_its_distinct_values_and_rows():
    ids = texts(f"C-{i:05d}" if i % 10 else "" for i in range(N))  # 180 present, all distinct
    assert left_out(customer_id=ids) == {
        "customer_id": "column 'customer_id' left out: ID-like, 180 distinct values in 180 training rows "
                       "(list it in spec.features.categorical to keep it)"}
    nearly = texts(f"C-{i % 185}" for i in range(N))  # 185 distinct in 200: 92.5%, above 90%
    assert "ID-like, 185 distinct values in 200 training rows" in left_out(ref=nearly)["ref"]


def test_a_text_column_with_repeats_or_few_values_is_kept():
    assert left_out(city=texts(f"c{i % 150}" for i in range(N))) == {}  # 75% distinct
    # all distinct, but no more values than data.max_categories: every one of them is one-hot encoded
    assert left_out(max_categories=N, code=texts(f"x{i}" for i in range(N))) == {}


def test_a_zip_code_with_2000_values_over_100k_rows_is_kept():
    rows = 100_000
    zips = texts(f"{z:05d}" for z in RNG.integers(10_000, 12_000, size=rows))
    train = Frame(columns={"zip": zips}, target=np.zeros(rows))
    schema = ColumnSchema(numeric=[], categorical=["zip"], target="y", problem_type="regression")
    assert feature_selection.left_out(train, schema, keep=set(), max_categories=50, upload_rows=rows) == {}


@pytest.mark.parametrize("counter", [np.arange(N), np.arange(1, N + 1), np.arange(N)[::-1] + 1000])
def test_a_row_counter_is_left_out(counter):
    got = left_out(row=counter.astype(np.float32))
    assert got["row"] == (f"column 'row' left out: a row counter, 200 distinct integers from {counter[0]} to "
                          f"{counter[-1]} in file order (the upload has 200 rows) "
                          "(list it in spec.features.numeric to keep it)")


def test_a_row_counter_over_the_training_rows_of_a_larger_upload_is_left_out():
    kept_rows = np.sort(RNG.choice(N * 5 // 3, size=N, replace=False))  # the training split keeps file order
    assert "a row counter, 200 distinct integers" in left_out(upload_rows=N * 5 // 3, row=kept_rows.astype(np.float32))["row"]


def test_integers_that_are_not_a_row_counter_are_kept():
    shuffled = RNG.permutation(N).astype(np.float32)  # all distinct, not in file order
    sparse = np.sort(RNG.choice(10**6, size=N, replace=False)).astype(np.float32)  # ordered, span far beyond the rows
    with_gap = np.arange(N, dtype=np.float32)
    with_gap[5] = np.nan  # a counter has every value
    assert left_out(shuffled=shuffled, sparse=sparse, with_gap=with_gap) == {}


def test_all_distinct_floats_are_continuous_and_kept_even_in_order():
    assert left_out(income=RNG.lognormal(10, 1, size=N).astype(np.float32),
                    ordered=np.linspace(0.5, 99.7, N, dtype=np.float32)) == {}


def test_a_column_the_spec_declares_is_kept():
    assert left_out(keep={"rate", "customer_id", "row"}, rate=np.full(N, 7, dtype=np.float32),
                    customer_id=texts(f"C-{i}" for i in range(N)), row=np.arange(N, dtype=np.float32)) == {}


def test_no_feature_column_left_is_a_data_error_naming_each_reason():
    train = Frame(columns={"id": texts(f"C-{i}" for i in range(N))}, target=np.zeros(N))
    schema = ColumnSchema(numeric=[], categorical=["id"], target="y", problem_type="regression")
    with pytest.raises(DataError, match=r"no feature columns are left besides the target 'y': column 'id' left out: "
                                        r"ID-like, 200 distinct values in 200 training rows"):
        feature_selection.left_out(train, schema, keep=set(), max_categories=50, upload_rows=N)


def test_the_plan_leaves_them_out_with_their_notices_and_lists_changes_against_the_contract():
    inferred = ColumnSchema(numeric=["tenure", "row"], categorical=["plan", "id"], target="y", problem_type="regression")
    old = DataContract(version=1, columns=inferred.model_copy(update={"numeric": ["tenure"], "categorical": ["plan"]}))
    reasons = {"row": "column 'row' left out: a row counter", "id": "column 'id' left out: ID-like"}
    plan = data_contract.leaving_out(Plan(inferred, 2, 1, changes=["columns added: ['row', 'id']"], notices=["n"]),
                                     old, reasons)
    assert plan.schema.numeric == ["tenure"] and plan.schema.categorical == ["plan"]
    assert plan.notices == ["n", *reasons.values()] and plan.changes == []
    first = data_contract.leaving_out(Plan(inferred, 1, None), None, reasons)
    assert first.schema == plan.schema and first.changes == []


def test_serving_ignores_a_left_out_column_sent_at_predict():
    feeds = build_feeds([{"tenure": 3, "plan": "pro", "customer_id": "C-1", "row": 17}], ["tenure"], ["plan"])
    assert feeds.ignored_fields == ["customer_id", "row"]
    assert feeds.numeric.tolist() == [[3.0]] and feeds.categorical.tolist() == [["pro"]]


def test_the_spec_switch():
    base = "{name: m, target: y, problem_type: regression, features: {auto_drop: %s}}"
    assert parse_spec(base % "false").features.auto_drop is False
    assert parse_spec("{name: m, target: y, problem_type: regression}").features.auto_drop is True
    with pytest.raises(SpecError, match="auto_drop"):
        parse_spec(base % "'no'")
