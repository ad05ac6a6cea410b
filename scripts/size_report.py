"""Size budget of a `sam build` output: each function's unzipped code plus all its layers.

Lambda refuses a function whose code and layers unzip to more than 262,144,000 bytes (250 MiB; AWS
writes "250 MB"). This reads the built template (.aws-sam/build/template.yaml) to learn each
function's CodeUri and Layers, sums the bytes of the files in those folders, prints a table and
exits 1 naming every function over its limit:

    python scripts/size_report.py [.aws-sam/build] [--limit 250] [--limit-for InferenceFunction=150]
                                  [--json sizes.json]

The default limits are the project's: 250 MiB for every function (Lambda's own limit), 150 MiB for
InferenceFunction (its cold start and the room left for model growth). A layer given as an ARN
(not built here) cannot be measured: the function is marked and fails the check, since its size
is unknown.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

MIB = 1024 * 1024
LAMBDA_LIMIT_MIB = 250
DEFAULT_LIMITS = {"InferenceFunction": 150}


class _TemplateLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short-form tags (!Ref X -> {"Ref": "X"})."""


def _cfn_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node):
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if name == "Fn::GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_TemplateLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=_TemplateLoader)  # noqa: S506 (SafeLoader subclass)


def tree_bytes(path: Path) -> int:
    """Bytes of every regular file under path (what the zip holds once unzipped)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


@dataclass
class FunctionSize:
    name: str
    code_bytes: int
    layers: list[tuple[str, int | None]]  # (logical id or ARN, bytes; None when not measurable)
    limit_mib: float
    total_bytes: int = 0
    unmeasured: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.total_bytes = self.code_bytes + sum(b for _, b in self.layers if b is not None)
        self.unmeasured = [name for name, b in self.layers if b is None]

    @property
    def over(self) -> bool:
        return bool(self.unmeasured) or self.total_bytes > self.limit_mib * MIB


def _layer_ids(layers: list) -> list:
    out = []
    for layer in layers or []:
        if isinstance(layer, dict) and "Ref" in layer:
            out.append(layer["Ref"])
        else:
            out.append(layer if isinstance(layer, str) else json.dumps(layer))
    return out


def measure(build_dir: Path, limits: dict[str, float], default_limit: float) -> list[FunctionSize]:
    template = load_template(build_dir / "template.yaml")
    resources = template.get("Resources", {})
    global_layers = (template.get("Globals", {}).get("Function", {}) or {}).get("Layers", [])
    layer_dirs = {
        rid: build_dir / res["Properties"]["ContentUri"]
        for rid, res in resources.items()
        if res.get("Type") == "AWS::Serverless::LayerVersion"
        and isinstance(res.get("Properties", {}).get("ContentUri"), str)
    }
    layer_bytes = {rid: tree_bytes(d) for rid, d in layer_dirs.items() if d.exists()}
    sizes = []
    for rid, res in sorted(resources.items()):
        props = res.get("Properties", {}) or {}
        if res.get("Type") != "AWS::Serverless::Function" or props.get("PackageType") == "Image":
            continue
        code_uri = props.get("CodeUri")
        code_dir = build_dir / code_uri if isinstance(code_uri, str) else None
        code = tree_bytes(code_dir) if code_dir is not None and code_dir.exists() else 0
        layers = [(lid, layer_bytes.get(lid)) for lid in _layer_ids(global_layers) + _layer_ids(props.get("Layers"))]
        sizes.append(FunctionSize(rid, code, layers, limits.get(rid, default_limit)))
    return sizes


def render(sizes: list[FunctionSize], layer_sizes: dict[str, int] | None = None) -> str:
    rows = [("Function", "Code", "Layers", "Total", "Limit", "Headroom", "")]
    for s in sizes:
        layer_names = "+".join(name for name, _ in s.layers) or "-"
        layer_total = sum(b for _, b in s.layers if b is not None)
        status = "OVER" if s.over else "ok"
        if s.unmeasured:
            status = "UNKNOWN layer size: " + ", ".join(s.unmeasured)
        rows.append((
            s.name,
            f"{s.code_bytes / MIB:.2f}",
            f"{layer_total / MIB:.1f} ({layer_names})",
            f"{s.total_bytes / MIB:.1f}",
            f"{s.limit_mib:g}",
            f"{s.limit_mib - s.total_bytes / MIB:.1f}",
            status,
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    left = (0, 2, 6)  # text columns; numbers align right
    lines = ["  ".join(cell.ljust(w) if i in left else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(r, widths, strict=True))).rstrip() for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    out = "Unzipped sizes in MiB (Lambda's 250 MB limit is 262,144,000 bytes = 250 MiB)\n" + "\n".join(lines)
    if layer_sizes:
        out += "\n\nLayers: " + ", ".join(f"{k} {v / MIB:.1f}" for k, v in sorted(layer_sizes.items()))
    return out


def _parse_limit(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    if not name or not value:
        raise argparse.ArgumentTypeError(f"expected FUNCTION=MIB, got {text!r}")
    return name, float(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build_dir", nargs="?", type=Path, default=Path(".aws-sam/build"))
    parser.add_argument("--limit", type=float, default=LAMBDA_LIMIT_MIB, help="MiB for every function")
    parser.add_argument("--limit-for", type=_parse_limit, action="append", default=[], metavar="FUNCTION=MIB")
    parser.add_argument("--json", type=Path, help="also write the sizes as JSON here")
    args = parser.parse_args(argv)

    template = args.build_dir / "template.yaml"
    if not template.exists():
        print(f"{template} not found: run `make build` (sam build) first", file=sys.stderr)
        return 2
    limits = {**DEFAULT_LIMITS, **dict(args.limit_for)}
    sizes = measure(args.build_dir, limits, args.limit)
    layer_sizes = {name: b for s in sizes for name, b in s.layers if b is not None}
    print(render(sizes, layer_sizes))
    if args.json:
        args.json.write_text(json.dumps(
            {"functions": [asdict(s) for s in sizes], "layers": layer_sizes}, indent=2) + "\n")
    over = [s for s in sizes if s.over]
    for s in over:
        reason = (f"layer size unknown ({', '.join(s.unmeasured)})" if s.unmeasured
                  else f"{s.total_bytes / MIB:.1f} MiB > {s.limit_mib:g} MiB")
        print(f"SIZE BUDGET EXCEEDED: {s.name}: {reason}", file=sys.stderr)
    if not sizes:
        print("no functions found in the built template", file=sys.stderr)
        return 1
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
