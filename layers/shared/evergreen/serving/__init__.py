"""Serve the champion: one module per job, wired together by functions/infer/app.py.

    errors    ServingError and its HTTP statuses (400, 413, 503); how values are named in messages
    requests  the body (size, base64, UTF-8, JSON) and the /predict and /feedback request shapes
    champion  the verified champion (Champion) and the warm per-model cache (ModelCache)
    feeds     request records -> ONNX feeds through evergreen.features (the coercion training uses)
    predict   feeds -> onnxruntime -> response body + prediction log items (evergreen.prediction_log)
    float32   a batch's float32 outputs as the response writes them: each its shortest decimal
    plausibility  per champion, from its data contract: flags for inputs/outputs outside what training saw
    feedback  labels checked against the logged prediction, then stored, one per prediction

    POST /predict   {"model"?: str, "record": {...}} | {"model"?: str, "records": [{...}, ...]}
    ->  {"model", "model_version", "predictions": [{"prediction_id", "prediction", "probabilities"?, "flags"?}],
         "ignored_fields": [...]}
    POST /feedback  {"prediction_id": str, "label": ...} | {"feedback": [{"prediction_id", "label"}, ...]}
    ->  {"accepted": n, "results": [{"prediction_id", "status": "recorded"|"unknown_prediction",
         "quality"?, "abs_error"?, "duplicate"?, "replaced"?}]}

This is the inference cold start and hot path: these modules import numpy, boto3, evergreen's ONNX
runner and evergreen.features only, never scikit-learn (nor pandas, pydantic or yaml).
"""
