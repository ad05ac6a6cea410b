"""Invocations of the compute-bound functions in worker processes, as on Lambda.

Lambda gives each concurrent invocation an execution environment of its own, so a Map of trials
fits on as many CPUs as it has iterations. In one Python process the iterations moto runs in
threads share one interpreter lock, and scikit-learn's fits of small data hold it most of the time:
more threads than one bought nothing (benchmarks/bench_automl.py times the pipeline this way). Here a pool of
spawned worker processes (warm, like Lambda's environments, one per core by default) runs the
invocations of the functions named; each worker reaches the stack's moto server over HTTP
(AWS_ENDPOINT_URL), as a deployed function reaches AWS.

The workers take the environment the handlers see at the pool's start (the functions' variables,
credentials, region, the endpoint). A test that changes os.environ or patches a module afterwards
reaches in-process handlers only: the stack runs every function in-process unless asked.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from evergreen_cli.local.template import FunctionSpec

# the Map's trials: the one state that runs many invocations at once, each of them compute-bound
DEFAULT_FUNCTIONS = ("TrainFunction", "RefitFunction", "ExportFunction")

_handlers: dict[str, Callable[[Any, Any], Any]] = {}  # a worker's imported handlers, by logical id


class LambdaProcesses:
    def __init__(self, functions: Iterable[str], environment: Mapping[str, str], workers: int | None = None):
        self.functions = frozenset(functions)
        self.workers = workers or os.cpu_count() or 1
        self._environment, self._path = dict(environment), list(sys.path)
        self._lock = threading.Lock()
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start_worker, initargs=(self._environment, self._path))

    def call(self, spec: FunctionSpec, context: tuple, event: Any) -> tuple[bool, Any]:
        """One invocation in a worker: ``(ok, result or the runtime's error payload)``, as
        shims.lambda_.invoke_handler returns it. A worker that dies (out of memory, killed) fails the
        invocation as Lambda's runtime would report it, and the pool is started again (Lambda
        replaces a dead environment); invocations running beside it in the pool fail too."""
        pool = self._pool
        try:
            return pool.submit(_invoke, spec, context, event).result()
        except BrokenProcessPool as exc:
            with self._lock:
                if self._pool is pool:
                    self._pool = self._new_pool()
            return False, {"errorMessage": f"the worker process running {spec.logical_id} exited: {exc}",
                           "errorType": "Runtime.ExitError", "requestId": context[-1], "stackTrace": []}

    def close(self) -> None:
        with self._lock:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _start_worker(environment: dict[str, str], path: list[str]) -> None:
    os.environ.clear()
    os.environ.update(environment)
    sys.path[:] = path


def _invoke(spec: FunctionSpec, context: tuple, event: Any) -> tuple[bool, Any]:
    from evergreen_cli.local.shims.lambda_ import LambdaContext, invoke_handler, load_handler

    def handler() -> Callable[[Any, Any], Any]:
        if spec.logical_id not in _handlers:
            _handlers[spec.logical_id] = load_handler(spec)[1]
        return _handlers[spec.logical_id]

    return invoke_handler(handler, LambdaContext(*context), event)
