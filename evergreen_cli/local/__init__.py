"""Evergreen's local runtime: the real template and state machine on moto, no AWS account, no docker.

``LocalStack`` creates ``template.yaml`` in moto (after the SAM transform),
lets moto's Step Functions interpreter run ``statemachines/*.asl.json`` and
runs every Lambda handler in this process. ``invoke_api`` / ``serve_api``
stand in for API Gateway. ``python -m evergreen_cli.local up`` runs it all as a
server the ``aws`` CLI and ``curl`` can talk to.

Not for Lambda: it lives beside the product, outside layers/, and only the CLI, the tests, the
benchmarks and scripts/ import it.
"""

from evergreen_cli.local.api import invoke_api, serve_api
from evergreen_cli.local.stack import LocalStack

__all__ = ["LocalStack", "invoke_api", "serve_api"]
