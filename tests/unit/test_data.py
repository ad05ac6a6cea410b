"""evergreen.data: CSV parsing, schema inference, cleaning, splitting, profiles, serialization."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal, getcontext

import numpy as np
import pytest

from evergreen.contracts import ColumnSchema
from evergreen.data import (
    OTHER,
    DataError,
    Frame,
    bin_counts,
    build_frame,
    dataset_version,
    format_float32,
    frame_from_csv,
    frame_to_csv,
    infer_schema,
    model_inputs,
    model_matrix,
    parse_numeric,
    profile,
    read_csv,
    split_frame,
)
from evergreen.spec import ModelSpec


def make_spec(target="y", problem_type="classification", min_rows=10, **features) -> ModelSpec:
    metric = "accuracy" if problem_type == "classification" else "rmse"
    family = "logistic_regression" if problem_type == "classification" else "ridge"
    return ModelSpec.model_validate({
        "name": "t", "target": target, "problem_type": problem_type, "primary_metric": metric,
        "min_rows": min_rows, "features": features, "candidates": [{"family": family}],
    })


def csv_bytes(header, rows, delimiter=",") -> bytes:
    lines = [delimiter.join(header)] + [delimiter.join(r) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def sample_rows(n=30):
    rows = []
    for i in range(n):
        rows.append([str(i * 1.5), ["red", "blue", " green "][i % 3], str(i % 4), "yes" if i % 2 else "no"])
    return ["x", "colour", "level", "y"], rows


# --- read_csv ---------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_read_csv_sniffs_delimiter(delimiter):
    raw = csv_bytes(["a", "b", "c"], [["1", "x", "2.5"], ["2", "y", ""]], delimiter)
    header, rows = read_csv(raw, source="up")
    assert header == ["a", "b", "c"]
    assert rows == [["1", "x", "2.5"], ["2", "y", ""]]


def test_read_csv_handles_bom_crlf_quotes_and_blank_lines():
    raw = '\ufeffid , "name"\r\n1,"Smith, J"\r\n\r\n2,"say ""hi"""\r\n'.encode()
    header, rows = read_csv(raw, source="up")
    assert header == ["id", "name"]
    assert rows == [["1", "Smith, J"], ["2", 'say "hi"']]


def test_semicolon_with_decimal_commas_is_not_mistaken_for_comma():
    raw = b"a;b\n1,5;x\n2,5;y\n"
    header, rows = read_csv(raw, source="up")
    assert header == ["a", "b"] and rows[0] == ["1,5", "x"]


