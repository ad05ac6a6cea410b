"""Lambda: invocations run the real handler (``InProcessLambda``), here or in a worker process.

Gap (FACTS, "Lambda tasks without docker"): moto's Lambda only echoes. ``load_handler`` and
``invoke_handler`` import and call a handler as the Python runtime does, here and in the worker
processes of evergreen_cli.local.lambda_processes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Metrics

from evergreen_cli.local.shims.patch import Patch, restore_env
from evergreen_cli.local.template import FunctionSpec


class EnvironmentConflict(RuntimeError):
    """Two functions set one environment variable to different values."""


@dataclass(frozen=True)
class Invocation:
    """One in-process Lambda invocation, for narration and tests."""

    function: str  # logical id
    function_name: str
    request_id: str
    started_at: float
    duration_s: float
    error_type: str | None = None
    error_message: str | None = None


class LambdaContext:
    """The attributes of the Python runtime's context object that handlers use."""

    def __init__(self, function_name: str, arn: str, memory_mb: int, timeout_s: int, request_id: str):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = int(memory_mb)
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{request_id.replace('-', '')}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + int(timeout_s)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LambdaRuntimeError(Exception):
    """An error the Lambda runtime itself reports (``Runtime.ImportModuleError``, ``Runtime.MarshalError``)."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


def lambda_error(exc: BaseException, request_id: str) -> dict[str, Any]:
    """The payload the Python runtime returns for an unhandled exception."""
    return {
        "errorMessage": str(exc),
        "errorType": getattr(exc, "error_type", type(exc).__name__),
        "requestId": request_id,
        "stackTrace": traceback.format_list(  # the handler's frames, not this module's
            [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]),
    }


def load_handler(spec: FunctionSpec) -> tuple[str, Callable[[Any, Any], Any]]:
    """(module name, handler) of a function: its module imported from its code directory under a
    name of its own (two functions' app.py never collide), with the directory on sys.path while it
    imports (sibling modules of app.py, as in /var/task)."""
    module_path, attr = spec.handler.rsplit(".", 1)
    relative = module_path.replace(".", "/")
    file = spec.code_dir / f"{relative}.py"
    if not file.exists():
        file = spec.code_dir / relative / "__init__.py"
    module_name = f"_evergreen_local_{spec.logical_id}_{relative.replace('/', '_')}"
    module_spec = importlib.util.spec_from_file_location(module_name, file)
    if module_spec is None or module_spec.loader is None or not file.exists():
        raise ImportError(f"{spec.logical_id}: no module for handler {spec.handler} in {spec.code_dir}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    sys.path.insert(0, str(spec.code_dir))
    try:
        module_spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(module_name, None)
        if isinstance(exc, ImportError):
            raise LambdaRuntimeError("Runtime.ImportModuleError", f"Unable to import module '{module_path}': {exc}") from exc
        raise
    finally:
        sys.path.remove(str(spec.code_dir))
    return module_name, getattr(module, attr)


def invoke_handler(handler: Callable[[], Callable[[Any, Any], Any]], context: LambdaContext,
                   event: Any) -> tuple[bool, Any]:
    """Call the handler `handler()` returns as the runtime does: ``(True, result)``, or ``(False, the
    runtime's error payload)`` for an import error, an exception or a result JSON cannot hold."""
    try:
        result = handler()(event, context)
        try:
            json.dumps(result)
        except (TypeError, ValueError) as exc:
            raise LambdaRuntimeError("Runtime.MarshalError", f"Unable to marshal response: {exc}") from None
        return True, result
    except Exception as exc:  # noqa: BLE001 - every handler error becomes Lambda's error payload
        return False, lambda_error(exc, context.aws_request_id)
    finally:
        if os.environ.get("POWERTOOLS_METRICS_DISABLED") == "true":
            # Powertools (3.x) keeps a disabled Metrics' values, shared by every instance in the process,
            # and prints them at the 100th value whatever the setting: each invocation leaves none behind
            Metrics().clear_metrics()


class InProcessLambda(Patch):
    """Run the real handler when moto invokes a Lambda function.

    Gap (FACTS, "Lambda tasks without docker"): both ``lambda:invoke`` and plain
    Lambda ARNs in ASL end in ``LambdaSimpleBackend.invoke``, which only echoes.
    This replaces that method. A raised exception becomes the runtime's error
    payload with ``x-amz-function-error: Unhandled``, so the interpreter's
    Retry/Catch see ``Error`` = the exception's type and ``Cause`` = the JSON.

    ``functions`` maps Lambda function *names* to their local code. Functions
    not in it keep moto's behaviour. Handlers read the environment at import and
    Map iterations run in threads sharing ``os.environ``, so the union of every
    function's Environment is applied once (``env_overrides`` win); two
    functions disagreeing on a variable is an ``EnvironmentConflict``.

    ``processes`` (evergreen_cli.local.lambda_processes) runs the functions it names in
    worker processes instead: a Map's trials then use every core, as concurrent
    Lambda invocations each get their own execution environment.
    """

    name = "invoke"

    def __init__(self, functions: Mapping[str, FunctionSpec], lambda_client: Any,
                 env_overrides: Mapping[str, str] | None = None, processes: Any = None):
        super().__init__()
        self.processes = processes  # evergreen_cli.local.lambda_processes.LambdaProcesses; None: every call here
        from moto.awslambda_simple.models import LambdaSimpleBackend

        self.owner = LambdaSimpleBackend
        self.functions = dict(functions)
        self._client = lambda_client
        self._env_overrides = dict(env_overrides or {})
        self._configs: dict[str, dict[str, Any]] = {}
        self._handlers: dict[str, Callable[[Any, Any], Any]] = {}
        self._modules: list[str] = []
        self._paths: list[str] = []
        self._saved_env: dict[str, str | None] = {}
        self._import_lock = threading.Lock()
        self._record_lock = threading.Lock()
        self._invocations: list[Invocation] = []

    @property
    def invocations(self) -> list[Invocation]:
        with self._record_lock:
            return list(self._invocations)

    # -- environment
    @staticmethod
    def env_text(value: Any) -> str:
        """A variable as Lambda holds it: text. Gap (found here): moto keeps the int of a ``Number``
        parameter or of a number in a mapping (``!FindInMap [MonitorSchedule, ..., Seconds]``) where
        CloudFormation passes the string."""
        if isinstance(value, bool):
            return str(value).lower()
        return value if isinstance(value, str) else str(value)

    def merged_environment(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        owner: dict[str, str] = {}
        for name, config in self._configs.items():
            for key, value in (config.get("Environment") or {}).get("Variables", {}).items():
                if key in self._env_overrides:
                    continue
                value = self.env_text(value)
                if key in merged and merged[key] != value:
                    raise EnvironmentConflict(
                        f"{key} is {merged[key]!r} in {owner[key]} but {value!r} in {name}: in-process "
                        "handlers share one os.environ, so give the variable one value (or two names)")
                merged[key], owner[key] = value, name
        return {**merged, **self._env_overrides}

    def install(self) -> InProcessLambda:
        self._configs = {n: self._client.get_function_configuration(FunctionName=n) for n in self.functions}
        environment = self.merged_environment()
        for key, value in environment.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value
        for spec in self.functions.values():  # layers: on sys.path, after the venv (FACTS)
            for layer in map(str, spec.layer_dirs):
                if layer not in sys.path:
                    sys.path.append(layer)
                    self._paths.append(layer)
        super().install()
        return self

    def uninstall(self) -> None:
        super().uninstall()
        restore_env(self._saved_env)
        for module in self._modules:  # the next stack has other names in its environment
            sys.modules.pop(module, None)
        self._modules.clear()
        self._handlers.clear()
        for path in self._paths:
            if path in sys.path:
                sys.path.remove(path)
        self._paths.clear()

    # -- handlers
    def handler_for(self, function_name: str) -> Callable[[Any, Any], Any]:
        """Import (once, thread-safely) the handler of a function, under a module name of its own."""
        handler = self._handlers.get(function_name)
        if handler is not None:
            return handler
        with self._import_lock:
            if function_name in self._handlers:
                return self._handlers[function_name]
            module_name, handler = load_handler(self.functions[function_name])
            self._modules.append(module_name)
            self._handlers[function_name] = handler
            return handler

    def call(self, function_name: str, event: Any) -> tuple[bool, Any]:
        """Run one invocation, here or in a worker process (``processes``); ``(ok, result or error
        payload)``. Records it."""
        spec = self.functions[function_name]
        config = self._configs[function_name]
        request_id = str(uuid.uuid4())
        context = (function_name, config["FunctionArn"], config.get("MemorySize", 128), config.get("Timeout", 3),
                   request_id)
        started, clock = time.time(), time.perf_counter()
        if self.processes is not None and spec.logical_id in self.processes.functions:
            ok, result = self.processes.call(spec, context, event)
        else:
            ok, result = invoke_handler(lambda: self.handler_for(function_name), LambdaContext(*context), event)
        record = Invocation(spec.logical_id, function_name, request_id, started, time.perf_counter() - clock,
                            None if ok else result["errorType"], None if ok else result["errorMessage"])
        with self._record_lock:
            self._invocations.append(record)
        return ok, result

    def _replacement(self) -> Callable[..., Any]:
        shim, original = self, self._original

        def invoke(backend: Any, function_name: str, qualifier: str | None, body: Any,
                   headers: Any, response_headers: Any) -> bytes | str | None:
            name = backend.get_function(function_name, qualifier).function_name
            if name not in shim.functions:
                return original(backend, function_name, qualifier, body, headers, response_headers)
            if isinstance(body, bytes):
                body = body.decode("utf-8")
            ok, result = shim.call(name, json.loads(body) if body else {})
            if not ok:
                response_headers["x-amz-function-error"] = "Unhandled"
            payload = json.dumps(result).encode("utf-8")
            response_headers["Content-Length"] = str(len(payload))
            return payload

        return invoke
