"""Errors the caller sees, with their HTTP status, and how a received value is named in a message.

The handler turns a ServingError into a response {"message": str(error)} with `error.status`.
Messages quote what was received through `shown` / `shown_repr`: short, and with lone surrogates
escaped, so a huge value or invalid text can neither bloat nor break a response or a log line.
"""

from __future__ import annotations

import json
from typing import Any


class ServingError(Exception):
    """An error the caller should see, with its HTTP status. The message names the problem."""

    status = 500


class RequestError(ServingError):
    status = 400


class PayloadTooLarge(ServingError):
    status = 413


class ModelUnavailable(ServingError):
    status = 503


def json_type(value: Any) -> str:
    """The JSON kind of a parsed value: "null", "a boolean", "a number", "a string", "a list", "an object"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def shown(value: Any, limit: int = 40) -> str:
    """A scalar as JSON text ("forty", 1e+39, true), cut at `limit` chars; a list or an object by its kind."""
    if isinstance(value, (list, dict)):
        return json_type(value)
    if isinstance(value, str) and len(value) > limit:
        value = value[:limit]
    text = json.dumps(value, default=str, ensure_ascii=False)
    if not is_unicode(text):
        text = json.dumps(value, default=str)  # \ud800 rather than the lone surrogate itself
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown_repr(value: Any, limit: int = 40) -> str:
    """A value as Python shows it ('maybe', 1, True, ['no', 'yes']), cut at `limit` chars.

    repr() escapes lone surrogates (they are not printable), so the text is always valid Unicode."""
    if isinstance(value, str) and len(value) > limit:
        value = value[:limit]
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_unicode(text: str) -> bool:
    """False for text holding a lone surrogate (JSON allows \\ud800; UTF-8, DynamoDB and logs do not)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
