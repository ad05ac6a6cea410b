"""`evergreen predict` and `evergreen feedback`: the inference API, as a client would call it.

The request goes where a client's would: the local stack's API (its URL and key from the state
file), or a deployed stack's ``ApiUrl`` output with its API key (``ApiKeyId`` output, read with
apigateway get-api-key, or ``$EVERGREEN_API_KEY``) or SigV4-signed when ``InferenceAuthMode`` is IAM.
A stack without ``ApiUrl`` (one created on moto, which cannot create SAM's API) is called through
its ``InferenceFunctionName`` with the API Gateway proxy event the API would send.

`predict` remembers the ids it got (per target, under evergreen_cli.local.running.home()), so
`evergreen feedback last LABEL` labels the last prediction.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.markup import escape
from rich.table import Table

from evergreen_cli import output
from evergreen_cli.output import CliError, JsonFlag
from evergreen_cli.target import Target, target_of
from evergreen_cli.local import running

LAST = "last"
LAST_FILE = "last-predictions.json"


# ----------------------------------------------------------------------------- the API


def _api_key(target: Target) -> str | None:
    if target.local_api:
        return target.local_api[1]
    if os.environ.get("EVERGREEN_API_KEY"):
        return os.environ["EVERGREEN_API_KEY"]
    key_id = target.outputs.get("ApiKeyId")
    if not key_id:
        return None
    return target.client("apigateway").get_api_key(apiKey=key_id, includeValue=True)["value"]


def _http(target: Target, url: str, body: bytes) -> tuple[int, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if target.outputs.get("InferenceAuthMode") == "IAM" and not target.local_api:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method="POST", url=url, data=body, headers=headers)
        region = target.session.region_name or urlsplit(url).hostname.split(".")[2]  # <id>.execute-api.<region>.amazonaws.com
        SigV4Auth(target.session.get_credentials(), "execute-api", region).add_auth(request)
        headers = dict(request.headers.items())
    else:
        key = _api_key(target)
        if key:
            headers["x-api-key"] = key
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers, method="POST"), timeout=60) as answer:
            return answer.status, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except urllib.error.URLError as exc:
        raise CliError(f"cannot reach the API at {url}: {exc.reason}") from None


def proxy_event(path: str, body: str) -> dict[str, Any]:
    """The REST API proxy event API Gateway sends the inference function for a POST to `path`."""
    return {"resource": path, "path": path, "httpMethod": "POST",
            "headers": {"Content-Type": "application/json"}, "multiValueHeaders": {"Content-Type": ["application/json"]},
            "queryStringParameters": None, "multiValueQueryStringParameters": None, "pathParameters": None,
            "stageVariables": None, "body": body, "isBase64Encoded": False,
            "requestContext": {"resourcePath": path, "httpMethod": "POST", "path": path, "stage": "cli",
                               "requestId": str(uuid.uuid4()), "identity": {"sourceIp": "127.0.0.1", "userAgent": "evergreen-cli"}}}


def _through_lambda(target: Target, path: str, body: str) -> tuple[int, str]:
    function = target.output("InferenceFunctionName")
    answer = target.client("lambda").invoke(FunctionName=function, Payload=json.dumps(proxy_event(path, body)).encode())
    payload = json.loads(answer["Payload"].read() or b"{}")
    if answer.get("FunctionError"):
        raise CliError(f"{function} failed: {payload.get('errorType', 'Error')}: {payload.get('errorMessage', '')}")
    return int(payload.get("statusCode", 502)), payload.get("body") or ""


def call(target: Target, path: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST `payload` to the inference API's `path` -> (HTTP status, JSON body)."""
    body = json.dumps(payload)
    if target.local_api:
        status, text = _http(target, target.local_api[0] + path, body.encode())
    elif target.outputs.get("ApiUrl"):
        status, text = _http(target, target.outputs["ApiUrl"].rstrip("/") + path, body.encode())
    else:
        status, text = _through_lambda(target, path, body)
    try:
        parsed = json.loads(text) if text else {}
    except ValueError:
        parsed = {"message": text}
    return status, parsed if isinstance(parsed, dict) else {"body": parsed}


def answer_or_fail(path: str, status: int, body: dict[str, Any]) -> dict[str, Any]:
    if status >= 400:
        raise CliError(f"{path} answered {status}: {body.get('message') or output.to_json(body)}")
    return body


# ----------------------------------------------------------------------------- records


