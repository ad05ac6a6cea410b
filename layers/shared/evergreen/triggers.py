"""What starts a run, and what is not worth one: shared by the pipeline's Ingest and batch scoring's Plan."""

from __future__ import annotations

import posixpath


class TriggerError(ValueError):
    """The event that started the run is not one Evergreen acts on."""


class IgnoredUpload(Exception):
    """The new object is not data (a folder marker, an empty or hidden file): nothing to do."""


def not_data(key: str, size: int | None) -> str | None:
    """Why an uploaded object is plainly not data, or None."""
    name = posixpath.basename(key)
    if key.endswith("/"):
        return "a folder marker"
    if size == 0:
        return "an empty object"
    if name.startswith((".", "_")):
        return f"a hidden or marker file ({name!r})"
    return None
