"""The template's REST API, served locally in front of the in-process handlers.

moto cannot create the SAM API Gateway resources (FACTS: "Ignored or
unsupported"), so ``prepare_for_moto`` drops them and this module stands in:
it reads the ``Api`` events of the SAM template (paths, methods, API key
requirement, stage), builds the API Gateway REST *proxy* event a request would
produce, and invokes the function through moto's Lambda API (so the
in-process dispatcher runs and records it). Errors look as API Gateway's do:
an undeclared route is 403 "Missing Authentication Token", a missing or wrong
API key 403 "Forbidden", a failed function 502 "Internal server error". With an
``AWS_IAM`` authorizer a SigV4 ``Authorization`` header is required, but its
signature is not verified locally. Outside the template's routes, ``serve_api`` also serves the
report pages under /ui/ (evergreen_cli.local.ui).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from evergreen_cli.local.ui import ReportPages

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
IMPLICIT_API = "ServerlessRestApi"


@dataclass(frozen=True)
class Route:
    function: str  # logical id
    path: str  # as declared, e.g. /predict or /items/{id}
    method: str  # POST, ..., or ANY
    api: str  # logical id of the AWS::Serverless::Api
    stage: str
    api_key_required: bool
    iam_auth: bool = False  # AWS_IAM authorizer: SigV4 required (not verified locally)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters if this route takes the request, else ``None``."""
        if self.method not in ("ANY", method):
            return None
        pattern = re.sub(r"\\\{(\w+)\\\+\\\}", r"(?P<\1>.+)", re.escape(self.path))
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", pattern)
        found = re.fullmatch(pattern, path)
        return found.groupdict() if found else None


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def routes(sam: dict[str, Any], resolve: Callable[[Any], Any] = lambda value: value) -> list[Route]:
    """Every ``Type: Api`` event of every function in the SAM template.

    ``resolve`` evaluates intrinsics in the settings read (e.g. an ``Fn::If`` on a
    template condition choosing the auth); ``LocalStack.resolve`` does it as moto did.
    """
    resources = sam.get("Resources", {})
    global_auth = sam.get("Globals", {}).get("Api", {}).get("Auth", {})
    found = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in (resource.get("Properties", {}).get("Events") or {}).values():
            if event.get("Type") != "Api":
                continue
            props = event.get("Properties", {})
            rest_api = props.get("RestApiId", {"Ref": IMPLICIT_API})
            api_id = rest_api["Ref"] if isinstance(rest_api, dict) else rest_api
            api_props = resources.get(api_id, {}).get("Properties", {})
            auth, api_auth = props.get("Auth", {}), api_props.get("Auth", {})
            key_required = _first(*(resolve(a.get("ApiKeyRequired")) for a in (auth, api_auth, global_auth)))
            authorizer = _first(resolve(auth.get("Authorizer")), resolve(api_auth.get("DefaultAuthorizer")),
                                resolve(global_auth.get("DefaultAuthorizer")))
            stage = resolve(api_props.get("StageName", "Prod"))
            found.append(Route(logical_id, props["Path"], props["Method"].upper(), api_id, str(stage),
                               str(key_required).lower() == "true", authorizer == "AWS_IAM"))
    return found


def _header(headers: dict[str, str], name: str, default: Any = None) -> Any:
    return next((v for k, v in headers.items() if k.lower() == name), default)


def _error(status: int, message: str, error_type: str) -> tuple[int, dict[str, str], str]:
    return status, {"Content-Type": "application/json", "x-amzn-ErrorType": error_type}, json.dumps({"message": message})


