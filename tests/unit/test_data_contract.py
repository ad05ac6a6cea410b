"""evergreen.data_contract: the locked contract decides the columns; every violation is listed."""

import pytest

from evergreen.table import Table
from evergreen.contracts import ColumnSchema
from evergreen.data import build_frame
from evergreen.data_contract import DataContract, breaking_changes, conformance, new_categories, plan
from evergreen.errors import DataError
from evergreen.spec import SpecError
from tests.unit.tabular import make_spec

LOCKED = ColumnSchema(numeric=["tenure"], categorical=["plan"], target="churned", problem_type="classification",
                      classes=["no", "yes"])
CONTRACT = DataContract(version=1, columns=LOCKED, vocabulary={"plan": ["basic", "max", "pro"]})


def rows(n=200, **overrides):
    header = ["tenure", "plan", "churned"]
    body = [[str(i % 60), ["basic", "pro", "max"][i % 3], "yes" if i % 4 == 0 else "no"] for i in range(n)]
    for column, values in overrides.items():
        j = header.index(column)
        for i, value in values.items():
            body[i][j] = value
    return header, body


def check(header, body, spec=None, contract=CONTRACT):
    spec = spec or make_spec(target="churned")
    p = plan(Table.from_rows(header, body), spec, contract)
    cleaned = build_frame(Table.from_rows(header, body), p.schema)
    return p, cleaned, conformance(p, cleaned.report, spec)


def test_a_conforming_upload_follows_the_contract_not_the_data():
    header, body = rows(tenure={i: "twelve" for i in range(100)})  # half words: inference would say categorical
    p, cleaned, problems = check(header, body)
    assert p.schema == LOCKED and p.version == p.previous == 1 and not p.changes
    assert problems == ["column 'tenure': 100 of 200 values is not a number (e.g. 'twelve'); at most 5% may be "
                        "(spec data.max_invalid_fraction)"]


def test_every_difference_is_listed_at_once():
    header, body = rows(churned={0: "maybe", 1: "maybe", 2: "1"})
    header[0] = "tenure_months"  # renamed
    spec = make_spec(target="churned")
    p = plan(Table.from_rows(header, body), spec, CONTRACT)
    assert p.differences == ["columns missing: ['tenure'] (renamed? the upload has new columns ['tenure_months'])"]
    assert any("'tenure_months'" in n and "left out" in n for n in p.notices)
    with pytest.raises(DataError, match=r"columns \['tenure'\] of the schema are not in the data"):
        build_frame(Table.from_rows(header, body), p.schema)


def test_classes_added_or_removed_are_contract_differences():
    header, body = rows(churned={0: "maybe", 1: "maybe", 2: "1"})
    _, _, problems = check(header, body)
    assert problems == ["classes added: 'maybe' (2 rows), '1' (1 rows); the contract's classes are ['no', 'yes']"]
    header, body = rows(churned={i: "no" for i in range(200)})
    _, _, problems = check(header, body)
    assert problems == ["classes removed (no rows): ['yes']"]


def test_labels_that_changed_type_are_a_difference():
    header, body = rows()
    body = [r[:2] + ["1" if r[2] == "yes" else "0"] for r in body]
    _, _, problems = check(header, body)
    assert problems[0].startswith("classes added: '0' (150 rows), '1' (50 rows)")
    assert problems[1] == "classes removed (no rows): ['no', 'yes']"


def test_the_spec_must_agree_with_the_contract():
    header, body = rows()
    p = plan(Table.from_rows(header, body), make_spec(target="churned", problem_type="regression"), CONTRACT)
    assert "the spec's problem type regression is not the contract's classification" in p.differences
    with pytest.raises(SpecError, match="older than the locked contract v2"):
        plan(Table.from_rows(header, body), make_spec(target="churned"), CONTRACT.model_copy(update={"version": 2}))


def contract_spec(version, breaking=False, **kw):
    spec = make_spec(target="churned", **kw)
    return spec.model_copy(update={"contract": spec.contract.model_copy(update={"version": version, "breaking": breaking})})


def test_a_declared_additive_change_lists_it_and_keeps_the_champion_comparable():
    header, body = rows()
    header, body = header[:2] + ["region"] + header[2:], [r[:2] + [["n", "s"][i % 2]] + r[2:] for i, r in enumerate(body)]
    p = plan(Table.from_rows(header, body), contract_spec(2), CONTRACT)
    assert p.version == 2 and p.previous == 1 and not p.breaking
    assert p.changes == ["columns added: ['region']"] and p.schema.categorical == ["plan", "region"]


def test_a_declared_breaking_change_needs_the_spec_to_say_so():
    header, body = rows()
    header, body = ["plan", "churned"], [r[1:] for r in body]
    with pytest.raises(DataError, match=r"v1 -> v2 is a breaking change: columns removed: \['tenure'\].*contract.breaking: true"):
        plan(Table.from_rows(header, body), contract_spec(2), CONTRACT)
    p = plan(Table.from_rows(header, body), contract_spec(2, breaking=True), CONTRACT)
    assert p.breaking and p.changes == ["columns removed: ['tenure']"]


def test_breaking_changes():
    assert breaking_changes(LOCKED, LOCKED) == []
    retyped = LOCKED.model_copy(update={"numeric": [], "categorical": ["plan", "tenure"]})
    assert breaking_changes(LOCKED, retyped) == ["columns changed type: ['tenure']"]
    assert breaking_changes(LOCKED, LOCKED.model_copy(update={"classes": ["maybe", "no", "yes"]})) == [
        "classes changed: added ['maybe']"]


def test_new_categories_are_counted_not_refused():
    header, body = rows(plan={0: "gold", 5: "gold", 7: " Gold "})
    p, cleaned, problems = check(header, body)
    assert problems == []
    assert new_categories(CONTRACT, cleaned.frame) == {"plan": {"rows": 3, "examples": ["gold", "Gold"]}}
    assert new_categories(CONTRACT.model_copy(update={"open_vocabulary": ["plan"]}), cleaned.frame) == {}


def test_a_first_contract_is_inferred():
    header, body = rows()
    p = plan(Table.from_rows(header, body), make_spec(target="churned"), None)
    assert p.schema == LOCKED and p.previous is None and p.version == 1