def parse_records(values: list[str]) -> tuple[list[dict[str, Any]], bool]:
    """`key=value` pairs (one record; values sent as text, which the API coerces as training did), or
    one JSON object (a record) or array (records). Returns (records, single)."""
    if len(values) == 1 and values[0].lstrip()[:1] in ("{", "["):
        try:
            parsed = json.loads(values[0])
        except ValueError as exc:
            raise CliError(f"the record is not valid JSON: {exc}") from None
        if isinstance(parsed, dict):
            return [parsed], True
        if isinstance(parsed, list) and parsed and all(isinstance(r, dict) for r in parsed):
            return parsed, False
        raise CliError("give one JSON object (a record) or a non-empty JSON array of objects (records)")
    record: dict[str, Any] = {}
    for pair in values:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"{pair!r}: give the record as feature=value pairs, or as one JSON object")
        record[key] = value
    if not record:
        raise CliError("no record: give feature=value pairs, or one JSON object")
    return [record], True


def _last_path() -> Any:
    return running.home() / LAST_FILE


def remember(target: Target, ids: list[str]) -> None:
    path = _last_path()
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    known[target.where] = ids
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(known, indent=2) + "\n")


def last_prediction(target: Target) -> str:
    try:
        ids = json.loads(_last_path().read_text()).get(target.where) or []
    except (OSError, ValueError):
        ids = []
    if not ids:
        raise CliError(f"no last prediction for {target.where}: run `evergreen predict` first, or give a prediction id")
    return str(ids[-1])


# ----------------------------------------------------------------------------- commands


def render_predictions(body: dict[str, Any]) -> None:
    out = output.console()
    out.print(f"[bold]{escape(str(body.get('model')))}[/bold] v{body.get('model_version')} answered:")
    table = Table("Prediction id", "Prediction", "Probabilities", "Flags")
    for p in body.get("predictions") or []:
        probabilities = ", ".join(f"{escape(str(k))} {float(v):.3f}" for k, v in (p.get("probabilities") or {}).items())
        flags = "; ".join(escape(str(f)) for f in p.get("flags") or [])
        table.add_row(escape(p["prediction_id"]), escape(str(p["prediction"])), probabilities, flags)
    out.print(table)
    if body.get("ignored_fields"):
        out.print(f"ignored fields (not in the model's contract): {escape(', '.join(map(str, body['ignored_fields'])))}")


def predict(ctx: typer.Context,
            record: Annotated[list[str], typer.Argument(help="feature=value pairs, or one JSON object (a record) or array (records).")],
            model: Annotated[str | None, typer.Option("--model", "-m", help="The model; default: the stack's ModelName.")] = None,
            request_key: Annotated[str | None, typer.Option(help="What a canary routes by (a user id, say).")] = None,
            json_: JsonFlag = False) -> None:
    """Ask the champion (or, in a canary, the challenger for its share) for a prediction."""
    target = target_of(ctx)
    records, single = parse_records(record)
    payload: dict[str, Any] = {"record": records[0]} if single else {"records": records}
    if model:
        payload["model"] = model
    if request_key:
        payload["request_key"] = request_key
    body = answer_or_fail("/predict", *call(target, "/predict", payload))
    remember(target, [p["prediction_id"] for p in body.get("predictions") or []])
    output.show(body, json_, render_predictions)


def feedback(ctx: typer.Context,
             prediction_id: Annotated[str, typer.Argument(help="The prediction's id, or `last` for the last one `evergreen predict` got.")],
             label: Annotated[str, typer.Argument(help="The true label (a class, or a number for a regressor).")],
             json_: JsonFlag = False) -> None:
    """Send the ground truth for a prediction; the monitor computes live quality from these labels."""
    target = target_of(ctx)
    pid = last_prediction(target) if prediction_id == LAST else prediction_id
    body = answer_or_fail("/feedback", *call(target, "/feedback", {"prediction_id": pid, "label": label}))
    if json_:
        output.emit_json(body)
        return
    out = output.console()
    for result in body.get("results") or []:
        if result.get("status") != "recorded":
            raise CliError(f"prediction {result['prediction_id']}: {result.get('status')}")
        quality = result.get("quality")
        said = {1: "right", 0: "wrong"}.get(quality, f"of quality {quality}") if quality is not None else "not scored"
        more = " (the same label again: unchanged)" if result.get("duplicate") else " (replaces the earlier label)" if result.get("replaced") else ""
        out.print(f"label {escape(repr(label))} recorded for prediction {escape(result['prediction_id'])}: "
                  f"the prediction was {escape(str(said))}{more}")
