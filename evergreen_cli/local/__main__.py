"""``python -m evergreen_cli.local up``: Evergreen on moto, for the ``aws`` CLI and ``curl``.

Starts the stack from ``template.yaml`` in a moto server (``--port``), the
template's REST API on 127.0.0.1 (``--api-port``), a background ticker
(scheduled rules whose rate has elapsed fire, then the alarms are evaluated:
moto does neither) and a watcher that prints each execution as it starts, its
states as they finish and its outcome (evergreen_cli.local.watcher); prints the
commands to drive it, and runs until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from evergreen_cli.target import running_target
from evergreen_cli.local import running
from evergreen_cli.local.api import routes, serve_api
from evergreen_cli.local.stack import DEFAULT_API_KEY, DUMMY_CREDENTIALS, LocalStack, find_root
from evergreen_cli.local.watcher import Watcher

log = logging.getLogger("evergreen_cli.local")
WATCH_INTERVAL = 1.0  # seconds between the watcher's looks at the executions


def _parameters(pairs: list[str]) -> dict[str, str]:
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"--parameter {pair!r}: use KEY=VALUE")
        parsed[key] = value
    return parsed


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evergreen_cli.local", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="run the stack on moto until Ctrl-C")
    up.add_argument("--port", type=int, default=4566, help="moto server port for the aws CLI (default: 4566)")
    up.add_argument("--api-port", type=int, default=8080, help="local REST API port (default: 8080)")
    up.add_argument("--tick-interval", "--alarm-interval", dest="tick_interval", type=float, default=10.0,
                    metavar="SECONDS", help="every SECONDS, fire the scheduled rules that are due, then evaluate "
                                            "the CloudWatch alarms (default: 10)")
    up.add_argument("--parameter", "-p", action="append", default=[], metavar="KEY=VALUE",
                    help="a template parameter, e.g. -p MonitorScheduleMinutes=1 (repeatable)")
    up.add_argument("--api-key", default=DEFAULT_API_KEY, help=f"the local API key (default: {DEFAULT_API_KEY})")
    up.add_argument("--verbose", action="store_true", help="handlers log at their template level; moto logs too")
    up.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="worker processes for the compute-bound functions (the Map's trials, refit, export), as "
                         "Lambda runs each invocation apart; 0: every handler in this process (default: one per core)")
    up.set_defaults(run=cmd_up)
    demo = commands.add_parser("demo", help="run the whole loop once and tell the story (make demo)")
    from evergreen_cli.local import demo as demo_module

    demo_module.add_arguments(demo)
    demo.set_defaults(run=demo_module.run)
    for command in (up, demo):
        command.add_argument("--root", type=Path, help="the project root, holding template.yaml (default: the "
                                                       "working directory or its nearest parent holding one)")
    return parser


def instructions(stack: LocalStack, api_url: str) -> str:
    """The commands a user runs against a started stack."""
    endpoint = f"http://localhost:{stack.server_port}"
    aws = f"aws --endpoint-url {endpoint}"
    uploads = [stack.resources[b] for b, props in (stack.prepared.buckets if stack.prepared else {}).items()
               if "EventBridgeConfiguration" in (props.get("NotificationConfiguration") or {})]
    bucket = stack.outputs.get("DataBucketName") or (uploads or ["<DataBucket>"])[0]
    model = stack.parameters.get("ModelName") or stack.sam.get("Parameters", {}).get("ModelName", {}).get("Default", "<model>")
    machine = stack.outputs.get("StateMachineArn") or (stack.state_machine_arns or ["<StateMachineArn>"])[0]
    lines = [
        f"Evergreen is running on moto ({stack.stack_name}); Ctrl-C stops it and forgets everything.",
        "",
        "In another shell:",
        f"  export AWS_ACCESS_KEY_ID={DUMMY_CREDENTIALS['AWS_ACCESS_KEY_ID']} "
        f"AWS_SECRET_ACCESS_KEY={DUMMY_CREDENTIALS['AWS_SECRET_ACCESS_KEY']} AWS_DEFAULT_REGION={stack.region}",
        f"  {aws} s3 cp <spec.yaml> s3://{bucket}/specs/{model}.yaml",
        f"  {aws} s3 cp data.csv s3://{bucket}/uploads/{model}/data.csv      # starts a pipeline run",
        f"  {aws} stepfunctions list-executions --state-machine-arn {machine}",
        f"  {aws} stepfunctions describe-execution --execution-arn <executionArn>",
    ]
    if "BatchScoringStateMachineArn" in stack.outputs:
        lines.insert(-2, f"  {aws} s3 cp rows.csv s3://{bucket}/score/{model}/rows.csv    "
                         f"# batch scoring: results in scored/{model}/rows.csv/")
    if "ModelAdminFunctionName" in stack.outputs:
        payload = json.dumps({"action": "status", "model": model})
        lines.append(f"  echo {shlex.quote(payload)} > request.json   # or rollback / promote / end_rollout / pin / "
                     "unpin, with a reason")
        lines.append(f"  {aws} lambda invoke --function-name {stack.outputs['ModelAdminFunctionName']} "
                     "--payload fileb://request.json answer.json")
    for route in routes(stack.sam, stack.resolve):
        if route.method == "POST":
            key = f" -H {shlex.quote('x-api-key: ' + stack.api_key)}" if route.api_key_required else ""
            signed = "   # SigV4-signed (AWS_IAM auth; the signature is not checked locally)" if route.iam_auth else ""
            body = '{"record": {...}}' if route.path.endswith("/predict") else "{...}"
            lines.append(f"  curl -X POST {api_url}{route.path}{key} -d '{body}'{signed}")
    schedules = stack.schedules.rules() if stack.schedules else []
    if schedules:
        lines += ["", "Scheduled rules (fired by the background ticker; then the alarms are evaluated):"]
        lines += [f"  {r['Name']}: {r['ScheduleExpression']}" for r in schedules]
    lines += ["", f"Report page (versions and decisions, live quality and drift, alarms, trials, model cards): "
                  f"{api_url}/ui/"]
    lines += ["", f"API key: {stack.api_key}", "Stack outputs:"]
    lines += [f"  {k} = {v}" for k, v in sorted(stack.outputs.items())]
    if stack.dropped:
        lines += ["Not created locally:"]
        lines += [f"  {d.logical_id} ({d.kind}): {d.reason}" for d in stack.dropped if not d.kind.startswith("Property")]
    return "\n".join(lines)


def describe_invocation(invocation: Any) -> list[str]:
    """One scheduled invocation as log lines (the monitor's summary: one line per model)."""
    function = invocation.target_arn.rsplit(":", 1)[-1]
    if invocation.error:
        detail = (invocation.payload or {}).get("errorMessage", "") if isinstance(invocation.payload, dict) else ""
        return [f"[schedule] {function}: {invocation.error} {detail}".rstrip()]
    payload = invocation.payload
    if isinstance(payload, dict) and isinstance(payload.get("models"), list):
        lines = [f"[schedule] {function}: {len(payload['models'])} model(s) with a champion"]
        for m in payload["models"]:
            quality = "n/a" if m.get("quality") is None else f"{m['quality']:.3f}"
            said = "published" if m.get("published") else f"not published: {m.get('reason')}"
            lines.append(f"[monitor] {m['model_name']} v{m['version']}: {m['labels']} labels, quality {quality} ({said})")
            if m.get("rearmed"):
                lines.append(f"[monitor] re-armed {m['rearmed']}")
        for r in payload.get("rollouts") or []:
            lines.append(f"[rollout] {r['model_name']} v{r['challenger_version']} ({r['mode']}): "
                         f"{r['outcome'].replace('_', ' ')}: {r['reason']}")
        return lines
    return [f"[schedule] {function}: {json.dumps(payload, default=str)[:300]}"]


def _tick_forever(stack: LocalStack, interval: float, stop: threading.Event) -> None:
    """Each tick: the scheduled rules that are due (the monitor), then the alarms (which read what it put)."""
    while not stop.wait(interval):
        try:
            for invocation in stack.tick_schedules():
                for line in describe_invocation(invocation):
                    print(line, flush=True)
        except Exception as exc:  # noqa: BLE001 - keep ticking; say why this tick failed
            print(f"[schedule] tick failed: {exc}", file=sys.stderr, flush=True)
        try:
            for t in stack.tick_alarms():
                print(f"[alarm] {t.alarm_name}: {t.previous} -> {t.state} ({t.reason})", flush=True)
        except Exception as exc:  # noqa: BLE001 - keep ticking; say why this tick failed
            print(f"[alarm] evaluation failed: {exc}", file=sys.stderr, flush=True)


def _watch_forever(watcher: Watcher, interval: float, stop: threading.Event) -> None:
    """Each `interval`: the executions' news (a failed poll says why once, not every second)."""
    failed = None
    while not stop.wait(interval):
        try:
            for line in watcher.poll():
                print(line, flush=True)
            failed = None
        except Exception as exc:  # noqa: BLE001 - keep watching; say why this poll failed
            if stop.is_set():  # the stack is stopping under the poll
                return
            if str(exc) != failed:
                print(f"[run] watching the executions failed: {exc}", file=sys.stderr, flush=True)
            failed = str(exc)


def running_stack(stack: LocalStack, api_url: str) -> running.RunningStack:
    """What the CLI needs to find this stack (evergreen_cli.local.running)."""
    return running.RunningStack(pid=os.getpid(), endpoint_url=f"http://127.0.0.1:{stack.server_port}", api_url=api_url,
                                api_key=stack.api_key, region=stack.region, stack_name=stack.stack_name,
                                outputs=dict(stack.outputs))


def cmd_up(args: argparse.Namespace) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with LocalStack(args.root, _parameters(args.parameter), server_port=args.port,
                    api_key=args.api_key, verbose=args.verbose, lambda_processes=args.workers) as stack:
        server = serve_api(stack, args.api_port)
        ticker = threading.Thread(target=_tick_forever, args=(stack, args.tick_interval, stop), daemon=True)
        ticker.start()
        found = running_stack(stack, server.url)  # type: ignore[attr-defined]
        watcher = Watcher(running_target(found), stack.state_machine_arns)
        threading.Thread(target=_watch_forever, args=(watcher, WATCH_INTERVAL, stop), daemon=True).start()
        state = running.write(found)
        print(instructions(stack, server.url), flush=True)  # type: ignore[attr-defined]
        print(f"\nThe evergreen CLI finds this stack through {state} (evergreen models, evergreen watch, ...).",
              flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            running.remove(os.getpid(), state)
            stop.set()
            server.shutdown()
            server.server_close()
            print("\nstopped.", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args: Any = parser.parse_args(argv)
    try:
        args.root = find_root(args.root)
    except FileNotFoundError as exc:
        parser.error(str(exc))
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
