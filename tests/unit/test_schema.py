"""evergreen.schema: which columns are features, of what type, and the target's classes."""

import pytest

from evergreen.table import Table
from evergreen.errors import DataError
from evergreen.schema import infer_schema
from tests.unit.tabular import make_spec, sample_rows


# --- infer_schema -----------------------------------------------------------------------------


def test_infer_schema_types_and_missing_tokens():
    header = ["num", "mixed", "cat", "allmissing", "y"]
    rows = [[v, m, c, e, t] for v, m, c, e, t in zip(
        ["1", "NA", "2.5", "?", "-3e2", "null", "N/A", "nan", "", "7"],
        ["1", "2", "x", "4", "5", "6", "7", "8", "9", "10"],
        ["a", "b", "a", "b", "a", "b", "a", "b", "a", "b"],
        ["", "NA", "?", "", "", "", "", "", "", ""],
        ["no", "yes", "no", "yes", "no", "yes", "no", "yes", "no", "maybe"],
    )]
    schema = infer_schema(Table.from_rows(header, rows), make_spec()).schema
    assert schema.numeric == ["num"]
    assert schema.categorical == ["mixed", "cat"]
    assert schema.classes == ["maybe", "no", "yes"]
    assert schema.target == "y" and schema.problem_type == "classification"


def test_infer_schema_respects_forced_types_and_drop():
    header, rows = sample_rows()
    spec = make_spec(categorical=["level"], numeric=[], drop=["colour"])
    schema = infer_schema(Table.from_rows(header, rows), spec).schema
    assert schema.numeric == ["x"] and schema.categorical == ["level"]
    forced = infer_schema(Table.from_rows(header, rows), make_spec(numeric=["colour"])).schema
    assert forced.numeric == ["x", "colour", "level"] and forced.categorical == []


def test_target_not_found_lists_columns():
    header, rows = sample_rows()
    with pytest.raises(DataError, match=r"target column 'churn' not found; columns are \['x', 'colour', 'level', 'y'\]"):
        infer_schema(Table.from_rows(header, rows), make_spec(target="churn"))


def test_forced_column_absent_is_named():
    header, rows = sample_rows()
    with pytest.raises(DataError, match=r"spec.features.numeric names columns that are not in the data: \['nope'\]"):
        infer_schema(Table.from_rows(header, rows), make_spec(numeric=["nope"]))


def test_single_class_is_refused():
    header, rows = sample_rows()
    rows = [r[:3] + ["yes"] for r in rows]
    with pytest.raises(DataError, match="has only 'yes'; classification needs at least 2 classes"):
        infer_schema(Table.from_rows(header, rows), make_spec())


def test_regression_target_must_be_numeric_and_bad_values_are_named():
    header, rows = sample_rows()
    rows = [r[:3] + [str(i) if i % 10 else "lots"] for i, r in enumerate(rows)]
    with pytest.raises(DataError, match=r"must be numeric for regression; 3 values are not: 'lots'"):
        infer_schema(Table.from_rows(header, rows), make_spec(problem_type="regression"))


def test_too_few_usable_rows():
    header, rows = sample_rows(12)
    rows += [r[:3] + ["NA"] for r in sample_rows(20)[1]]
    with pytest.raises(DataError, match="only 12 usable rows .*the spec requires at least 50"):
        infer_schema(Table.from_rows(header, rows), make_spec(min_rows=50))


def churn_rows(n=600, bad=None):
    """tenure (numeric), plan (categorical), id (identifier), churned; `bad` replaces some tenure cells."""
    rows = [[str(i % 60), ["basic", "pro", "max"][i % 3], f"id-{i}", "yes" if i % 4 == 0 else "no"] for i in range(n)]
    for i, value in (bad or {}).items():
        rows[i][0] = value
    return ["tenure", "plan", "id", "churned"], rows


def test_a_few_words_or_infinities_keep_a_numeric_column_numeric_and_are_counted():
    header, rows = churn_rows(bad={**{i: "twelve" for i in range(10)}, **{i: "inf" for i in range(10, 20)}})
    inferred = infer_schema(Table.from_rows(header, rows), make_spec(target="churned"))
    assert inferred.schema.numeric == ["tenure"]
    assert any("'tenure' is numeric: 20 of 600 values" in n and "'twelve'" in n for n in inferred.notices)


def test_above_the_threshold_a_column_of_words_is_categorical():
    header, rows = churn_rows(bad={i: "twelve" for i in range(100)})
    assert "tenure" in infer_schema(Table.from_rows(header, rows), make_spec(target="churned")).schema.categorical
    loose = make_spec(target="churned", data={"max_invalid_fraction": 0.2})
    assert infer_schema(Table.from_rows(header, rows), loose).schema.numeric == ["tenure"]


def test_an_identifier_column_is_typed_here_and_left_out_later_on_the_training_split():
    """evergreen.feature_selection judges identifiers (tests/unit/test_feature_selection.py)."""
    header, rows = churn_rows()
    inferred = infer_schema(Table.from_rows(header, rows), make_spec(target="churned"))
    assert inferred.schema.categorical == ["plan", "id"] and inferred.notices == []


def test_labels_mixing_encodings_are_refused():
    header, rows = churn_rows()
    for i, row in enumerate(rows):
        row[3] = ["yes", "no", "1", "0"][i % 4]
    with pytest.raises(DataError, match=r"mixes label encodings: '(no|yes)'/'(no|yes)' and '0'/'1'"):
        infer_schema(Table.from_rows(header, rows), make_spec(target="churned"))


def test_too_many_classes_and_too_many_columns_are_refused():
    header, rows = churn_rows()
    with pytest.raises(DataError, match=r"'id' has 600 distinct values; classification takes at most 100 classes"):
        infer_schema(Table.from_rows(header, rows), make_spec(target="id"))
    wide = [f"c{i}" for i in range(30)] + ["y"]
    with pytest.raises(DataError, match=r"30 feature columns; the spec allows at most 20 \(data.max_columns\)"):
        infer_schema(Table.from_rows(wide, [["1"] * 30 + ["a"]] * 20), make_spec(data={"max_columns": 20}))
