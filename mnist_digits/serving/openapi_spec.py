"""The OpenAPI 3 description of the REST API that flask_deploy.py serves at /openapi.json.

Kept apart from the routes so the document reads as one piece; the limits it
quotes come from config.py, and tests/serving/test_openapi_spec.py and tests/test_flask_deploy.py check that every
documented path, status and field is what the app really answers.
"""
import config
from mnist_digits.imaging.preprocessing import PREPROCESS_MODES

_ERROR = {"$ref": "#/components/responses/Error"}
_V2_ERROR = {"description": "What was wrong, in one sentence.", "content": {"application/json": {"schema": {
    "type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}}}}


def _json(description, schema=None):
    return {"description": description, "content": {"application/json": {"schema": schema or {"type": "object"}}}}


def _get(summary, responses):
    return {"get": {"summary": summary, "responses": responses}}


def _operations_paths(version):
    """The probes, /metrics, /docs and the Open Inference Protocol (KServe V2) routes."""
    model = f"/v2/models/{config.V2_MODEL_NAME}"
    not_ready = _json("Not ready: loading, failed its warm-up, or shutting down.", {
        "type": "object", "required": ["status", "reason"],
        "properties": {"status": {"type": "string", "enum": ["not_ready"]}, "reason": {"type": "string"}}})
    tensor = {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
        "name": {"type": "string"}, "datatype": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
        "data": {"type": "array", "items": {}, "description": "Flat or nested; absent when sent as binary."},
        "parameters": {"type": "object"}}}
    v2_ready = {"200": _json("Ready."), "503": _V2_ERROR}
    return {
        "/health/live": _get("Liveness: the process answers", {"200": _json("Alive.")}),
        "/health/ready": _get("Readiness: the model has loaded and answered its warm-up", {
            "200": _json("Ready.", {"type": "object", "required": ["status", "model_version"], "properties": {
                "status": {"type": "string", "enum": ["ready"]}, "model_version": {"type": "string"}}}),
            "503": not_ready}),
        "/metrics": _get("Prometheus metrics, summed over every worker process", {
            "200": {"description": "Prometheus text format 0.0.4.",
                    "content": {"text/plain": {"schema": {"type": "string"}}}}}),
        "/docs": _get("This document as a Swagger UI page (served locally, works offline)", {
            "200": {"description": "HTML page.", "content": {"text/html": {"schema": {"type": "string"}}}}}),
        "/v2": _get("Open Inference Protocol: server metadata", {"200": _json("Name, version, extensions.")}),
        "/v2/health/live": _get("Open Inference Protocol: liveness", {"200": _json("Alive.")}),
        "/v2/health/ready": _get("Open Inference Protocol: readiness", v2_ready),
        model: _get("Open Inference Protocol: model metadata (inputs, outputs, datatypes, shapes)",
                    {"200": _json(f"Model {config.V2_MODEL_NAME}, version {version}.")}),
        f"{model}/ready": _get("Open Inference Protocol: model readiness", v2_ready),
        f"{model}/infer": {"post": {
            "summary": "Open Inference Protocol: inference",
            "description": "One input: `input` FP32 [N, 28, 28, 1] or [N, 784], pixels in [0, 1] as the "
                           "model takes them (white digit on black, no preprocessing), or `image` BYTES [N] "
                           "of encoded images (base64 in JSON), preprocessed like /predict (request "
                           "parameter `preprocess`). Answers `probabilities` FP32 [N, 10] and `prediction` "
                           "INT64 [N], and echoes `id`. The binary tensor data extension "
                           "(Inference-Header-Content-Length) works as in Triton.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["inputs"], "properties": {
                    "id": {"type": "string"}, "parameters": {"type": "object"},
                    "inputs": {"type": "array", "minItems": 1, "maxItems": 1, "items": tensor},
                    "outputs": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
                        "name": {"type": "string", "enum": ["probabilities", "prediction"]},
                        "parameters": {"type": "object"}}}}}}}}},
            "responses": {"200": _json("The outputs.", {"type": "object", "required": ["model_name", "outputs"],
                                                        "properties": {"id": {"type": "string"},
                                                                       "model_name": {"type": "string"},
                                                                       "model_version": {"type": "string"},
                                                                       "outputs": {"type": "array", "items": tensor}}}),
                          "400": _V2_ERROR},
        }},
    }


def _pixels_schema(description):
    row = {"type": "array", "minItems": config.IMAGE_SIZE, "maxItems": config.IMAGE_SIZE,
           "items": {"type": "number", "minimum": 0, "maximum": 255}}
    return {"type": "array", "minItems": config.IMAGE_SIZE, "maxItems": config.IMAGE_SIZE,
            "items": row, "description": description}


