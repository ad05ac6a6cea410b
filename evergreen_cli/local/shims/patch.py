"""What the shims share: ``Patch``, one moto method replaced while installed, and ``restore_env``."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


class Patch:
    """Replace ``owner.name`` while installed; a context manager."""

    owner: Any
    name: str

    def __init__(self) -> None:
        self._original: Callable[..., Any] | None = None

    def _replacement(self) -> Callable[..., Any]:
        raise NotImplementedError

    def install(self) -> Patch:
        if self._original is not None:
            raise RuntimeError(f"{type(self).__name__} is already installed")
        self._original = getattr(self.owner, self.name)
        setattr(self.owner, self.name, self._replacement())
        return self

    def uninstall(self) -> None:
        if self._original is not None:
            setattr(self.owner, self.name, self._original)
            self._original = None

    def __enter__(self) -> Patch:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()


def restore_env(saved: dict[str, str | None]) -> None:
    """Put back the os.environ values in `saved` (None: the variable was unset), then forget them."""
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    saved.clear()