@pytest.mark.parametrize("raw,message", [
    (b"", "up: file is empty"),
    (b"  \n\n", "file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "file is not UTF-8 text"),
    ("a,b\ncaf\u00e9,1\n".encode("latin-1"), r"file is not UTF-8 text \(invalid byte at offset 7\)"),
    ("a,b\n1,2\n".encode("utf-16"), "file is not UTF-8 text"),
    (b"a,b,c\n1,2,3\n4,5,6\n7,8,9,10,11\n", r"upload is not a CSV \(comma-separated\): line 1 has 3 fields, line 4 has 5"),
    (b"a,b,a\n1,2,3\n", r"duplicate column names \['a'\]"),
    (b"a,,c\n1,2,3\n", r"blank column names at positions \[2\]"),
    (b"1,2.5,3\n4,5,6\n", "line 1 looks like data, not a header"),
    (b"a,b,c\n", "the header has no data rows"),
])
def test_bad_csv_raises_named_problem(raw, message):
    with pytest.raises(DataError, match=message):
        read_csv(raw, source="up")


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
    schema = infer_schema(header, rows, make_spec())
    assert schema.numeric == ["num"]
    assert schema.categorical == ["mixed", "cat"]
    assert schema.classes == ["maybe", "no", "yes"]
    assert schema.target == "y" and schema.problem_type == "classification"


def test_infer_schema_respects_forced_types_and_drop():
    header, rows = sample_rows()
    spec = make_spec(categorical=["level"], numeric=[], drop=["colour"])
    schema = infer_schema(header, rows, spec)
    assert schema.numeric == ["x"] and schema.categorical == ["level"]
    forced = infer_schema(header, rows, make_spec(numeric=["colour"]))
    assert forced.numeric == ["x", "colour", "level"] and forced.categorical == []


def test_target_not_found_lists_columns():
    header, rows = sample_rows()
    with pytest.raises(DataError, match=r"target column 'churn' not found; columns are \['x', 'colour', 'level', 'y'\]"):
        infer_schema(header, rows, make_spec(target="churn"))


def test_forced_column_absent_is_named():
    header, rows = sample_rows()
    with pytest.raises(DataError, match=r"spec.features.numeric names columns that are not in the data: \['nope'\]"):
        infer_schema(header, rows, make_spec(numeric=["nope"]))


def test_single_class_is_refused():
    header, rows = sample_rows()
    rows = [r[:3] + ["yes"] for r in rows]
    with pytest.raises(DataError, match="has only 'yes'; classification needs at least 2 classes"):
        infer_schema(header, rows, make_spec())


def test_regression_target_must_be_numeric_and_bad_values_are_named():
    header, rows = sample_rows()
    rows = [r[:3] + [str(i) if i % 10 else "lots"] for i, r in enumerate(rows)]
    with pytest.raises(DataError, match=r"must be numeric for regression; 3 values are not: 'lots'"):
        infer_schema(header, rows, make_spec(problem_type="regression"))


def test_too_few_usable_rows():
    header, rows = sample_rows(12)
    rows += [r[:3] + ["NA"] for r in sample_rows(20)[1]]
    with pytest.raises(DataError, match="only 12 usable rows .*the spec requires at least 50"):
        infer_schema(header, rows, make_spec(min_rows=50))


# --- build_frame ------------------------------------------------------------------------------


def test_build_frame_types_drops_and_counts():
    header = ["x", "c", "y"]
    rows = [["1.5", " a ", "yes"], ["oops", "NA", "no"], ["", "b", ""], ["2", "", "?"], ["3", "a", "no"],
            ["4", "b", "unknown"]]
    schema = ColumnSchema(numeric=["x"], categorical=["c"], target="y", problem_type="classification", classes=["no", "yes"])
    frame, report = build_frame(header, rows, schema)
    assert report == {"raw": 6, "rows": 3, "dropped": 3, "dropped_missing_target": 2, "dropped_invalid_target": 1,
                      "unparseable_numeric": {"x": 1}}
    assert frame.columns["x"].dtype == np.float32
    np.testing.assert_array_equal(frame.columns["x"], np.array([1.5, np.nan, 3], dtype=np.float32))
    assert frame.columns["c"].tolist() == ["a", "", "a"]
    assert frame.target.tolist() == ["yes", "no", "no"] and frame.n_rows == 3


def test_build_frame_regression_target_is_float64():
    schema = ColumnSchema(numeric=["x"], categorical=[], target="y", problem_type="regression")
    frame, report = build_frame(["x", "y"], [["1", "2.5"], ["2", "inf"], ["3", "-1e3"]], schema)
    assert frame.target.dtype == np.float64 and frame.target.tolist() == [2.5, -1000.0]
    assert report["dropped_invalid_target"] == 1


# --- split_frame ------------------------------------------------------------------------------


def labelled_frame(counts: dict[str, int]) -> Frame:
    target = np.array([c for c, n in counts.items() for _ in range(n)], dtype=object)
    n = target.size
    return Frame(columns={"i": np.arange(n, dtype=np.float32)}, target=target)


def test_split_is_deterministic_disjoint_and_complete():
    frame = labelled_frame({"a": 70, "b": 25, "c": 5})
    first = split_frame(frame, 0.2, 0.2, 7, True)
    again = split_frame(frame, 0.2, 0.2, 7, True)
    other = split_frame(frame, 0.2, 0.2, 8, True)
    ids = [part.columns["i"].tolist() for part in first]
    assert ids == [part.columns["i"].tolist() for part in again]
    assert ids != [part.columns["i"].tolist() for part in other]
    joined = sorted(ids[0] + ids[1] + ids[2])
    assert joined == list(range(100))
    assert [len(x) for x in ids] == [60, 20, 20]


def test_split_is_stratified_and_rare_classes_stay_in_train():
    frame = labelled_frame({"a": 80, "b": 16, "c": 3, "d": 2})
    train, val, test = split_frame(frame, 0.2, 0.25, 0, True)
    for part in (train, val, test):
        assert {"a", "b", "c"} <= set(part.target.tolist())
    assert set(train.target.tolist()) == {"a", "b", "c", "d"}
    assert "d" not in val.target.tolist() and "d" not in test.target.tolist()
    assert sum(t == "a" for t in test.target) == 20 and sum(t == "a" for t in val.target) == 16


def test_regression_split_sizes():
    frame = Frame(columns={"i": np.arange(50, dtype=np.float32)}, target=np.arange(50, dtype=np.float64))
    train, val, test = split_frame(frame, 0.1, 0.3, 1, False)
    assert (train.n_rows, val.n_rows, test.n_rows) == (30, 5, 15)
    np.testing.assert_array_equal(np.sort(np.concatenate([train.target, val.target, test.target])), np.arange(50))


# --- profile ----------------------------------------------------------------------------------


def test_profile_is_json_safe_and_complete():
    rng = np.random.default_rng(0)
    x = rng.normal(size=500).astype(np.float32)
    x[:50] = np.nan
    cats = np.array([f"v{i % 30}" if i % 7 else "" for i in range(500)], dtype=object)
    frame = Frame(columns={"x": x, "const": np.full(500, 2.0, np.float32), "c": cats},
                  target=np.array(["yes", "no"] * 250, dtype=object))
    schema = ColumnSchema(numeric=["x", "const"], categorical=["c"], target="y", problem_type="classification",
                          classes=["no", "yes"])
    prof = profile(frame, schema)
    json.dumps(prof, allow_nan=False)
    px = prof["numeric"]["x"]
    assert px["count"] == 450 and px["missing"] == 50
    assert len(px["quantiles"]) == 11 and px["quantiles"][0] == px["min"] and px["quantiles"][-1] == px["max"]
    assert px["histogram"]["edges"] == sorted(set(px["quantiles"]))
    assert sum(px["histogram"]["counts"]) == 450 and len(px["histogram"]["counts"]) == 10
    assert abs(px["mean"] - float(np.nanmean(x))) < 1e-6
    assert prof["numeric"]["const"]["histogram"] == {"edges": [2.0], "counts": [500]}
    pc = prof["categorical"]["c"]
    assert pc["missing"] == sum(1 for i in range(500) if i % 7 == 0)
    assert len(pc["frequencies"]) == 21 and OTHER in pc["frequencies"]
    assert sum(pc["frequencies"].values()) == pc["count"]
    assert prof["target"] == {"counts": {"no": 250, "yes": 250}}


def test_bin_counts_puts_out_of_range_values_in_end_bins():
    assert bin_counts(np.array([-5.0, 0.5, 1.5, 2.0, 9.0, np.nan]), [0.0, 1.0, 2.0]) == [2, 3]


# --- serialization ----------------------------------------------------------------------------


def roundtrip_frame() -> tuple[Frame, ColumnSchema]:
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 2**32, size=4000, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32).copy()
    x[~np.isfinite(x)] = np.nan
    special = np.array([0.1, -0.0, 1e-45, 3.4028235e38, -1.1754944e-38, 16777217, 1 / 3, np.nan], dtype=np.float32)
    x[: special.size] = special
    n = x.size
    cats = np.array([["a,b", 'quote "q"', "ümlaut", "", "line\nbreak"][i % 5] for i in range(n)], dtype=object)
    frame = Frame(columns={"x": x, "x2": rng.normal(size=n).astype(np.float32), "c": cats},
                  target=rng.normal(size=n) * 1e5)
    schema = ColumnSchema(numeric=["x", "x2"], categorical=["c"], target="y", problem_type="regression")
    return frame, schema


