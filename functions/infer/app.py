"""InferenceFunction: POST /predict and POST /feedback behind API Gateway (REST, proxy).

Thin by design: parse the body, call one evergreen.serving function, map its errors to responses.
Config and clients are made once per execution environment (at import, in the init phase); the
champion (and a challenger in shadow or canary rollout, evergreen.serving.routing) is cached in
`CACHE` and re-read from the registry at most every CHAMPION_TTL_SECONDS (default 30);
PRELOAD_CHAMPION=true loads DEFAULT_MODEL's at import. /feedback stores
labels only: live quality is computed from them by the monitor, not published per request.
/predict counts the predictions flagged as implausible (outside what training saw) in
ImplausiblePredictions, beside PredictionCount, when the champion has a contract to check against.
Nothing here imports scikit-learn (tests/functions/test_infer.py checks sys.modules in a fresh process).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from evergreen.serving import champion, errors, feedback, predict, requests
from evergreen.storage import Stores

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "inference"))
copy_config_to_registered_loggers(source_logger=logger, include={"evergreen"})
metrics = Metrics()  # namespace: POWERTOOLS_METRICS_NAMESPACE
warnings.filterwarnings("ignore", message="No application metrics to publish")  # /feedback and errors publish none
app = APIGatewayRestResolver()

STORES = Stores.from_env()
DEFAULT_MODEL = os.environ["DEFAULT_MODEL"]
METRICS_NAMESPACE = os.environ["METRICS_NAMESPACE"]


def _emit_count(name: str, value: float, dimensions: Mapping[str, str]) -> None:
    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=METRICS_NAMESPACE) as metric:
        for key, dim in dimensions.items():
            metric.add_dimension(name=key, value=dim)


CACHE = champion.ModelCache(
    registry=STORES.registry,
    s3=STORES.s3,
    bucket=STORES.artifacts_bucket,
    ttl_seconds=float(os.environ.get("CHAMPION_TTL_SECONDS", champion.DEFAULT_CHAMPION_TTL_SECONDS)),
    emit_metric=_emit_count,
)

if os.environ.get("PRELOAD_CHAMPION", "").lower() in ("1", "true", "yes"):
    # Load the default model during init rather than in the first request (a miss is cached for the TTL).
    try:
        CACHE.get(DEFAULT_MODEL)
        CACHE.challenger(DEFAULT_MODEL)  # a challenger in rollout, if any (never raises)
    except errors.ServingError as exc:
        logger.warning("champion not preloaded", extra={"reason": str(exc)})


def _body() -> dict[str, Any]:
    event = app.current_event
    return requests.parse_json_body(event.body, base64_encoded=bool(event.is_base64_encoded))


@app.post("/predict")
def post_predict() -> dict[str, Any]:
    started = time.perf_counter()
    request = requests.parse_predict_request(_body(), DEFAULT_MODEL)
    outcome = predict.predict(request, CACHE, STORES.predictions)
    metrics.add_dimension(name="Model", value=outcome.body["model"])
    metrics.add_metric(name="PredictionCount", unit=MetricUnit.Count, value=len(outcome.items))
    if outcome.implausible is not None:  # None: no contract, nothing was checked
        metrics.add_metric(name="ImplausiblePredictions", unit=MetricUnit.Count, value=outcome.implausible)
    metrics.add_metric(name="ModelLatency", unit=MetricUnit.Milliseconds, value=outcome.model_seconds * 1000)
    metrics.add_metric(name="PredictLatency", unit=MetricUnit.Milliseconds, value=(time.perf_counter() - started) * 1000)
    return outcome.body


@app.post("/feedback")
def post_feedback() -> Response | dict[str, Any]:
    items = requests.parse_feedback_request(_body())
    body = feedback.record_feedback(items, STORES.predictions)
    if feedback.only_unknown(body):
        return Response(status_code=404, content_type=content_types.APPLICATION_JSON,
                        body={"message": "unknown prediction_id: no prediction with that id (or it expired)", **body})
    return body


@app.exception_handler(errors.ServingError)
def _serving_error(exc: errors.ServingError) -> Response:
    if exc.status >= 500:
        logger.warning("cannot serve", extra={"reason": str(exc)})
    return Response(status_code=exc.status, content_type=content_types.APPLICATION_JSON, body={"message": str(exc)})


@app.exception_handler(ServiceError)
def _service_error(exc: ServiceError) -> Response:  # Powertools' own (e.g. 404 for an unknown route)
    return Response(status_code=exc.status_code, content_type=content_types.APPLICATION_JSON, body={"message": exc.msg})


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response:
    logger.exception("unhandled error")  # the trace goes to the log, never to the caller
    request_id = app.lambda_context.aws_request_id if getattr(app, "lambda_context", None) else None
    return Response(status_code=500, content_type=content_types.APPLICATION_JSON,
                    body={"message": "internal error", "request_id": request_id})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
