"""Batch scoring, the pure part: where a batch's files live, how an upload is cut into chunks of rows
at line boundaries, and how one chunk's bytes become predictions and rejected rows. No I/O: the
steps in evergreen.steps.batch_* read and write S3 around these functions.

A CSV uploaded under score/<model>/<name> in the data bucket is scored by the model's champion (the
version Plan pinned, for every chunk). A row's id is its line number in the upload (the header is
usually line 1, so the first data row is 2); a quoted record spanning lines has the number of its
first line. Blank lines are not rows.

A row is rejected, with its reason, when its field count differs from the header's, when it is not
UTF-8 text or holds a NUL byte, or when a cell of a model column cannot be coerced by
evergreen.features (the rules ingest and /predict apply: "forty" in a numeric column, a category
longer than 1,024 characters). Every other row is scored as /predict scores the same record: the
same coercion, the same ONNX model with the same decision threshold (the champion's OnnxModel applies
it) and the same float32 formatting of the outputs (onnxruntime's matrix kernels block by batch
size, so a probability may differ from /predict's in its last bits).

Chunks: a file without any double quote in its data is cut every `chunk_rows` lines (byte ranges
plus the line number of each range's first line), so each chunk is parsed on its own by pandas' C
parser (evergreen.csvfile). A file whose data holds a double quote is one chunk: a line break
inside a quoted field cannot be told from a row's end without reading from the start, and a quote
in an unquoted field (a 12" screen) makes counting quotes unreliable. Quoted files are read with
Python's csv module instead (slower, still one pass).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Protocol

import numpy as np

from evergreen import features
from evergreen.errors import DataError
from evergreen.serving import float32
from evergreen.serving.errors import shown
from evergreen.table import Table

DEFAULT_CHUNK_ROWS = 100_000
MAX_CHUNKS = 1000  # the Map's results (about 130 bytes each) must fit Step Functions' 256 KB state
SCORE_BATCH_ROWS = 50_000  # rows per onnxruntime call: bounds the session's working memory
REJECTED_HEADER = ("row_id", "reason")
LF, NUL = 10, 0  # bytes


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Chunk:
    """Rows of an upload scored together: the bytes [start, end) and the line number of the first."""

    index: int
    start: int
    end: int
    first_line: int


def data_start(head: bytes, line: int) -> int | None:
    """The byte offset just past the line break that ends line number `line` of `head` (the first
    bytes of the upload); None when `head` has fewer line breaks."""
    breaks = np.flatnonzero(np.frombuffer(head, dtype=np.uint8) == LF)
    return int(breaks[line - 1]) + 1 if breaks.size >= line else None


class ChunkPlanner:
    """Cut the data of an upload into chunks of `chunk_rows` lines, fed block by block.

    `feed` takes the upload's bytes from offset `start` on, in order, in blocks of any size; `chunks`
    (after the last block) gives the chunks. Cuts are made after every `chunk_rows`-th line break,
    found by numpy; when there would be more than `max_chunks`, every other cut is dropped and the
    chunk size doubles, so the plan stays small whatever the file's size. A file whose data holds a
    double quote is one chunk (see the module's docstring). Memory: one block plus the cuts.
    """

    def __init__(self, start: int, first_line: int, chunk_rows: int, max_chunks: int = MAX_CHUNKS) -> None:
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
        self.start = start
        self.first_line = first_line
        self.chunk_rows = chunk_rows
        self.max_chunks = max_chunks
        self.quoted = False
        self.line_breaks = 0
        self._offset = start
        self._cuts: list[int] = []  # the end offset of each full chunk

    def feed(self, block: bytes) -> None:
        breaks = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == LF)
        first = self.chunk_rows - self.line_breaks % self.chunk_rows - 1  # the break that completes a chunk
        self._cuts += (breaks[first::self.chunk_rows] + (self._offset + 1)).tolist()
        while len(self._cuts) >= self.max_chunks:  # a last, shorter chunk may follow the cuts
            self._cuts = self._cuts[1::2]
            self.chunk_rows *= 2
        self.quoted = self.quoted or b'"' in block
        self.line_breaks += breaks.size
        self._offset += len(block)

    def chunks(self) -> list[Chunk]:
        """The chunks of everything fed; none when nothing was."""
        end = self._offset
        if end == self.start:
            return []
        if self.quoted:
            return [Chunk(0, self.start, end, self.first_line)]
        ends = self._cuts + ([end] if not self._cuts or self._cuts[-1] < end else [])
        starts = [self.start, *ends[:-1]]
        return [Chunk(i, s, e, self.first_line + i * self.chunk_rows) for i, (s, e) in enumerate(zip(starts, ends))]


# --------------------------------------------------------------------------- a chunk's rows


@dataclass(frozen=True)
class Rejected:
    row_id: int
    reason: str


@dataclass(frozen=True)
class ChunkRows:
    """A chunk read: its usable rows as a Table, each row's id, and the rows left out with why."""

    table: Table | None  # None when no row is usable
    row_ids: np.ndarray  # int64, one per table row
    rejected: list[Rejected]


def header_line(names: Sequence[str], delimiter: str) -> bytes:
    """The header as one CSV line (quoted only where a name needs it)."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerow(names)
    return out.getvalue().encode()


def header_names(head: bytes, delimiter: str, source: str) -> list[str]:
    """The header's names, stripped, read from the upload's first bytes with the planned delimiter."""
    from evergreen.csvfile import records  # pandas: only the functions that read CSV import it

    first = next(records(head.decode("utf-8-sig", errors="replace"), delimiter, source, 1), None)
    if first is None:
        raise ValueError(f"{source}: no header in the first {len(head)} bytes")
    return [name.strip() for name in first[1]]


def _lines(raw: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the uint8 view, each line's start, each line's end without its LF)."""
    buf = np.frombuffer(raw, dtype=np.uint8)
    breaks = np.flatnonzero(buf == LF)
    count = breaks.size + (1 if raw and raw[-1] != LF else 0)
    starts = np.concatenate([[0], breaks + 1])[:count]
    ends = np.append(breaks, len(raw))[:count]
    return buf, starts, ends


def _bad_encoding(raw: bytes, buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> dict[int, str]:
    """Lines holding a NUL byte or bytes that are not UTF-8, by index, with why."""
    bad: dict[int, str] = {}
    if not raw.isascii():
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:  # a LF is never inside a UTF-8 sequence: look line by line
            for i in np.unique(np.searchsorted(starts, np.flatnonzero(buf >= 0x80), side="right") - 1).tolist():
                try:
                    raw[starts[i]:ends[i]].decode("utf-8")
                except UnicodeDecodeError as exc:
                    bad[i] = f"is not UTF-8 text (invalid byte at column {exc.start + 1})"
    for i in np.unique(np.searchsorted(starts, np.flatnonzero(buf == NUL), side="right") - 1).tolist():
        bad[i] = "holds a NUL byte (binary data?)"
    return bad


def unquoted_rows(names: Sequence[str], raw: bytes, first_line: int, delimiter: str, *,
                  categorical: Sequence[str], source: str) -> ChunkRows:
    """The lines of a chunk without double quotes -> its rows (evergreen.csvfile.read_table, pandas'
    C parser, under the header `names`) and the lines left out: wrong field count, not UTF-8, NUL
    bytes. Blank lines are skipped. `categorical` columns are read as text ("007" stays "007")."""
    from evergreen.csvfile import read_table  # pandas: only the functions that read CSV import it

    width = len(names)
    buf, starts, ends = _lines(raw)
    delimiters = np.flatnonzero(buf == ord(delimiter))
    fields = np.searchsorted(delimiters, ends) - np.searchsorted(delimiters, starts) + 1
    blank = np.zeros(starts.size, dtype=bool)
    for i in np.flatnonzero(fields == 1).tolist():  # only a line without a delimiter can be blank
        blank[i] = not raw[starts[i]:ends[i]].strip()
    bad = _bad_encoding(raw, buf, starts, ends)
    for i in np.flatnonzero((fields != width) & ~blank).tolist():
        bad.setdefault(i, f"has {fields[i]} fields, the header has {width}")
    keep = ~blank
    keep[list(bad)] = False
    rejected = [Rejected(first_line + i, bad[i]) for i in sorted(bad)]
    kept = np.flatnonzero(keep)
    if not kept.size:
        return ChunkRows(None, np.empty(0, dtype=np.int64), rejected)
    if keep.all() and raw.endswith(b"\n"):
        data = raw
    else:
        data = b"\n".join([raw[s:e] for s, e in zip(starts[kept].tolist(), ends[kept].tolist())]) + b"\n"
    table = read_table(header_line(names, delimiter) + data, source=source, text_columns=categorical)
    if table.header != list(names):  # read_table sniffs the delimiter again, on this chunk's first rows
        raise DataError(f"{source}: rows from line {first_line} on read as {table.header[:10]} columns, "
                        f"not as the header's {list(names)[:10]} (the delimiter is ambiguous)")
    if table.n_rows != kept.size:
        raise RuntimeError(f"{source}: the parser read {table.n_rows} rows from {kept.size} checked lines")
    return ChunkRows(table, (first_line + kept).astype(np.int64), rejected)


def quoted_rows(header: Sequence[str], raw: bytes, first_line: int, delimiter: str) -> ChunkRows:
    """A chunk with double quotes -> its rows (Python's csv module, strict: a quote left open is an
    error) and the records left out: wrong field count, not CSV, not UTF-8 text, NUL bytes. A record's
    id is the line it starts on."""
    text = raw.decode("utf-8", errors="surrogateescape")  # bytes that are not UTF-8 -> lone surrogates
    check_unicode = not raw.isascii() and not is_utf8(raw)
    check_nul = "\x00" in text
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True, strict=True)
    width = len(header)
    rows: list[list[str]] = []
    ids: list[int] = []
    rejected: list[Rejected] = []
    line = 0  # lines read so far
    while True:
        row_id = first_line + line
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rejected.append(Rejected(row_id, f"is not CSV: {exc}"))
            line = reader.line_num
            continue
        line = reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # blank line
        reason = None
        if check_nul and any("\x00" in f for f in fields):
            reason = "holds a NUL byte (binary data?)"
        elif check_unicode and not all(_is_unicode(f) for f in fields):
            reason = "is not UTF-8 text"
        elif len(fields) != width:
            reason = f"has {len(fields)} fields, the header has {width}"
        if reason:
            rejected.append(Rejected(row_id, reason))
        else:
            rows.append(fields)
            ids.append(row_id)
    table = Table.from_rows(header, rows) if rows else None
    return ChunkRows(table, np.array(ids, dtype=np.int64), rejected)


def is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --------------------------------------------------------------------------- rows -> feeds


@dataclass(frozen=True)
class ChunkFeeds:
    """The ONNX feeds of a chunk's scorable rows, their ids, and the rows whose cells were invalid."""

    inputs: dict[str, np.ndarray]  # {"numeric"?: float32 [N, k], "categorical"?: str [N, m]}
    row_ids: np.ndarray
    rejected: list[Rejected]


def model_feeds(rows: ChunkRows, numeric: Sequence[str], categorical: Sequence[str]) -> ChunkFeeds:
    """Coerce the model's columns with evergreen.features (numeric_of / categorical_of: once per
    distinct text). A row with an invalid cell is rejected, naming every invalid cell of it; the
    others become the feeds, as `features.model_inputs` builds them for training and serving."""
    table = rows.table
    if table is None:
        return ChunkFeeds({}, rows.row_ids, list(rows.rejected))
    reasons: dict[int, list[str]] = {}
    numbers, texts = [], []
    for name in numeric:
        coerced = features.numeric_of(table.columns[name], lambda name=name: table.texts(name))
        numbers.append(coerced.values)
        if coerced.n_invalid:
            _explain(reasons, coerced.invalid, table, name, features.parse_number)
    for name in categorical:
        coerced = features.categorical_of(table.texts(name))
        texts.append(coerced.values)
        if coerced.n_invalid:
            _explain(reasons, coerced.invalid, table, name, features.category)
    inputs = features.model_inputs(numbers, texts, table.n_rows)
    row_ids = rows.row_ids
    rejected = list(rows.rejected)
    if reasons:
        keep = np.ones(table.n_rows, dtype=bool)
        keep[list(reasons)] = False
        inputs = {key: value[keep] for key, value in inputs.items()}
        rejected += [Rejected(int(row_ids[i]), "; ".join(why)) for i, why in reasons.items()]
        rejected.sort(key=lambda r: r.row_id)
        row_ids = row_ids[keep]
    return ChunkFeeds(inputs, row_ids, rejected)


def _explain(reasons: dict[int, list[str]], invalid: np.ndarray, table: Table, name: str,
             coerce: Callable[[Any], Any]) -> None:
    """Add "<column> <why>, got <text>" to the reasons of each row whose cell in `name` is invalid."""
    texts = table.texts(name)
    rows = np.flatnonzero(invalid)
    why: dict[int, str] = {}
    for row, code in zip(rows.tolist(), texts.codes[rows].tolist()):
        if code not in why:
            value = texts.values[code]
            try:
                coerce(value)
            except features.InvalidValue as exc:
                why[code] = f"{name} {exc}, got {shown(value)}"
            else:  # the coercion that flagged the cell accepts it alone: should not happen
                raise RuntimeError(f"{name}: {value!r} was flagged invalid but coerces")
        reasons.setdefault(row, []).append(why[code])


# --------------------------------------------------------------------------- feeds -> output


class Model(Protocol):
    """What scoring needs of a model: evergreen.onnx_model.OnnxModel.run."""

    def run(self, numeric: np.ndarray | None, categorical: np.ndarray | None) -> Any: ...


def predict(model: Model, inputs: dict[str, np.ndarray], rows: int,
            batch_rows: int = SCORE_BATCH_ROWS) -> tuple[np.ndarray, np.ndarray | None]:
    """(labels, probabilities or None) of `rows` rows, `batch_rows` rows per session run."""
    labels, probabilities = [], []
    for start in range(0, rows, batch_rows):
        part = {key: value[start:start + batch_rows] for key, value in inputs.items()}
        out = model.run(part.get("numeric"), part.get("categorical"))
        labels.append(out.labels)
        if out.probabilities is not None:
            probabilities.append(out.probabilities)
    if not labels:
        return np.empty(0, dtype=object), None
    return np.concatenate(labels), np.concatenate(probabilities) if probabilities else None


def prediction_header(classes: Sequence[str] | None) -> list[str]:
    """predictions.csv's columns: row_id, model_version, prediction, then probability_<class> per class."""
    return ["row_id", "model_version", "prediction", *(f"probability_{c}" for c in classes or ())]


def csv_line(fields: Sequence[Any]) -> bytes:
    """One comma-separated line (fields quoted only where they need it)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(fields)
    return out.getvalue().encode()


def predictions_csv(row_ids: np.ndarray, version: int, labels: np.ndarray,
                    probabilities: np.ndarray | None) -> bytes:
    """The rows of predictions.csv (no header). Numbers are written as /predict answers them: each
    float32 output as its shortest decimal (evergreen.serving.float32), so 0.9, not 0.8999999761581421."""
    if not len(row_ids):
        return b""
    ids = map(str, row_ids.tolist())
    versions = repeat(str(version))
    if probabilities is None:  # regression: the value is the prediction
        values = map(repr, float32.shortest(labels).tolist())
        lines = map(",".join, zip(ids, versions, values))
    else:
        values = labels.tolist()
        escaped = {label: csv_line([label])[:-1].decode() for label in set(values)}  # a few classes
        names = [escaped[label] for label in values]
        shortest = float32.shortest(probabilities)
        columns = [map(repr, shortest[:, j].tolist()) for j in range(shortest.shape[1])]
        lines = map(",".join, zip(ids, versions, names, *columns))
    return ("\n".join(lines) + "\n").encode()


def rejected_csv(rejected: Sequence[Rejected]) -> bytes:
    """The rows of rejected.csv (no header): row_id, reason."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows((r.row_id, r.reason) for r in rejected)
    return out.getvalue().encode()


@dataclass(frozen=True)
class ScoredChunk:
    predictions: bytes  # rows of predictions.csv
    rejected: bytes  # rows of rejected.csv
    scored_rows: int
    rejected_rows: int


def score_rows(rows: ChunkRows, model: Model, version: int, numeric: Sequence[str],
               categorical: Sequence[str]) -> ScoredChunk:
    """A chunk's rows -> its part of predictions.csv and of rejected.csv."""
    feeds = model_feeds(rows, numeric, categorical)
    labels, probabilities = predict(model, feeds.inputs, len(feeds.row_ids))
    return ScoredChunk(predictions_csv(feeds.row_ids, version, labels, probabilities), rejected_csv(feeds.rejected),
                       len(feeds.row_ids), len(feeds.rejected))