def test_csv_round_trip_is_bit_exact():
    frame, schema = roundtrip_frame()
    back = frame_from_csv(frame_to_csv(frame, schema), schema)
    for name in schema.numeric:
        before, after = frame.columns[name], back.columns[name]
        assert after.dtype == np.float32
        nan = np.isnan(before)
        np.testing.assert_array_equal(np.isnan(after), nan)
        np.testing.assert_array_equal(after[~nan].view(np.uint32), before[~nan].view(np.uint32))  # bits: -0.0 too
    assert back.columns["c"].tolist() == frame.columns["c"].tolist()
    np.testing.assert_array_equal(back.target, frame.target)
    assert back.target.dtype == np.float64


def test_classification_round_trip_and_header_check():
    frame = labelled_frame({"yes": 3, "no, really": 2})
    schema = ColumnSchema(numeric=["i"], categorical=[], target="y", problem_type="classification",
                          classes=["no, really", "yes"])
    back = frame_from_csv(frame_to_csv(frame, schema), schema)
    assert back.target.tolist() == frame.target.tolist()
    wrong = schema.model_copy(update={"numeric": ["j"]})
    with pytest.raises(DataError, match="does not match the schema"):
        frame_from_csv(frame_to_csv(frame, schema), wrong)


def test_parse_numeric_rounds_decimals_correctly_to_float32():
    """float(text) then float32 rounds twice; texts just off a float32 midpoint expose it."""
    getcontext().prec = 120
    texts, expected = [], []
    for value in np.array([1.1, 3.0e-20, 123456.7, 7.0e30, 2.5e-42], dtype=np.float32):
        up = np.nextafter(value, np.float32(np.inf))
        mid = (Decimal(float(value)) + Decimal(float(up))) / 2
        for offset, want in ((Decimal(10) ** -70 * mid, up), (-Decimal(10) ** -70 * mid, value)):
            texts.append(str(mid + offset))
            expected.append(want)
    parsed, bad = parse_numeric(texts)
    assert bad == 0
    np.testing.assert_array_equal(parsed, np.array(expected, dtype=np.float32))
    naive = np.array([float(t) for t in texts]).astype(np.float32)
    assert (naive != parsed).any()  # the double rounding this guards against is real


