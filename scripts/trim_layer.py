"""Safe trims for a Lambda layer's python/ tree (run by the layer Makefiles inside `sam build`).

Only what the runtime never reads goes, and each rule reports what it saved:

- test suites: every directory named ``tests`` or ``test`` (numpy's, scipy's, scikit-learn's, onnx's
  15 MB of backend tests). ``numpy/testing`` and ``*/_testing`` are modules, not suites: they stay.
- stubs and build sources: ``*.pyi``, Cython ``*.pxd`` ``*.pyx`` ``*.pxi`` and their ``*.tp`` templates,
  C/C++ sources and headers, and ``include/`` directories (headers for compiling against numpy).
- console scripts: the top-level ``bin/`` pip writes with ``-t`` (``/opt/python/bin`` is not on PATH).
- onnxruntime's C API library ``onnxruntime/capi/libonnxruntime.so.*`` (33 MiB): the Python binding
  ``onnxruntime_pybind11_state*.so`` carries the runtime statically and neither links (no NEEDED
  entry) nor names it; the rule checks that the binding does not mention ``libonnxruntime.so`` and
  keeps the library when it does (a future wheel that needs it stays intact).
- symbols: ``strip --strip-unneeded`` on extension modules (``*.so``), **never** on a file under a
  ``*.libs/`` directory: those are auditwheel-vendored libraries (OpenBLAS, libgomp) whose patched
  headers strip corrupts (it broke scipy's OpenBLAS here). A strip that fails leaves the file as it was.

Whether the trimmed stack still works is checked by tests/build/test_built_layers.py (a model trained
and exported on the built training layer, served on the built serving layers). Standard library only.

    python scripts/trim_layer.py .aws-sam/build/TrainingLayer/python [--no-strip]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TEST_DIRS = {"tests", "test"}
SOURCE_SUFFIXES = (".pyi", ".pxd", ".pyx", ".pxi", ".tp", ".c", ".cc", ".cpp", ".cxx", ".h", ".hh", ".hpp")
INCLUDE_DIRS = {"include"}


def tree_bytes(path: Path) -> int:
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def under_vendored_libs(path: Path, root: Path) -> bool:
    """True when a parent directory (below root) is an auditwheel ``*.libs`` directory."""
    return any(part.endswith(".libs") for part in path.relative_to(root).parts[:-1])


def _remove(path: Path) -> int:
    size = tree_bytes(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    return size


def drop_dirs(root: Path, names: set[str]) -> tuple[int, int]:
    """Remove every directory (below root, not root itself) whose name is in names."""
    count = size = 0
    for dirpath, dirnames, _ in os.walk(root):
        for name in list(dirnames):
            if name in names:
                size += _remove(Path(dirpath) / name)
                count += 1
                dirnames.remove(name)
    return count, size


def drop_files(root: Path, suffixes: tuple[str, ...]) -> tuple[int, int]:
    count = size = 0
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name.endswith(suffixes):
            size += _remove(path)
            count += 1
    return count, size


def drop_console_scripts(root: Path) -> tuple[int, int]:
    bin_dir = root / "bin"
    if not bin_dir.is_dir():
        return 0, 0
    return len(list(bin_dir.iterdir())), _remove(bin_dir)


def drop_onnxruntime_c_api(root: Path) -> tuple[int, int]:
    """Drop capi/libonnxruntime.so.* when no Python binding in capi/ refers to it."""
    capi = root / "onnxruntime" / "capi"
    libs = sorted(capi.glob("libonnxruntime.so*")) if capi.is_dir() else []
    bindings = sorted(capi.glob("onnxruntime_pybind11_state*.so")) if capi.is_dir() else []
    if not libs or not bindings:
        return 0, 0
    if any(b"libonnxruntime.so" in binding.read_bytes() for binding in bindings):
        print("trim_layer: the onnxruntime binding names libonnxruntime.so: kept", file=sys.stderr)
        return 0, 0
    return len(libs), sum(_remove(lib) for lib in libs)


def extension_modules(root: Path) -> list[Path]:
    """``*.so`` files to strip: every one outside ``*.libs/`` directories, no symlinks."""
    return [
        path
        for path in sorted(root.rglob("*.so"))
        if path.is_file() and not path.is_symlink() and not under_vendored_libs(path, root)
    ]


def strip_file(path: Path, strip: str = "strip") -> int:
    """Strip one file through a temporary copy; bytes saved (0 when strip failed or gained nothing)."""
    before = path.stat().st_size
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
        tmp_path = Path(tmp.name)
    try:
        result = subprocess.run(
            [strip, "--strip-unneeded", "-o", str(tmp_path), str(path)], capture_output=True, text=True
        )
        after = tmp_path.stat().st_size if result.returncode == 0 else before
        if result.returncode != 0 or after >= before:
            return 0
        shutil.copymode(path, tmp_path)
        os.replace(tmp_path, path)
        return before - after
    finally:
        tmp_path.unlink(missing_ok=True)


def strip_extensions(root: Path, strip: str = "strip") -> tuple[int, int]:
    count = size = 0
    for path in extension_modules(root):
        saved = strip_file(path, strip)
        if saved:
            count += 1
            size += saved
    return count, size


def trim(root: Path, do_strip: bool = True, strip: str = "strip") -> list[tuple[str, int, int]]:
    """Apply every rule; (rule, items, bytes saved) per rule."""
    report = [
        ("test suites (tests/, test/)", *drop_dirs(root, TEST_DIRS)),
        ("stubs + Cython/C sources", *drop_files(root, SOURCE_SUFFIXES)),
        ("include/ dirs", *drop_dirs(root, INCLUDE_DIRS)),
        ("console scripts (bin/)", *drop_console_scripts(root)),
        ("onnxruntime C API lib (unused by Python)", *drop_onnxruntime_c_api(root)),
    ]
    if do_strip:
        if shutil.which(strip) is None:
            print(f"trim_layer: no `{strip}` on PATH: extension modules left unstripped", file=sys.stderr)
        else:
            report.append(("strip --strip-unneeded *.so (not *.libs/)", *strip_extensions(root, strip)))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the layer's python/ directory")
    parser.add_argument("--no-strip", action="store_true", help="skip strip (e.g. when debugging a crash)")
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        parser.error(f"{args.root} is not a directory")
    before = tree_bytes(args.root)
    report = trim(args.root, do_strip=not args.no_strip)
    after = tree_bytes(args.root)
    mib = 1024 * 1024
    print(f"trim {args.root}: {before / mib:.1f} MiB -> {after / mib:.1f} MiB")
    for rule, items, saved in report:
        print(f"  {rule:<44} {items:>5} items  -{saved / mib:6.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
