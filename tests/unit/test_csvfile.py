"""evergreen.csvfile: bytes of an upload -> header and rows of text."""

import pytest

from evergreen.csvfile import read_csv
from evergreen.errors import DataError


def csv_bytes(header, rows, delimiter=",") -> bytes:
    lines = [delimiter.join(header)] + [delimiter.join(r) for r in rows]
    return ("\n".join(lines) + "\n").encode()


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
