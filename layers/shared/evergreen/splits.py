"""The dataset splits as stored: binary and columnar, loaded without parsing. numpy + stdlib only.

Ingest writes each split (train, validation, test) once, as an uncompressed ``.npz`` of plain
arrays (never pickles: ``allow_pickle=False`` both ways):
  - ``numeric_<i>``: float32, the i-th numeric column of the schema (NaN missing);
  - ``categorical_<i>``: int32 codes into a dictionary kept as ``categorical_<i>_text`` (the UTF-8
    of its values, one after the other) and ``categorical_<i>_ends`` (where each value ends);
  - ``target``: float64 (regression), or codes plus ``target_text`` / ``target_ends``.
Every later step loads the arrays as they are. The dataset version is a hash of these buffers and
the schema, so it names exactly the rows, splits and types a run trained and tested on.

Splits that an earlier Evergreen wrote as CSV (``.csv`` keys, still named by a champion's record)
are read through the same coercion as an upload.
"""

from __future__ import annotations

import csv
import hashlib
import io

import numpy as np

from evergreen import data, table
from evergreen.contracts import ColumnSchema
from evergreen.errors import DataError

PARTS = ("train", "validation", "test")
SUFFIX = ".npz"


def split_key(prefix: str, part: str) -> str:
    return f"{prefix}{part}{SUFFIX}"


def _dictionary(name: str, values: np.ndarray) -> dict[str, np.ndarray]:
    encoded = table.encode(values.tolist())
    blobs = [v.encode("utf-8") for v in encoded.values]
    return {name: encoded.codes,
            f"{name}_text": np.frombuffer(b"".join(blobs), dtype=np.uint8),
            f"{name}_ends": np.cumsum([len(b) for b in blobs], dtype=np.int64)}


def _undictionary(arrays: dict[str, np.ndarray], name: str) -> np.ndarray:
    text, ends = arrays[f"{name}_text"].tobytes(), arrays[f"{name}_ends"].tolist()
    values = [text[start:end].decode("utf-8") for start, end in zip([0, *ends[:-1]], ends)]
    return np.array([*values, ""], dtype=object)[arrays[name]]


def arrays_of(frame: data.Frame, schema: ColumnSchema) -> dict[str, np.ndarray]:
    """The stored arrays of a frame, in a fixed order."""
    out: dict[str, np.ndarray] = {}
    for i, name in enumerate(schema.numeric):
        out[f"numeric_{i}"] = np.ascontiguousarray(frame.columns[name], dtype=np.float32)
    for i, name in enumerate(schema.categorical):
        out.update(_dictionary(f"categorical_{i}", frame.columns[name]))
    if schema.problem_type == "classification":
        out.update(_dictionary("target", frame.target))
    else:
        out["target"] = np.ascontiguousarray(frame.target, dtype=np.float64)
    return out


def to_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **arrays)
    return buf.getvalue()


def dataset_version(schema: ColumnSchema, parts: dict[str, dict[str, np.ndarray]]) -> str:
    """"ds-" + 16 hex of sha256 over the schema and every stored array of every split (names, types,
    shapes and bytes): the same rows in the same splits give the same version."""
    digest = hashlib.sha256(schema.model_dump_json().encode("utf-8"))
    for part in PARTS:
        for name, array in parts[part].items():
            digest.update(f"\n{part}/{name}:{array.dtype.str}:{array.shape}\n".encode())
            digest.update(memoryview(np.ascontiguousarray(array)).cast("B"))
    return "ds-" + digest.hexdigest()[:16]


def _names(schema: ColumnSchema) -> set[str]:
    encoded = [f"categorical_{i}" for i in range(len(schema.categorical))]
    names = {f"numeric_{i}" for i in range(len(schema.numeric))}
    if schema.problem_type == "classification":
        encoded.append("target")
    else:
        names.add("target")
    return names | {f"{base}{end}" for base in encoded for end in ("", "_text", "_ends")}


def read_split(raw: bytes, schema: ColumnSchema, *, source: str) -> data.Frame:
    """A stored split as a Frame (``.npz``; a ``.csv`` source is a split an earlier version wrote)."""
    if source.endswith(".csv"):
        return _read_csv_split(raw, schema, source)
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
    except (ValueError, OSError, EOFError) as exc:  # not an npz, or an array that only a pickle could hold
        raise DataError(f"{source}: not a dataset split ({exc})") from None
    expected = _names(schema)
    if set(arrays) != expected:
        raise DataError(f"{source}: arrays {sorted(arrays)} do not match the schema's {sorted(expected)}")
    columns = {name: arrays[f"numeric_{i}"] for i, name in enumerate(schema.numeric)}
    columns |= {name: _undictionary(arrays, f"categorical_{i}") for i, name in enumerate(schema.categorical)}
    target = _undictionary(arrays, "target") if schema.problem_type == "classification" else arrays["target"]
    return data.Frame(columns=columns, target=target)


def _read_csv_split(raw: bytes, schema: ColumnSchema, source: str) -> data.Frame:
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    header = [*schema.numeric, *schema.categorical, schema.target]
    if not rows or rows[0] != header:
        raise DataError(f"{source}: header {rows[0] if rows else []} does not match the schema's {header}")
    cleaned = data.build_frame(table.Table.from_rows(header, [r for r in rows[1:] if r]), schema)
    if cleaned.report["dropped"]:
        raise DataError(f"{source}: {cleaned.report['dropped']} rows have a missing or invalid target")
    return cleaned.frame
