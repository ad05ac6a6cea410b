"""Reading an upload: bytes -> a Table of columns (evergreen.table). Typing and cleaning come later
(schema, data).

The cells are split and numbers parsed by pandas' C parser, in chunks of CHUNK_ROWS rows; text
columns are dictionary-encoded as they arrive, so memory stays near the size of the columns. pandas
is the one library here that is only in the Ingest function's layer: nothing else imports this
module. What the parser reads as numbers is exactly what ``features.parse_number`` reads, except
non-finite values, which ``features.numeric_of`` sends back to the column's text (re-read on demand).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from itertools import product

import numpy as np
import pandas as pd

from evergreen.errors import DataError
from evergreen.features import MISSING_TOKENS, is_number
from evergreen.table import Column, Numbers, Table, Texts, all_missing, merge

DELIMITERS = (",", ";", "\t")
SNIFF_RECORDS = 200  # records read per candidate delimiter when sniffing
HEAD_BYTES = 1 << 20  # the start of the file the delimiter and the header are read from
CHUNK_ROWS = 200_000
BLOCK_BYTES = 16 << 20  # bytes looked at at once when checking the UTF-8 and the rows' widths
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
# the missing tokens in every case, for the parser (features.is_missing_text also strips and lowers)
_NA_VALUES = sorted({"".join(chars) for token in MISSING_TOKENS
                     for chars in product(*({c.lower(), c.upper()} for c in token))})


def _check_utf8(raw: bytes, source: str) -> None:
    if not raw or raw[:HEAD_BYTES].isspace() and raw.isspace():
        raise DataError(f"{source}: file is empty")
    if b"\x00" in raw[:65536]:
        raise DataError(f"{source}: file is not UTF-8 text (it contains NUL bytes: binary, or UTF-16?)")
    if raw.isascii():
        return
    decoder = codecs.getincrementaldecoder("utf-8")()
    for start in range(0, len(raw), BLOCK_BYTES):
        try:
            decoder.decode(raw[start:start + BLOCK_BYTES], final=start + BLOCK_BYTES >= len(raw))
        except UnicodeDecodeError as exc:
            raise DataError(f"{source}: file is not UTF-8 text (invalid byte at offset {start + exc.start})") from None


def _head(raw: bytes) -> str:
    """The first HEAD_BYTES of the file as text, cut after its last whole line."""
    head = raw[:HEAD_BYTES]
    if len(raw) > HEAD_BYTES and b"\n" in head:
        head = head[:head.rindex(b"\n") + 1]
    return head.decode("utf-8-sig", errors="replace")


def records(text: str, delimiter: str, source: str, limit: int | None = None) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank record; at most `limit` records."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True)
    count = 0
    try:
        for fields in reader:
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line
            yield reader.line_num, fields
            count += 1
            if limit is not None and count >= limit:
                return
    except csv.Error as exc:
        raise DataError(f"{source}: upload is not a CSV: line {reader.line_num}: {exc}") from exc


def _sniff_delimiter(text: str, source: str) -> str:
    """The delimiter among , ; tab whose first records are consistent and widest; ',' when unsure."""
    consistent: list[tuple[int, str]] = []
    widest: list[tuple[int, str]] = []
    for delimiter in DELIMITERS:
        try:
            sample = list(records(text, delimiter, source, SNIFF_RECORDS))
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


def _line_widths(raw: bytes, delimiter: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per block of a file without quotes: (line numbers, field counts) of its non-blank lines,
    counted on the bytes by numpy (where the delimiters and the line breaks are)."""
    line, start = 0, 0
    while start < len(raw):
        end = raw.rfind(b"\n", start, start + BLOCK_BYTES) + 1 if start + BLOCK_BYTES < len(raw) else len(raw)
        if end <= start:  # a line longer than a block
            end = raw.find(b"\n", start + BLOCK_BYTES) + 1 or len(raw)
        block = np.frombuffer(raw, dtype=np.uint8, count=end - start, offset=start)
        breaks = np.flatnonzero(block == 10)
        starts = np.concatenate([[0], breaks + 1])
        starts = starts[starts < block.size]
        ends = np.append(breaks, block.size)[:starts.size]
        delims = np.flatnonzero(block == ord(delimiter))
        fields = np.searchsorted(delims, ends) - np.searchsorted(delims, starts) + 1
        # only a line without a delimiter can be blank: look at those few
        single = np.flatnonzero(fields == 1)
        blank = [i for i, (a, b) in zip(single.tolist(), zip(starts[single].tolist(), ends[single].tolist()))
                 if not raw[start + a:start + b].strip()]
        keep = np.ones(starts.size, dtype=bool)
        keep[blank] = False
        yield np.flatnonzero(keep) + line + 1, fields[keep]
        line += starts.size
        start = end