class LocalApi:
    """API Gateway (REST, Lambda proxy) for a ``LocalStack``'s template."""

    def __init__(self, stack: Any):
        self.stack = stack
        self.routes = routes(stack.sam, stack.resolve)
        self._lambda = stack.client("lambda")

    def _find(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            # The stage prefix is optional locally: /v1/predict and /predict both work.
            candidates = [path[len(route.stage) + 1:]] if path.startswith(f"/{route.stage}/") else []
            for candidate in [*candidates, path]:
                params = route.match(method, candidate)
                if params is not None:
                    return route, params
        return None

    def event(self, route: Route, method: str, path: str, path_params: dict[str, str],
              query: dict[str, list[str]], headers: dict[str, str], body: str | None,
              source_ip: str = "127.0.0.1") -> dict[str, Any]:
        """The REST API proxy event API Gateway would send the function."""
        now = time.time()
        api_id = hashlib.sha256(route.api.encode()).hexdigest()[:10]
        api_key = _header(headers, "x-api-key")
        access_key = re.search(r"Credential=([^/,\s]+)", _header(headers, "authorization", "")) if route.iam_auth else None
        return {
            "resource": route.path,
            "path": path,
            "httpMethod": method,
            "headers": dict(headers) or None,
            "multiValueHeaders": {k: [v] for k, v in headers.items()} or None,
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": dict(query) or None,
            "pathParameters": path_params or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": hashlib.sha256(route.path.encode()).hexdigest()[:6],
                "resourcePath": route.path,
                "httpMethod": method,
                "extendedRequestId": uuid.uuid4().hex[:16],
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "path": f"/{route.stage}{path}",
                "accountId": "123456789012",
                "protocol": "HTTP/1.1",
                "stage": route.stage,
                "domainPrefix": api_id,
                "requestTimeEpoch": int(now * 1000),
                "requestId": str(uuid.uuid4()),
                "identity": {
                    "cognitoIdentityPoolId": None, "accountId": None, "cognitoIdentityId": None,
                    "caller": None, "sourceIp": source_ip, "principalOrgId": None,
                    "accessKey": access_key.group(1) if access_key else None,
                    "cognitoAuthenticationType": None, "cognitoAuthenticationProvider": None,
                    "userArn": None, "userAgent": _header(headers, "user-agent"),
                    "user": None,
                    "apiKey": api_key if route.api_key_required else None,
                    "apiKeyId": "localkey01" if route.api_key_required else None,
                },
                "domainName": f"{api_id}.execute-api.{self.stack.region}.amazonaws.com",
                "apiId": api_id,
            },
            "body": body,
            "isBase64Encoded": False,
        }

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: str | None, source_ip: str = "127.0.0.1") -> tuple[int, dict[str, str], str]:
        """One request -> ``(status, headers, body)``, as API Gateway would answer it."""
        found = self._find(method.upper(), path)
        if found is None:
            return _error(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
        route, path_params = found
        if route.iam_auth and not _header(headers, "authorization", "").startswith("AWS4-HMAC-SHA256 "):
            return _error(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
        if route.api_key_required:
            if _header(headers, "x-api-key") != self.stack.api_key:
                return _error(403, "Forbidden", "ForbiddenException")
        event = self.event(route, method.upper(), path, path_params, query, headers, body, source_ip)
        answer = self._lambda.invoke(FunctionName=self.stack.function_name(route.function),
                                     Payload=json.dumps(event).encode())
        payload = answer["Payload"].read()
        if answer.get("FunctionError"):
            return _error(502, "Internal server error", "InternalServerErrorException")
        try:
            response = json.loads(payload)
            status = int(response["statusCode"])
        except (ValueError, KeyError, TypeError):  # not a proxy response: API Gateway says 502 too
            return _error(502, "Internal server error", "InternalServerErrorException")
        out_headers = {k: str(v) for k, v in (response.get("headers") or {}).items()}
        out_headers.update({k: str(v[-1]) for k, v in (response.get("multiValueHeaders") or {}).items() if v})
        out_body = response.get("body") or ""
        if response.get("isBase64Encoded"):
            out_body = base64.b64decode(out_body).decode("utf-8", "replace")
        return status, out_headers, out_body


_DEFAULT = object()


def invoke_api(stack: Any, method: str, path: str, body: dict[str, Any] | str | None = None,
               headers: dict[str, str] | None = None, *, api_key: Any = _DEFAULT) -> tuple[int, dict[str, Any]]:
    """Call a route of the template's API in-process; ``(status, JSON body)``.

    The stack's local API key is sent unless ``headers`` carries ``x-api-key``
    or ``api_key=None``.
    """
    headers = dict(headers or {})
    key = stack.api_key if api_key is _DEFAULT else api_key
    if key is not None and not any(k.lower() == "x-api-key" for k in headers):
        headers["x-api-key"] = key
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    split = urlsplit(path)
    api = getattr(stack, "_local_api", None) or LocalApi(stack)
    stack._local_api = api
    status, _, text = api.handle(method, split.path, parse_qs(split.query), headers, body)
    try:
        parsed = json.loads(text) if text else {}
    except ValueError:
        parsed = {"body": text}
    return status, parsed if isinstance(parsed, dict) else {"body": parsed}


class _Handler(BaseHTTPRequestHandler):
    api: LocalApi
    ui: ReportPages  # /ui/: the report pages, outside the template's routes
    verbose = False
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        split = urlsplit(self.path)
        if length > MAX_BODY:
            status, headers, text = _error(413, "Request Too Long", "RequestTooLongException")
            self.close_connection = True
        elif self.ui.takes(split.path):
            self.rfile.read(length)
            status, headers, text = self.ui.handle(self.command, split.path, parse_qs(split.query))
        else:
            raw = self.rfile.read(length) if length else b""
            status, headers, text = self.api.handle(
                self.command, split.path, parse_qs(split.query), dict(self.headers.items()),
                raw.decode("utf-8", "replace") if raw else None, self.client_address[0])
        data = text.encode("utf-8")
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        if self.verbose:
            super().log_message(format, *args)


def serve_api(stack: Any, port: int = 8080, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Serve the template's API over HTTP on ``host:port`` (127.0.0.1 only by default) in a thread,
    and the report pages at /ui/ (evergreen_cli.local.ui).

    Stop it with ``server.shutdown(); server.server_close()``. ``server.url`` is its base URL.
    """
    handler = type("LocalApiHandler", (_Handler,), {"api": LocalApi(stack), "ui": ReportPages(stack),
                                                    "verbose": stack.verbose})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    server.url = f"http://{host}:{server.server_address[1]}"  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, name="evergreen-local-api", daemon=True).start()
    return server