def test_format_float32_is_shortest_text():
    assert format_float32(np.float32(0.1)) == "0.1"
    assert format_float32(np.nan) == ""
    assert parse_numeric([format_float32(np.float32(1e-40))])[0][0] == np.float32(1e-40)


def test_dataset_version_is_content_hash():
    frame, schema = roundtrip_frame()
    version = dataset_version(frame, schema)
    assert version.startswith("ds-") and len(version) == 19
    assert version == dataset_version(frame_from_csv(frame_to_csv(frame, schema), schema), schema)
    changed = Frame(columns={**frame.columns, "x2": frame.columns["x2"] + np.float32(1)}, target=frame.target)
    assert dataset_version(changed, schema) != version


# --- model inputs -----------------------------------------------------------------------------


SCHEMA = ColumnSchema(numeric=["a", "b"], categorical=["c"], target="y", problem_type="classification", classes=["n", "y"])


def test_model_inputs_from_frame_and_matrix_order():
    frame = Frame(columns={"a": np.array([1.5, np.nan], np.float32), "b": np.array([0.1, 2], np.float32),
                           "c": np.array(["x", ""], dtype=object)}, target=np.array(["y", "n"], dtype=object))
    inputs = model_inputs(frame, SCHEMA)
    assert set(inputs) == {"numeric", "categorical"}
    assert inputs["numeric"].dtype == np.float32 and inputs["numeric"].shape == (2, 2)
    assert inputs["categorical"].shape == (2, 1) and inputs["categorical"][1, 0] == ""
    matrix = model_matrix(frame, SCHEMA)
    assert matrix.dtype == object and matrix.shape == (2, 3)
    assert matrix[0, 1] == float(np.float32(0.1)) and np.isnan(matrix[1, 0]) and matrix[0, 2] == "x"
    only_numeric = SCHEMA.model_copy(update={"categorical": []})
    assert set(model_inputs(frame, only_numeric)) == {"numeric"}
    only_categorical = SCHEMA.model_copy(update={"numeric": []})
    assert set(model_inputs(frame, only_categorical)) == {"categorical"}


def test_model_inputs_from_request_values_coerce_like_training():
    inputs = model_inputs({"a": [1, "2.5", None, "NA", "oops", True], "c": [" x ", None, 3, 2.5, "?", ""],
                           "extra": [0] * 6}, SCHEMA)
    num = inputs["numeric"]
    np.testing.assert_array_equal(num[:, 0], np.array([1, 2.5, np.nan, np.nan, np.nan, np.nan], np.float32))
    assert np.isnan(num[:, 1]).all()  # absent column: all missing
    assert inputs["categorical"][:, 0].tolist() == ["x", "", "3", "2.5", "", ""]
    one = model_inputs({"a": 0.1, "b": "0.1", "c": "x"}, SCHEMA)
    assert one["numeric"].shape == (1, 2) and one["numeric"][0, 0] == one["numeric"][0, 1] == np.float32(0.1)
    with pytest.raises(DataError, match="none of the model's columns are present"):
        model_inputs({"other": [1]}, SCHEMA)
    with pytest.raises(DataError, match="different lengths"):
        model_inputs({"a": [1, 2], "c": ["x"]}, SCHEMA)


def test_data_and_metrics_do_not_import_sklearn_or_pandas():
    code = ("import sys, evergreen.data, evergreen.metrics, evergreen.synthetic; "
            "bad = [m for m in ('sklearn', 'pandas', 'scipy') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