def _check_widths(raw: bytes, delimiter: str, header_line: int, width: int, source: str) -> None:
    """Every data row has the header's width, and there is one; else a DataError naming the line."""
    if b'"' in raw:  # quoted fields may hold delimiters and line breaks: only a CSV reader can count
        found = ((np.array([n]), np.array([len(f)])) for n, f in records(raw.decode("utf-8-sig"), delimiter, source))
    else:
        found = _line_widths(raw, delimiter)
    rows = 0
    for numbers, widths in found:
        data_lines = numbers > header_line
        wrong = np.flatnonzero(data_lines & (widths != width))
        if wrong.size:
            raise DataError(f"{source}: upload is not a CSV ({_DELIMITER_NAMES[delimiter]}-separated): line "
                            f"{header_line} has {width} fields, line {numbers[wrong[0]]} has {widths[wrong[0]]}")
        rows += int(data_lines.sum())
    if not rows:
        raise DataError(f"{source}: the header has no data rows under it")


def read_header(raw: bytes, *, source: str) -> tuple[str, int, list[str]]:
    """(delimiter, header line number, header names) of an upload; raises DataError naming what is
    wrong: empty or binary files, text that is not UTF-8, JSON, a blank or duplicate header name, a
    first line that is all numbers (no header)."""
    _check_utf8(raw, source)
    head = _head(raw)
    if head.lstrip()[:1] in ("[", "{"):
        raise DataError(f"{source}: upload looks like JSON; Evergreen reads CSV (a header line, then one row per line)")
    delimiter = _sniff_delimiter(head, source)
    first = next(records(head, delimiter, source, 1), None)
    if first is None:
        raise DataError(f"{source}: file is empty")
    header_line, names = first
    header = [name.strip() for name in names]
    blank = [i + 1 for i, name in enumerate(header) if not name]
    if blank:
        raise DataError(f"{source}: header (line {header_line}) has blank column names at positions {blank}")
    duplicates = sorted(name for name, count in Counter(header).items() if count > 1)
    if duplicates:
        raise DataError(f"{source}: header (line {header_line}) has duplicate column names {duplicates}")
    if all(is_number(name) for name in header):
        raise DataError(f"{source}: line {header_line} looks like data, not a header (every field is a number): {header[:5]}")
    return delimiter, header_line, header


def _chunks(raw: bytes, delimiter: str, header: list[str], dtype: dict[str, type], usecols: list[str] | None = None):
    return pd.read_csv(
        io.BytesIO(raw), sep=delimiter, header=0, names=header, usecols=usecols, dtype=dtype, engine="c",
        encoding="utf-8-sig", skipinitialspace=True, skip_blank_lines=True, keep_default_na=False,
        na_values=_NA_VALUES, chunksize=CHUNK_ROWS)


def _column(series: pd.Series) -> Column | None:
    """A chunk's column as Numbers or Texts; None when the parser read it as booleans (the text
    "True" is not a number, and "true" must stay "true" as a category)."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return None
    if pd.api.types.is_numeric_dtype(series.dtype):
        return Numbers(series.to_numpy())
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return Texts(codes.astype(np.int32), [str(v) for v in uniques])


def _join(parts: list[Column | None], lengths: list[int], text: Callable[[], Texts]) -> Column:
    """One column of its chunks. Chunks the parser typed differently (numbers in one, text in
    another) are read again as text, unless the numbers are all missing."""
    if parts and all(isinstance(p, Numbers) for p in parts):
        return Numbers(np.concatenate([p.values for p in parts]))
    if any(p is None or (isinstance(p, Numbers) and not np.isnan(p.values.astype(np.float64)).all()) for p in parts):
        return text()
    return merge([p if isinstance(p, Texts) else all_missing(n) for p, n in zip(parts, lengths)])


def read_table(raw: bytes, *, source: str, text_columns: Collection[str] = ()) -> Table:
    """Bytes of an upload -> Table. Raises DataError naming what is wrong (see ``read_header``; and
    rows whose field count differs from the header's, or a header without data rows).

    The delimiter is sniffed among comma, semicolon and tab. Header names are stripped of
    surrounding whitespace. `text_columns` are read as text whatever they hold (categorical
    columns and the class labels: "007" is a category, not 7).
    """
    delimiter, header_line, header = read_header(raw, source=source)
    _check_widths(raw, delimiter, header_line, len(header), source)
    text_dtype = {name: object for name in text_columns if name in header}

    def reread(name: str) -> Texts:
        parts = [_column(chunk[name]) for chunk in _chunks(raw, delimiter, header, {name: object}, [name])]
        return merge([p for p in parts if isinstance(p, Texts)])

    parts: dict[str, list[Column | None]] = {name: [] for name in header}
    lengths: list[int] = []
    try:
        for chunk in _chunks(raw, delimiter, header, text_dtype):
            lengths.append(len(chunk))
            for name in header:
                parts[name].append(_column(chunk[name]))
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{source}: upload is not a CSV: {exc}") from None
    columns = {name: _join(parts[name], lengths, lambda name=name: reread(name)) for name in header}
    return Table(header, columns, sum(lengths), reread=reread)

