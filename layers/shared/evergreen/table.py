"""A Table: the columns of an upload as read, before any typing. numpy + stdlib only.

A column is either ``Numbers`` (the C parser read every present cell as a number: int64 or
float64, NaN for missing) or ``Texts`` (dictionary-encoded text: row i is ``values[codes[i]]``,
code -1 a missing token the reader already recognised). Typing and cleaning (evergreen.features,
evergreen.data) work on the distinct texts of a column, not on every cell, so a million rows of a
hundred categories cost a hundred coercions.

``csvfile.read_table`` builds a Table from an upload; ``Table.from_rows`` from rows of text (the
prediction log's labelled feedback, a legacy CSV split). A Table keeps a way back to the original
text of a Numbers column (``Table.texts``): the few cells numbers cannot explain (an "inf", a
float64 that lands on a float32 midpoint) are decided on their text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

MISSING_CODE = -1


@dataclass(frozen=True)
class Texts:
    """A column of text, dictionary-encoded: row i is ``values[codes[i]]``; MISSING_CODE is missing."""

    codes: np.ndarray  # int32
    values: list[str]  # distinct texts, in the order of their first row

    def counts(self) -> np.ndarray:
        """Rows per distinct value (missing rows not counted)."""
        present = self.codes[self.codes != MISSING_CODE]
        return np.bincount(present, minlength=len(self.values))

    def cells(self, rows: np.ndarray) -> list[str]:
        """The texts of `rows` ("" for missing)."""
        padded = [*self.values, ""]  # MISSING_CODE (-1) picks the ""
        return [padded[code] for code in self.codes[rows].tolist()]


@dataclass(frozen=True)
class Numbers:
    """A column the reader parsed as numbers: int64 or float64, NaN for missing."""

    values: np.ndarray

    def cells(self, rows: np.ndarray) -> list[str]:
        """The numbers of `rows` as text ("" for missing): ints as ints, floats by repr."""
        picked = self.values[rows]
        if picked.dtype.kind in "iu":
            return [str(v) for v in picked.tolist()]
        return ["" if v != v else repr(v) for v in picked.tolist()]


Column = Texts | Numbers


def encode(texts: Sequence[str]) -> Texts:
    """Dictionary-encode texts (first-seen order). Every text is a value; "" too."""
    index: dict[str, int] = {}
    codes = np.fromiter((index.setdefault(t, len(index)) for t in texts), dtype=np.int32, count=len(texts))
    return Texts(codes, list(index))


def merge(parts: Sequence[Texts]) -> Texts:
    """One Texts of several, rows in order (each part's dictionary remapped onto the first-seen union)."""
    index: dict[str, int] = {}
    out = []
    for part in parts:
        remap = np.array([index.setdefault(v, len(index)) for v in part.values] + [MISSING_CODE], dtype=np.int32)
        out.append(remap[part.codes])  # MISSING_CODE (-1) indexes the trailing -1
    return Texts(np.concatenate(out) if out else np.empty(0, np.int32), list(index))


def all_missing(n: int) -> Texts:
    return Texts(np.full(n, MISSING_CODE, dtype=np.int32), [])


@dataclass
class Table:
    """Named columns of equal length, in header order."""

    header: list[str]
    columns: dict[str, Column]
    n_rows: int
    # the original text of a column the reader parsed as numbers (csvfile re-reads that one column)
    reread: Callable[[str], Texts] | None = field(default=None, repr=False)
    _reread: dict[str, Texts] = field(default_factory=dict, repr=False)  # each column re-read once at most

    @classmethod
    def from_rows(cls, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
        """Every column as Texts. Rows must be as wide as the header."""
        header = list(header)
        columns = {name: encode([row[j] for row in rows]) for j, name in enumerate(header)}
        return cls(header, columns, len(rows))

    def texts(self, name: str) -> Texts:
        """A column as its text: Texts as they are, Numbers re-read from the source."""
        column = self.columns[name]
        if isinstance(column, Texts):
            return column
        if self.reread is None:
            raise ValueError(f"column {name!r} was read as numbers and its text cannot be read again")
        if name not in self._reread:
            self._reread[name] = self.reread(name)
        return self._reread[name]

    def rows(self, index: np.ndarray) -> list[list[str]]:
        """The cells of rows `index` as text, in header order (for the quarantine file)."""
        columns = [self.columns[name].cells(index) for name in self.header]
        return [list(row) for row in zip(*columns)]


def concat(first: Table, second: Table) -> Table:
    """The rows of `first` then `second`, over the union of their columns (first's order, then new
    ones); a column one of them lacks is missing there. Numbers stay numbers only when both are."""
    header = list(dict.fromkeys([*first.header, *second.header]))

    def part(table: Table, name: str) -> Column:
        return table.columns[name] if name in table.columns else all_missing(table.n_rows)

    columns: dict[str, Column] = {}
    for name in header:
        a, b = part(first, name), part(second, name)
        if isinstance(a, Numbers) and isinstance(b, Numbers):
            columns[name] = Numbers(np.concatenate([a.values, b.values]))  # int64 stays int64 when both are
        else:
            columns[name] = merge([first.texts(name) if name in first.columns else a,
                                   second.texts(name) if name in second.columns else b])
    return Table(header, columns, first.n_rows + second.n_rows)
