"""`evergreen card M [vN] [--open]`: a version's model card.

Promote writes ``models/<M>/v<NNNNNN>/card.json`` (evergreen.storage.card_key) in the artifacts
bucket, and ``card.html`` beside it where the stack renders one. The card is summarised here
(``--json``: the whole card); ``--open`` copies the HTML page to a local file, prints its path and
opens it in the browser (``$BROWSER``, as Python's webbrowser module chooses).
"""

from __future__ import annotations

import json
import re
import tempfile
import webbrowser
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from evergreen import registry
from evergreen_cli import output
from evergreen_cli.output import CliError, JsonFlag
from evergreen_cli.target import Target, target_of
from evergreen.storage import card_html_key, card_key


def parse_version(text: str) -> int:
    found = re.fullmatch(r"[vV]?0*(\d+)", text.strip())
    if not found or int(found.group(1)) < 1:
        raise CliError(f"{text!r} is not a version: give it as 3 or v3")
    return int(found.group(1))


def champion_version(target: Target, model: str) -> int:
    champion = registry.get_alias(target.table("RegistryTableName"), model)
    if champion is None:
        raise CliError(f"model {model!r} has no champion in {target.where}: name a version (evergreen models lists them)")
    return int(champion["version"])


def read_card(target: Target, model: str, version: int, key: str) -> bytes:
    from botocore.exceptions import ClientError

    bucket = target.output("ArtifactsBucketName")
    try:
        return target.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404", "NotFound"):
            raise CliError(f"v{version} of {model!r} has no {key.rsplit('/', 1)[-1]} at s3://{bucket}/{key}") from None
        raise


def render(card: dict[str, Any]) -> None:
    out = output.console()
    scores = card.get("scores") or {}
    before = scores.get("champion_before") or {}
    candidate = card.get("candidate") or {}
    dataset = card.get("dataset") or {}
    contract = card.get("contract") or {}
    decision = card.get("decision") or {}
    parity = card.get("parity") or {}
    out.print(f"[bold]{escape(card['model_name'])} v{card['version']}[/bold]: {escape(str(candidate.get('family')))} "
              f"from run {escape(str(card.get('run_id')))} ({escape(str(card.get('trigger')))})")
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    params = ", ".join(f"{k}={v}" for k, v in sorted((candidate.get("params") or {}).items()))
    table.add_row("parameters", escape(params))
    rows = dataset.get("rows")
    if isinstance(rows, dict):  # the split's counts
        rows = f"{rows.get('raw')} rows ({', '.join(f'{k} {rows[k]}' for k in ('train', 'validation', 'test') if k in rows)})"
    table.add_row("data", f"{escape(str(rows))}, dataset {escape(str(dataset.get('version')))}, contract v{contract.get('version')}")
    metric = card.get("metric") or ""
    line = f"{metric}: test (ONNX) {output.score(scores.get('test_onnx'))}, validation {output.score(scores.get('validation'))}"
    if scores.get("baseline") is not None:
        line += f", trivial baseline {output.score(scores['baseline'])}"
    if before:
        line += f"; champion before: v{before.get('version')} {output.score(before.get('test_score'))}"
    table.add_row("scores", escape(line))
    if card.get("threshold") is not None:
        table.add_row("threshold", f"{float(card['threshold']):.3f}")
    if parity:
        shown = [f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in parity.items()
                 if not isinstance(v, (dict, list))]
        table.add_row("ONNX parity", escape(output.shorten(", ".join(shown), 120)))
    table.add_row("decision", escape(output.one_line(decision.get("reason") or "")))
    out.print(table)


def card(ctx: typer.Context,
         model: Annotated[str, typer.Argument(help="The model.")],
         version: Annotated[str | None, typer.Argument(help="The version (3 or v3); default: the champion.")] = None,
         open_: Annotated[bool, typer.Option("--open", help="Save the HTML card to a local file, print its path and open it.")] = False,
         json_: JsonFlag = False) -> None:
    """A version's model card: what it is, how it scored, why it was promoted."""
    target = target_of(ctx)
    number = parse_version(version) if version else champion_version(target, model)
    key = card_key(model, number)
    content = json.loads(read_card(target, model, number, key))
    page = None
    if open_:
        html = read_card(target, model, number, card_html_key(model, number))
        folder = Path(tempfile.gettempdir()) / "evergreen-cards"
        folder.mkdir(parents=True, exist_ok=True)
        page = folder / f"{target.name}-{model}-v{number:06d}.html"
        page.write_bytes(html)
    if json_:
        output.emit_json({"model": model, "version": number, "key": key, "html": str(page) if page else None, "card": content})
    else:
        render(content)
        if page:
            output.console().print(f"HTML card: {page}")
    if page:
        webbrowser.open(page.as_uri())
