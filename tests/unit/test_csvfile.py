"""evergreen.csvfile: bytes of an upload -> a Table, read by pandas' C parser."""

import numpy as np
import pytest

from evergreen import csvfile
from evergreen.csvfile import read_table
from evergreen.errors import DataError
from evergreen.table import Numbers, Texts


def csv_bytes(header, rows, delimiter=",") -> bytes:
    lines = [delimiter.join(header)] + [delimiter.join(r) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def texts(table) -> list[list[str]]:
    """Every cell as its original text ("" for a missing token the parser recognised)."""
    columns = [table.texts(name).cells(np.arange(table.n_rows)) for name in table.header]
    return [list(row) for row in zip(*columns)]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_read_table_sniffs_delimiter(delimiter):
    raw = csv_bytes(["a", "b", "c"], [["1", "x", "2.5"], ["2", "y", ""]], delimiter)
    table = read_table(raw, source="up")
    assert table.header == ["a", "b", "c"] and table.n_rows == 2
    assert isinstance(table.columns["a"], Numbers) and isinstance(table.columns["b"], Texts)
    assert texts(table) == [["1", "x", "2.5"], ["2", "y", ""]]


def test_read_table_handles_bom_crlf_quotes_and_blank_lines():
    raw = '\ufeffid , "name"\r\n1,"Smith, J"\r\n\r\n2,"say ""hi"""\r\n'.encode()
    table = read_table(raw, source="up")
    assert table.header == ["id", "name"]
    assert texts(table) == [["1", "Smith, J"], ["2", 'say "hi"']]


def test_semicolon_with_decimal_commas_is_not_mistaken_for_comma():
    table = read_table(b"a;b\n1,5;x\n2,5;y\n", source="up")
    assert table.header == ["a", "b"] and texts(table)[0] == ["1,5", "x"]


def test_text_columns_keep_their_text_and_booleans_are_not_numbers():
    raw = csv_bytes(["zip", "flag", "y"], [["007", "true", "1"], ["010", "TRUE", "0"], ["", "False", "1"]])
    table = read_table(raw, source="up", text_columns=["zip", "y"])
    assert isinstance(table.columns["zip"], Texts) and isinstance(table.columns["y"], Texts)
    assert [row[0] for row in texts(table)] == ["007", "010", ""]
    assert [row[1] for row in texts(table)] == ["true", "TRUE", "False"]  # the parser's booleans are read again


def test_chunks_typed_differently_are_read_again_as_text(monkeypatch):
    monkeypatch.setattr(csvfile, "CHUNK_ROWS", 2)
    rows = [["1", "a"], ["2", "b"], ["oops", "c"], ["", "d"], ["5", "e"]]
    table = read_table(csv_bytes(["x", "y"], rows), source="up")
    assert isinstance(table.columns["x"], Texts)
    assert [row[0] for row in texts(table)] == ["1", "2", "oops", "", "5"]
    empty_first = read_table(csv_bytes(["x", "y"], [["", "a"], ["", "b"], ["p", "c"]]), source="up")
    assert [row[0] for row in texts(empty_first)] == ["", "", "p"]


def test_missing_tokens_in_any_case_are_missing_cells():
    raw = csv_bytes(["x", "c"], [["NA", "Null"], ["n/A", "?"], ["nan", "ok"], ["3", "NaN"]])
    table = read_table(raw, source="up")
    assert np.isnan(table.columns["x"].values[:3]).all() and table.columns["x"].values[3] == 3
    assert table.columns["c"].codes.tolist()[:2] == [-1, -1]


@pytest.mark.parametrize("raw,message", [
    (b"", "up: file is empty"),
    (b"  \n\n", "file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "file is not UTF-8 text"),
    ("a,b\ncaf\u00e9,1\n".encode("latin-1"), r"file is not UTF-8 text \(invalid byte at offset 7\)"),
    ("a,b\n1,2\n".encode("utf-16"), "file is not UTF-8 text"),
    (b"a,b,c\n1,2,3\n4,5,6\n7,8,9,10,11\n", r"upload is not a CSV \(comma-separated\): line 1 has 3 fields, line 4 has 5"),
    (b"a,b,c\n1,2,3\n\n4,5\n", r"line 1 has 3 fields, line 4 has 2"),
    (b'a,b,c\n1,"2,x",3\n4,5\n', r"line 1 has 3 fields, line 3 has 2"),
    (b"a,b,a\n1,2,3\n", r"duplicate column names \['a'\]"),
    (b"a,,c\n1,2,3\n", r"blank column names at positions \[2\]"),
    (b"1,2.5,3\n4,5,6\n", "line 1 looks like data, not a header"),
    (b"a,b,c\n", "the header has no data rows"),
    (b'[{"a": 1}]', "looks like JSON"),
])
def test_bad_csv_raises_named_problem(raw, message):
    with pytest.raises(DataError, match=message):
        read_table(raw, source="up")


def test_width_check_spans_blocks(monkeypatch):
    monkeypatch.setattr(csvfile, "BLOCK_BYTES", 16)
    rows = [[str(i), "x"] for i in range(40)] + [["1"]]
    with pytest.raises(DataError, match="line 42 has 1"):
        read_table(csv_bytes(["a", "b"], rows), source="up")
    assert read_table(csv_bytes(["a", "b"], rows[:-1]), source="up").n_rows == 40


def test_the_parser_path_gives_the_frame_the_per_cell_rules_give(monkeypatch):
    """Reading with the C parser (numbers it parsed, text columns coded per chunk, cells re-read as
    text where numbers cannot decide) gives the same Frame as coercing every cell by its text."""
    import csv as stdlib_csv
    import io

    from evergreen.contracts import ColumnSchema
    from evergreen.data import build_frame
    from evergreen.table import Table

    monkeypatch.setattr(csvfile, "CHUNK_ROWS", 7)
    rng = np.random.default_rng(4)
    numbers = ["1.5", " 2 ", "-0", "+7", ".5", "5.", "1e-50", "3.4028235677973366e38", "16777217", "16777217.000000001",
               "123456789012345678901", "0.1", "-2.5e-3", "", "NA", "nan", "?", "null"]
    hostile = ["inf", "-Infinity", "1e400", "1_000", "True", "\u00a05", "0x10", "twelve"]
    categories = [" a ", "a", "NA", "cafe\u0301", "caf\u00e9", "007", "7", "", "x" * 1100, "True", "true", "na "]
    rows = []
    for i in range(120):
        clean = numbers[rng.integers(len(numbers))]
        dirty = hostile[rng.integers(len(hostile))] if i % 9 == 0 else numbers[rng.integers(len(numbers))]
        label = ["yes", "no", "", "maybe"][rng.integers(4)] if i % 5 else "no"
        rows.append([clean, dirty, categories[rng.integers(len(categories))], f"{rng.normal():.6f}", label])
    header = ["clean", "dirty", "cat", "gauss", "y"]
    out = io.StringIO()
    stdlib_csv.writer(out, lineterminator="\n").writerows([header, *rows])
    schema = ColumnSchema(numeric=["clean", "dirty", "gauss"], categorical=["cat"], target="y",
                          problem_type="classification", classes=["no", "yes"])
    fast = build_frame(read_table(out.getvalue().encode(), source="up", text_columns=["cat", "y"]), schema)
    reference = build_frame(Table.from_rows(header, rows), schema)
    assert fast.report == reference.report and fast.rejected == reference.rejected
    for name in schema.numeric:
        np.testing.assert_array_equal(fast.frame.columns[name], reference.frame.columns[name])  # -0.0 == 0.0
    assert fast.frame.columns["cat"].tolist() == reference.frame.columns["cat"].tolist()
    assert fast.frame.target.tolist() == reference.frame.target.tolist()
    assert fast.report["invalid_cells"]["dirty"]["count"] > 0


def test_numbers_the_parser_reads_are_rounded_as_python_reads_them():
    """The parser's float64 is the correctly rounded one (then features rounds to float32 once): hard
    decimals of 1 to 19 significant digits over a wide exponent range, and texts just off a float32 midpoint."""
    import random

    rng = random.Random(1)
    texts = []
    for _ in range(20_000):
        digits = rng.randint(1, 19)
        texts.append(f"{'-' if rng.random() < 0.5 else ''}{rng.randint(10**(digits - 1), 10**digits - 1)}e{rng.randint(-30, 30)}")
    texts += [f"{rng.randint(2**24, 2**26)}.{rng.randint(0, 10**12):012d}" for _ in range(5_000)]
    table = read_table(("x,y\n" + "".join(f"{t},a\n" for t in texts)).encode(), source="up")
    assert isinstance(table.columns["x"], Numbers)
    np.testing.assert_array_equal(table.columns["x"].values, np.array([float(t) for t in texts]))
