"""evergreen_cli.local.lambda_processes: invocations in worker processes answer as in-process ones do."""

from __future__ import annotations

import os
import textwrap

import pytest

from evergreen_cli.local.lambda_processes import LambdaProcesses
from evergreen_cli.local.shims.lambda_ import LambdaContext, invoke_handler, load_handler
from evergreen_cli.local.template import FunctionSpec

APP = textwrap.dedent('''
    import os

    def handler(event, context):
        if event.get("raise"):
            raise ValueError(f"bad event {event['raise']}")
        if event.get("exit"):
            os._exit(3)
        return {"pid": os.getpid(), "seen": os.environ.get("SEEN"), "memory": context.memory_limit_in_mb,
                "request": context.aws_request_id}
''')


@pytest.fixture(scope="module")
def function(tmp_path_factory):
    code = tmp_path_factory.mktemp("fn")
    (code / "app.py").write_text(APP)
    return FunctionSpec(logical_id="EchoFunction", code_dir=code, handler="app.handler")


def context(request_id: str = "req-1") -> tuple:
    return ("echo", "arn:aws:lambda:us-east-1:123456789012:function:echo", 2048, 30, request_id)


def test_a_worker_answers_with_the_environment_it_was_given_in_a_process_of_its_own(function):
    processes = LambdaProcesses(["EchoFunction"], {**os.environ, "SEEN": "yes"}, workers=1)
    try:
        ok, result = processes.call(function, context(), {})
        assert ok and result["pid"] != os.getpid() and result["seen"] == "yes"
        assert result["memory"] == 2048 and result["request"] == "req-1"
        assert processes.call(function, context(), {})[1]["pid"] == result["pid"]  # warm: the same worker
        # an exception is the runtime's error payload, as in-process
        ok, error = processes.call(function, context("req-2"), {"raise": "x"})
        _, here = load_handler(function)
        assert (ok, error["errorType"], error["errorMessage"]) == (False, "ValueError", "bad event x")
        assert invoke_handler(lambda: here, LambdaContext(*context("req-2")), {"raise": "x"})[1]["errorMessage"] == \
            error["errorMessage"]
        # a worker that dies fails its invocation, with the function named, as Lambda reports it
        ok, error = processes.call(function, context("req-3"), {"exit": True})
        assert not ok and error["errorType"] == "Runtime.ExitError" and "EchoFunction" in error["errorMessage"]
        ok, result = processes.call(function, context("req-4"), {})  # and a new worker takes the next one
        assert ok and result["request"] == "req-4"
    finally:
        processes.close()
