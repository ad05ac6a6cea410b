"""Reading an upload: bytes -> header and rows of text. Typing and cleaning come later (schema, data)."""

from __future__ import annotations

import csv
import io
from collections import Counter

from evergreen.errors import DataError
from evergreen.features import InvalidValue, parse_number

DELIMITERS = (",", ";", "\t")
SNIFF_RECORDS = 200  # records read per candidate delimiter when sniffing
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


def is_number(text: str) -> bool:
    try:
        return parse_number(text) == parse_number(text)  # NaN (a missing token) is not a number
    except InvalidValue:
        return False



def _decode(raw: bytes, source: str) -> str:
    if not raw or not raw.strip():
        raise DataError(f"{source}: file is empty")
    if b"\x00" in raw[:65536]:
        raise DataError(f"{source}: file is not UTF-8 text (it contains NUL bytes: binary, or UTF-16?)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{source}: file is not UTF-8 text (invalid byte at offset {exc.start})") from exc


def records(text: str, delimiter: str, source: str, limit: int | None = None) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every non-blank record; at most `limit` records."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True)
    out: list[tuple[int, list[str]]] = []
    try:
        for fields in reader:
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line
            out.append((reader.line_num, fields))
            if limit is not None and len(out) >= limit:
                break
    except csv.Error as exc:
        raise DataError(f"{source}: upload is not a CSV: line {reader.line_num}: {exc}") from exc
    return out


def _sniff_delimiter(text: str, source: str) -> str:
    """The delimiter among , ; tab whose first records are consistent and widest; ',' when unsure."""
    consistent: list[tuple[int, str]] = []
    widest: list[tuple[int, str]] = []
    for delimiter in DELIMITERS:
        try:
            sample = records(text, delimiter, source, SNIFF_RECORDS)
        except DataError:
            continue
        if not sample:
            continue
        width = len(sample[0][1])
        widest.append((width, delimiter))
        if width > 1 and all(len(fields) == width for _, fields in sample):
            consistent.append((width, delimiter))
    # max() keeps the first of equals, i.e. DELIMITERS order
    for found in (consistent, widest):
        if found:
            return max(found, key=lambda item: item[0])[1]
    return ","


def read_csv(raw: bytes, *, source: str) -> tuple[list[str], list[list[str]]]:
    """Bytes of an upload -> (header, rows of str). Raises DataError naming what is wrong.

    The delimiter is sniffed among comma, semicolon and tab. Rejected: empty or binary files, text
    that is not UTF-8, a blank or duplicate header name, a first line that is all numbers (no
    header), rows whose field count differs from the header's, a header without data rows.
    Header names are stripped of surrounding whitespace; values are cleaned later (build_frame).
    """
    text = _decode(raw, source)
    if text.lstrip()[:1] in ("[", "{"):
        raise DataError(f"{source}: upload looks like JSON; Evergreen reads CSV (a header line, then one row per line)")
    delimiter = _sniff_delimiter(text, source)
    lines = records(text, delimiter, source)
    if not lines:
        raise DataError(f"{source}: file is empty")
    header_line, header = lines[0]
    header = [name.strip() for name in header]
    blank = [i + 1 for i, name in enumerate(header) if not name]
    if blank:
        raise DataError(f"{source}: header (line {header_line}) has blank column names at positions {blank}")
    duplicates = sorted(name for name, count in Counter(header).items() if count > 1)
    if duplicates:
        raise DataError(f"{source}: header (line {header_line}) has duplicate column names {duplicates}")
    if all(is_number(name) for name in header):
        raise DataError(f"{source}: line {header_line} looks like data, not a header (every field is a number): {header[:5]}")
    rows: list[list[str]] = []
    for line, fields in lines[1:]:
        if len(fields) != len(header):
            raise DataError(
                f"{source}: upload is not a CSV ({_DELIMITER_NAMES[delimiter]}-separated): line {header_line} has "
                f"{len(header)} fields, line {line} has {len(fields)}"
            )
        rows.append(fields)
    if not rows:
        raise DataError(f"{source}: the header has no data rows under it")
    return header, rows


