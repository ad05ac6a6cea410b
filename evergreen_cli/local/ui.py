"""The report pages of the local stack, at http://127.0.0.1:8080/ui/ beside the template's API.

Not a route of the template (API Gateway has no such page on AWS, where `evergreen report` writes the
same page to a file), so no API key is asked for; the server listens on 127.0.0.1 only:

    GET /ui/                        the report of the stack's model (with several: a list of them)
    GET /ui/?model=M, GET /ui/M     the report of model M (evergreen_cli.report_page)
    GET /ui/cards/M/v<N>.html       version N's model card page, from the artifacts bucket

Each page is made on request from the stack's registry, run records and CloudWatch, through the same
code as `evergreen report` (evergreen_cli.report_data), with the card's Content-Security-Policy also
sent as a header. An unknown model or card is a 404 page, another method than GET or HEAD a 405, and
a failure a 500 page that names it.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any
from urllib.parse import quote, unquote

from evergreen import registry
from evergreen.card_html import CSP, STYLE

PREFIX = "/ui"
CARD = re.compile(r"/cards/(?P<model>[^/]+)/v(?P<version>\d+)\.html")

Answer = tuple[int, dict[str, str], str]


def _page(status: int, title: str, body: str) -> Answer:
    return status, _headers(), (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
                                f"<style>{STYLE}</style></head><body><header><h1>{escape(title)}</h1>{body}</header>"
                                "</body></html>\n")


def _headers() -> dict[str, str]:
    return {"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": CSP, "Cache-Control": "no-store"}


class ReportPages:
    """GET /ui/... for a ``LocalStack``: the report pages and the model cards."""

    def __init__(self, stack: Any):
        from evergreen_cli.target import Target

        # the stack's own backends, in this process (moto's mock is process-wide): no HTTP round trip
        self.target = Target(kind="local", name=stack.stack_name, region=stack.region, outputs=stack.outputs,
                             endpoint_url=None)

    def takes(self, path: str) -> bool:
        return path == PREFIX or path.startswith(PREFIX + "/")

    def handle(self, method: str, path: str, query: dict[str, list[str]]) -> Answer:
        """One request -> (status, headers, body); a failure is a 500 page naming it (a developer's server)."""
        try:
            return self._route(method, path, query)
        except Exception as exc:  # noqa: BLE001 - the page says what failed; the server keeps serving
            return _page(500, "The report failed", f"<p>{escape(type(exc).__name__)}: {escape(str(exc))}</p>")

    def _route(self, method: str, path: str, query: dict[str, list[str]]) -> Answer:
        if method not in ("GET", "HEAD"):
            status, headers, body = _page(405, "Method not allowed", f"<p>{escape(method)} {escape(path)}: only GET.</p>")
            return status, {**headers, "Allow": "GET, HEAD"}, body
        if path == PREFIX:  # relative links (cards/..., a model's name) resolve under /ui/
            return 308, {"Location": PREFIX + "/", "Content-Type": "text/plain; charset=utf-8"}, ""
        rest = path[len(PREFIX):]
        card = CARD.fullmatch(rest)
        if card:
            return self.card(unquote(card["model"]), int(card["version"]))
        name = unquote(rest.strip("/")) or (query.get("model") or [""])[-1]
        if rest.endswith("/") and rest != "/":  # /ui/M/: its relative links would resolve under /ui/M/
            return 308, {"Location": PREFIX + rest.rstrip("/"), "Content-Type": "text/plain; charset=utf-8"}, ""
        if "/" in name:
            return _page(404, "Not found", f"<p>No page {escape(path)}: see <a href=\"{PREFIX}/\">{PREFIX}/</a>.</p>")
        return self.report(name)

    def models(self) -> list[str]:
        return [c["model_name"] for c in registry.champions(self.target.table("RegistryTableName"))]

    def report(self, model: str) -> Answer:
        from evergreen_cli import report_data, report_page
        from evergreen_cli.output import CliError

        models = self.models()
        if not model and len(models) != 1:
            items = "".join(f'<li><a href="{escape(quote(m, safe=""))}">{escape(m)}</a></li>' for m in models)
            return _page(200, f"Evergreen: {self.target.name}",
                         f"<p>The models of the local stack:</p><ul>{items}</ul>" if models else
                         "<p>No model has a champion yet: upload data (<code>evergreen upload FILE --model M</code>) "
                         "and this page shows its report once it is promoted.</p>")
        model = model or models[0]
        try:
            data = report_data.gather(self.target, model)
        except CliError as exc:
            return _page(404, "No such model", f"<p>{escape(str(exc))}</p>")
        links = {v["version"]: report_page.card_href("cards", model, v["version"]) for v in data["versions"]
                 if v.get("card_html_key")}
        nav = [(m, quote(m, safe="")) for m in models] if len(models) > 1 else []
        return 200, _headers(), report_page.render(data, links, nav)

    def card(self, model: str, version: int) -> Answer:
        from evergreen_cli.report import card_page

        found = registry.get_version(self.target.table("RegistryTableName"), model, version)
        page = card_page(self.target, found["card_html_key"]) if found and found.get("card_html_key") else None
        if page is None:
            return _page(404, "No such card", f"<p>Model {escape(model)} has no card page for v{version}.</p>")
        return 200, _headers(), page.decode("utf-8")
