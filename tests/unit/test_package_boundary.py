"""The product and the developer's tools stay apart: the Lambda code (layers/*, functions/*) never imports
evergreen_cli (the `evergreen` command and the local runtime), which no layer ships."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.infra import ROOT

DEPLOYED = ("layers", "functions")


def imported_modules(path: Path) -> set[str]:
    """Every module an `import` or `from ... import` of the file names (absolute imports)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_deployed_module_imports_the_developer_package():
    sources = [p for folder in DEPLOYED for p in sorted((ROOT / folder).rglob("*.py")) if "__pycache__" not in p.parts]
    assert any(p.parts[-2:] == ("evergreen", "storage.py") for p in sources) and len(sources) > 50
    offending = sorted(f"{p.relative_to(ROOT)}: {name}" for p in sources for name in imported_modules(p)
                       if name.split(".")[0] == "evergreen_cli")
    assert not offending, "deployed code imports evergreen_cli:\n" + "\n".join(offending)


def test_the_check_sees_an_import_of_the_developer_package(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import json\nfrom evergreen_cli.local import stack\n\ndef f():\n    import evergreen_cli.app\n")
    assert imported_modules(module) == {"json", "evergreen_cli.local", "evergreen_cli.app"}
