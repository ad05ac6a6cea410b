"""Errors a run ends with, by name: Step Functions sees the class name as the error (``$.error.Error``)."""

from __future__ import annotations


class DataError(ValueError):
    """The data cannot be used; the message names the problem precisely."""


class ChampionIntegrityError(RuntimeError):
    """The registered champion's artifact is missing or is not the registered bytes; nothing may be
    promoted until an operator restores it or moves the champion alias to a verified version."""


def clean_cause(cause: str | None, limit: int = 2000) -> str:
    """A Step Functions error Cause as a message for people: Lambda's JSON cause ({"errorMessage",
    "errorType", "stackTrace"}) gives its errorMessage alone; stack traces stay in the logs."""
    import json

    text = cause or ""
    try:
        parsed = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        parsed = None
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        text = str(parsed["errorMessage"])
    return text if len(text) <= limit else text[: limit - 3] + "..."
