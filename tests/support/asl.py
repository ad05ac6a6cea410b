"""Reading a state machine of template.yaml for the ASL lint tests (cfn-lint does not look inside ASL)."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import Any

from samtranslator.yaml_helper import yaml_parse

from tests.support.infra import ROOT

TEMPLATE = yaml_parse((ROOT / "template.yaml").read_text())
LAMBDA_ERRORS = {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                 "Lambda.TooManyRequestsException"}


@dataclass(frozen=True)
class Machine:
    properties: dict[str, Any]  # the AWS::Serverless::StateMachine's Properties
    text: str  # the ASL as written
    asl: dict[str, Any]


def machine(logical_id: str) -> Machine:
    properties = TEMPLATE["Resources"][logical_id]["Properties"]
    text = (ROOT / properties["DefinitionUri"]).read_text()
    return Machine(properties, text, json.loads(text))


def all_states(states_machine: dict, path: str = "") -> list[tuple[str, dict, dict]]:
    """(name, state, the machine it belongs to), recursing into Map/Parallel."""
    out = []
    for name, state in states_machine["States"].items():
        out.append((path + name, state, states_machine))
        for sub in [state.get("ItemProcessor") or state.get("Iterator")] + state.get("Branches", []):
            if sub:
                out += all_states(sub, f"{path}{name}/")
    return out


def check_transitions(states_machine: dict) -> None:
    """Every StartAt, Next, Default, Choice and Catch target exists; every state ends or goes on."""
    names = set(states_machine["States"])
    assert states_machine["StartAt"] in names
    for name, state in states_machine["States"].items():
        targets = [state.get("Next"), state.get("Default")] + [c["Next"] for c in state.get("Choices", [])]
        targets += [c["Next"] for c in state.get("Catch", [])]
        for target in filter(None, targets):
            assert target in names, f"{name} -> {target!r} does not exist"
        assert state["Type"] in ("Succeed", "Fail", "Choice") or state.get("Next") or state.get("End"), name
        for sub in [state.get("ItemProcessor")] + state.get("Branches", []):
            if sub:
                check_transitions(sub)


def handler_model(logical_id: str, module: Any) -> type:
    """The pydantic model (of `module`) a function's handler parses its event into, read from its app.py."""
    tree = ast.parse((ROOT / TEMPLATE["Resources"][logical_id]["Properties"]["CodeUri"] / "app.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "event_parser":
            return getattr(module, node.keywords[0].value.id)
    raise AssertionError(f"{logical_id} handler does not use event_parser")


def check_payload_matches_handler(name: str, state: dict, properties: dict, module: Any) -> None:
    """A Lambda Task's Parameters give every field its handler requires, and no other."""
    import re

    var = re.fullmatch(r"\$\{(\w+)\}", state["Resource"]).group(1)
    model = handler_model(properties["DefinitionSubstitutions"][var]["Fn::GetAtt"][0], module)
    keys = {k.removesuffix(".$") for k in state["Parameters"]}
    fields = model.model_fields
    required = {k for k, f in fields.items() if f.is_required()}
    assert required <= keys <= set(fields), f"{name}: payload {sorted(keys)} vs {model.__name__} fields {sorted(fields)}"


def check_map_children_policy(properties: dict[str, Any]) -> list[dict[str, Any]]:
    """A Distributed Map may start and read children of its own state machine only; returns the
    role's statements for further checks."""
    name = properties["Name"]["Fn::Sub"]
    statements = [s for p in properties["Policies"] if "Statement" in p for s in p["Statement"]]
    [start] = [s for s in statements if s["Action"] == ["states:StartExecution"]]
    assert start["Resource"]["Fn::Sub"].endswith(f":stateMachine:{name}")
    [children] = [s for s in statements if "states:DescribeExecution" in s["Action"]]
    assert children["Resource"]["Fn::Sub"].endswith(f":execution:{name}/*")
    return statements
