"""DynamoDB: one request at a time (``SerialDynamoDB``), as the service answers each atomically."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from evergreen_cli.local.shims.patch import Patch


class SerialDynamoDB(Patch):
    """Serialise moto's DynamoDB requests.

    Gap (found here): moto's tables are plain dicts, and a Query or Scan walks
    them (``Table.all_items``) while another thread's PutItem may add to them:
    ``RuntimeError: dictionary changed size during iteration``. Map iterations
    run in threads, so a Train reading the run's trials (its GB-seconds budget)
    beside another's record crashed now and then. DynamoDB itself never fails
    a read for a concurrent write; one lock around each request gives that.
    """

    name = "call_action"

    def __init__(self) -> None:
        super().__init__()
        from moto.dynamodb.responses import DynamoHandler

        self.owner = DynamoHandler
        self._lock = threading.RLock()

    def _replacement(self) -> Callable[..., Any]:
        original, lock = self._original, self._lock

        def call_action(handler: Any) -> Any:
            with lock:
                return original(handler)

        return call_action
