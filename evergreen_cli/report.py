"""`evergreen report --model M [--output FILE] [--days N]`: a model's report as one HTML page.

The page (evergreen_cli.report_page, from evergreen_cli.report_data) shows the versions and the runs with
their decisions, live quality, drift and traffic over the last `--days`, the alarms and the retrains
they started, the trials of the last run, and links to the model cards. It is self-contained: no script,
nothing loaded from the network. Each version's card page is copied from the artifacts bucket beside it,
into ``<FILE's stem>-cards/<model>/v<N>.html``, which the page links to by relative paths: the folder
moves with the page. The local stack serves the same page at http://127.0.0.1:8080/ui/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from evergreen_cli import output, report_data, report_page
from evergreen_cli.output import JsonFlag
from evergreen_cli.target import Target, target_of
from evergreen.storage import is_missing


def card_page(target: Target, key: str) -> bytes | None:
    """A card page from the artifacts bucket, or None when it is not there."""
    from botocore.exceptions import ClientError

    try:
        return target.client("s3").get_object(Bucket=target.output("ArtifactsBucketName"), Key=key)["Body"].read()
    except ClientError as exc:
        if is_missing(exc):
            return None
        raise


def write(target: Target, data: dict[str, Any], path: Path) -> list[Path]:
    """Write the report to `path` and the versions' card pages beside it; returns the card files."""
    folder = f"{path.stem}-cards"
    links, written = {}, []
    for version in data["versions"]:
        page = card_page(target, version["card_html_key"]) if version.get("card_html_key") else None
        if page is None:
            continue
        href = report_page.card_href(folder, data["model"], version["version"])
        card = path.parent / folder / data["model"] / f"v{version['version']}.html"
        card.parent.mkdir(parents=True, exist_ok=True)
        card.write_bytes(page)
        links[version["version"]], written = href, [*written, card]
    path.write_text(report_page.render(data, links), encoding="utf-8")
    return written


def report(ctx: typer.Context,
           model: Annotated[str, typer.Option("--model", "-m", help="The model to report on.")],
           out: Annotated[Path | None, typer.Option("--output", "-o", help="The HTML file to write (default: evergreen-report-<model>.html).")] = None,
           days: Annotated[float, typer.Option(help="How many days of live metrics to plot (at most 15).")] = 14.0,
           json_: JsonFlag = False) -> None:
    """A model's report as one HTML page: versions and decisions, live quality and drift, alarms and retrains, trials, cards."""
    target = target_of(ctx)
    data = report_data.gather(target, model, days)
    path = out or Path(f"evergreen-report-{model}.html")
    cards = write(target, data, path)
    if json_:
        output.emit_json({"model": model, "path": str(path), "cards": [str(c) for c in cards], "report": data})
    else:
        output.console().print(f"wrote {path} ({len(data['versions'])} versions, {len(data['runs'])} runs, "
                               f"{len(cards)} model cards beside it in {path.stem}-cards/)", markup=False)