def build_spec(version="unknown"):
    """The OpenAPI 3.0 document (a dict), stamped with the served model's version."""
    preprocess = {"type": "string", "enum": list(PREPROCESS_MODES), "default": "enhanced",
                  "description": "`enhanced` (default) crops, centres and cleans the digit the way "
                                 "MNIST was made; `basic` only resizes the whole picture."}
    base64_image = {"type": "string", "description": "A PNG/JPEG/... file in base64; a "
                                                     "`data:image/png;base64,` prefix is allowed."}
    pixels = _pixels_schema(f"{config.IMAGE_SIZE}x{config.IMAGE_SIZE} grayscale values, 0-255 "
                            "or 0-1, white digit on black or dark digit on white.")
    prediction = {
        "type": "object",
        "required": ["prediction", "confidence", "probabilities", "top_k", "is_digit", "digit_score",
                     "preprocess", "model_version"],
        "properties": {
            "prediction": {"type": "integer", "minimum": 0, "maximum": 9},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1,
                           "description": "Calibrated probability of `prediction`."},
            "probabilities": {"type": "array", "items": {"type": "number"},
                              "minItems": config.NUM_CLASSES, "maxItems": config.NUM_CLASSES,
                              "description": "Calibrated probability of each digit 0-9."},
            "top_k": {"type": "array", "minItems": config.TOP_K, "maxItems": config.TOP_K,
                      "items": {"type": "object", "required": ["digit", "probability"],
                                "properties": {"digit": {"type": "integer"},
                                               "probability": {"type": "number"}}}},
            "is_digit": {"type": "boolean",
                         "description": "Whether the image looks like a digit at all (`digit_score` >= the "
                                        "model's threshold). When false, `prediction` is still the best guess."},
            "digit_score": {"type": "number", "minimum": 0, "maximum": 1,
                            "description": "How much the image looks like a digit (the digit gate's output)."},
            "preprocess": {"type": "string", "enum": list(PREPROCESS_MODES)},
            "model_version": {"type": "string", "description": "md5 prefix of the served model file."},
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Handwritten digit classifier",
            "version": version,
            "description": "Classifies one handwritten digit (0-9) per image with an MNIST CNN. "
                           f"Limits: {config.MAX_REQUEST_BYTES} bytes per request, "
                           f"{config.MAX_IMAGE_PIXELS} pixels per image, "
                           f"{config.MAX_BATCH_SIZE} images per batch.",
        },
        "paths": {
            "/predict": {
                "post": {
                    "summary": "Classify one image, or a batch of them",
                    "parameters": [{"name": "preprocess", "in": "query", "required": False,
                                    "schema": preprocess}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {"schema": {
                                "type": "object", "required": ["image"],
                                "properties": {"image": {"type": "string", "format": "binary"},
                                               "preprocess": preprocess}}},
                            "image/*": {"schema": {"type": "string", "format": "binary"}},
                            "application/json": {"schema": {"oneOf": [
                                {"type": "object", "required": ["image"],
                                 "properties": {"image": base64_image, "preprocess": preprocess}},
                                {"type": "object", "required": ["pixels"],
                                 "properties": {"pixels": pixels, "preprocess": preprocess}},
                                {"type": "object", "required": ["instances"],
                                 "properties": {"instances": {
                                     "type": "array", "minItems": 1, "maxItems": config.MAX_BATCH_SIZE,
                                     "items": {"oneOf": [base64_image, pixels]}},
                                     "preprocess": preprocess}},
                            ]}},
                        },
                    },
                    "responses": {
                        "200": {"description": "The prediction (a batch answers `predictions`).",
                                "content": {"application/json": {"schema": {"oneOf": [
                                    {"$ref": "#/components/schemas/Prediction"},
                                    {"type": "object", "required": ["predictions"],
                                     "properties": {"predictions": {
                                         "type": "array",
                                         "items": {"$ref": "#/components/schemas/Prediction"}}}},
                                ]}}}},
                        "400": _ERROR, "401": _ERROR, "405": _ERROR, "413": _ERROR, "415": _ERROR, "500": _ERROR,
                    },
                },
            },
            "/health": {
                "get": {
                    "summary": "Liveness: the model is loaded and answering",
                    "responses": {"200": {"description": "Ready.", "content": {"application/json": {
                        "schema": {"type": "object", "required": ["status", "model_version"],
                                   "properties": {"status": {"type": "string", "enum": ["ok"]},
                                                  "model_version": {"type": "string"}}}}}}},
                },
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3 document.",
                                          "content": {"application/json": {"schema": {"type": "object"}}}}},
                },
            },
            **_operations_paths(version),
        },
        # Keys are opt-in (API_KEYS): with none configured, no credentials are needed ({}).
        "security": [{}, {"bearer": []}, {"apiKey": []}],
        "components": {
            "schemas": {
                "Prediction": prediction,
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string", "example": "invalid_image"},
                                   "message": {"type": "string"},
                                   "index": {"type": "integer", "minimum": 0,
                                             "description": "In a batch (`instances`), the item at fault."}}}}},
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "A key from API_KEYS."},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
            "responses": {
                "Error": {"description": "What was wrong, as a machine code and a sentence: 400 bad "
                                         "image/JSON/shape, 401 no valid API key (when API_KEYS is set), "
                                         "404/405 wrong URL or method, 413 over a "
                                         "size limit, 415 unsupported Content-Type.",
                          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        },
    }
