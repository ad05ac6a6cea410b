"""Keep a layer's requirements.lock in step with its requirements.txt.

requirements.txt names what a layer is for (the pins people edit); requirements.lock is the complete,
hashed set for the Lambda runtime that the layer Makefile installs with `pip --no-deps
--require-hashes`. `make layer-locks` regenerates the locks (uv, constrained by requirements/dev.lock
so the developer venv and Lambda get the same versions).

    python scripts/layer_lock.py check layers/training/requirements.txt layers/training/requirements.lock

exits 1, naming the package, when a pin in requirements.txt is missing from the lock or differs.
Standard library only: it runs under any local python3 inside `sam build`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*==\s*([^\s;\\#]+)")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(text: str) -> dict[str, str]:
    """`name==version` pins of a requirements file, names normalized (PEP 503); other lines ignored."""
    pins: dict[str, str] = {}
    for line in text.splitlines():
        match = _REQ.match(line)
        if match:
            pins[normalize(match.group(1))] = match.group(3)
    return pins


def unpinned(text: str) -> list[str]:
    """Requirement lines that are not exact pins (a lock must have none)."""
    out = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip().rstrip("\\").strip()
        if not line or line.startswith(("--hash", "-")):
            continue
        if not _REQ.match(line):
            out.append(line)
    return out


def check(requirements: str, lock: str) -> list[str]:
    """Problems that make `lock` unfit for `requirements` (empty list: fine)."""
    wanted, locked = parse_pins(requirements), parse_pins(lock)
    problems = [
        f"{name}=={version} is in requirements.txt but the lock has "
        + (f"{name}=={locked[name]}" if name in locked else "no such package")
        for name, version in sorted(wanted.items())
        if locked.get(name) != version
    ]
    problems += [f"not an exact pin in the lock: {line}" for line in unpinned(lock)]
    if locked and "--hash=" not in lock:
        problems.append("the lock has no hashes (pip --require-hashes needs them)")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[1] != "check":
        print(__doc__, file=sys.stderr)
        return 2
    req_path, lock_path = Path(argv[2]), Path(argv[3])
    if not lock_path.exists():
        print(f"{lock_path} is missing: run `make layer-locks`", file=sys.stderr)
        return 1
    problems = check(req_path.read_text(), lock_path.read_text())
    for problem in problems:
        print(f"{lock_path}: {problem}", file=sys.stderr)
    if problems:
        print("run `make layer-locks` and commit the locks", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
