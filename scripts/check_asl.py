"""Check the state machine definitions against template.yaml (cfn-lint does not look inside them).

For every AWS::Serverless::StateMachine with a local DefinitionUri: the file is valid JSON with
StartAt and States, every `${Var}` in it is a key of the resource's DefinitionSubstitutions, and every
substitution is used. Every statemachines/*.asl.json file is used by some state machine.

    python scripts/check_asl.py [template.yaml]     # exit 1 with one line per problem
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from evergreen_cli.local.sam import load_template

VARIABLE = re.compile(r"\$\{([^}]+)\}")


def check(template_path: Path) -> list[str]:
    root = template_path.parent
    sam = load_template(template_path)
    problems: list[str] = []
    used_files: set[Path] = set()
    for logical_id, resource in (sam.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::StateMachine":
            continue
        props = resource.get("Properties") or {}
        uri = props.get("DefinitionUri")
        if not isinstance(uri, str) or uri.startswith("s3://"):
            continue
        path = (root / uri).resolve()
        used_files.add(path)
        if not path.exists():
            problems.append(f"{logical_id}: DefinitionUri {uri} does not exist")
            continue
        text = path.read_text()
        try:
            definition = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(f"{uri}: not valid JSON: {exc}")
            continue
        if not isinstance(definition, dict) or "StartAt" not in definition or "States" not in definition:
            problems.append(f"{uri}: no StartAt/States")
        substitutions = set((props.get("DefinitionSubstitutions") or {}).keys())
        variables = set(VARIABLE.findall(text))
        problems += [f"{uri}: ${{{v}}} is not in {logical_id}'s DefinitionSubstitutions"
                     for v in sorted(variables - substitutions)]
        problems += [f"{logical_id}: DefinitionSubstitutions {s} is not used by {uri}"
                     for s in sorted(substitutions - variables)]
    for path in sorted((root / "statemachines").glob("*.asl.json")):
        if path.resolve() not in used_files:
            problems.append(f"{path.relative_to(root)}: no state machine in {template_path.name} uses it")
    return problems


def main(argv: list[str]) -> int:
    template = Path(argv[1]) if len(argv) > 1 else Path("template.yaml")
    problems = check(template)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"ASL: every ${{Var}} in the state machines of {template} is substituted")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
