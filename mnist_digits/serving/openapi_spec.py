"""The OpenAPI 3 description of the REST API that flask_deploy.py serves at /openapi.json.

Kept apart from the routes so the document reads as one piece; the limits it
quotes come from config.py, and tests/serving/test_openapi_spec.py and tests/test_flask_deploy.py check that every
documented path, status and field is what the app really answers.
"""
import config
from mnist_digits.imaging.preprocessing import PREPROCESS_MODES
from mnist_digits.serving.kserve_v2 import OUTPUTS

_ERROR = {"$ref": "#/components/responses/Error"}
# Whole, non-empty base64 quads: every string the pattern allows decodes (the server decodes strictly).
_BASE64 = r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)"
# A request can match the schema and still be refused for what its image shows: no schema can say
# "decodes" or "not blank". These are the codes of such refusals (tests/helpers/api_contract_hooks.py).
CONTENT_REFUSALS = ("invalid_image", "no_digit_found")
READ_CONTENT_REFUSALS = CONTENT_REFUSALS + ("too_many_digits",)   # /read also refuses a crowded picture
_PREDICT_REFUSED = {"description": (
    "Bad input, as a machine code and a sentence: `invalid_input` (malformed JSON, wrong shape, "
    "unknown `preprocess`, ...); `invalid_image`: the bytes are not an image the server can decode "
    "(PNG, JPEG, GIF, BMP, WebP or TIFF); `no_digit_found`: the image is blank, nothing to classify. "
    "The last two can answer a request that matches the schema."),
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_READ_REFUSED = {**_PREDICT_REFUSED, "description": (
    "Bad input, as a machine code and a sentence: as /predict's (`invalid_input`, `invalid_image`, "
    "`no_digit_found`; `preprocess` other than `enhanced` is `invalid_input`), and `too_many_digits`: "
    f"more than {config.MAX_DIGITS} digits or {config.READ_MAX_MARKS} separate marks (a page of text, noise). "
    f"A picture more than {config.READ_MAX_ASPECT:g} times wider than tall (or taller than wide) is "
    "`invalid_image`. All but `invalid_input` can answer a request that matches the schema.")}
_V2_ERROR = {"description": "What was wrong, in one sentence.", "content": {"application/json": {"schema": {
    "type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}}}}


def _json(description, schema=None):
    return {"description": description, "content": {"application/json": {"schema": schema or {"type": "object"}}}}


def _get(summary, responses):
    return {"get": {"summary": summary, "responses": responses}}


_V2_REFUSED = {**_V2_ERROR, "description": (
    "What was wrong, in one sentence. Beside what the schema says, the request must agree with "
    "itself, which no schema can say: `data` holds exactly the values `shape` counts (N x 784), "
    "`binary_data_size` fits the binary section after the JSON, and each `image` decodes to a "
    "picture (PNG, JPEG, ...) that is not blank (a blank one is refused: no digit found).")}


def _v2_infer_request():
    """An infer request the server takes: one "input" (FP32 pixels) or one "image" (BYTES) tensor."""
    binary = {"type": "object", "description": "`binary_data_size`: the tensor is sent in the binary section.",
              "properties": {"binary_data_size": {"type": "integer", "minimum": 0}}}
    # The values come as JSON `data` or in the binary section, which `binary_data_size` measures.
    sent = [{"required": ["data"]}, {"required": ["parameters"], "properties": {
        "parameters": {"required": ["binary_data_size"]}}}]
    number = {"type": "number", "minimum": 0, "maximum": 1}
    nested = [number]   # [N, 784] flat or nested, or [N, 28, 28, 1] flat or nested
    for _ in range(4):
        nested.append({"type": "array", "items": nested[-1]})
    pixels = {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
        "name": {"type": "string", "enum": ["input"]}, "datatype": {"type": "string", "enum": ["FP32"]},
        "shape": {"type": "array", "minItems": 2, "maxItems": 4, "items": {"type": "integer", "minimum": 1},
                  "description": "[N, 28, 28, 1] or [N, 784]"},
        "data": {"anyOf": nested[1:], "description": "Pixels in [0, 1], flat or nested like `shape`."},
        "parameters": binary}, "anyOf": sent}
    images = {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
        "name": {"type": "string", "enum": ["image"]}, "datatype": {"type": "string", "enum": ["BYTES"]},
        "shape": {"type": "array", "minItems": 1, "maxItems": 1,
                  "items": {"type": "integer", "minimum": 1, "maximum": config.MAX_BATCH_SIZE}},
        "data": {"type": "array", "minItems": 1, "maxItems": config.MAX_BATCH_SIZE, "items": {
            "type": "string", "format": "byte", "pattern": f"^{_BASE64}$",
            "description": "An encoded image (PNG, JPEG, ...) in base64."}},
        "parameters": binary}, "anyOf": sent}
    output = {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string", "enum": list(OUTPUTS)},
        "parameters": {"type": "object", "properties": {"binary_data": {"type": "boolean"}}}}}
    return {"type": "object", "required": ["inputs"], "properties": {
        "id": {"type": "string"},
        "parameters": {"type": "object", "properties": {"preprocess": {"type": "string",
                                                                       "enum": list(PREPROCESS_MODES)},
                                                        "binary_data_output": {"type": "boolean"}}},
        "inputs": {"type": "array", "minItems": 1, "maxItems": 1, "items": {"oneOf": [pixels, images]}},
        "outputs": {"type": "array", "items": output}}}


def _operations_paths(version):
    """The probes, /metrics, /docs and the Open Inference Protocol (KServe V2) routes."""
    return {**_probe_paths(), **_v2_paths(version)}


def _probe_paths():
    """What operators and orchestrators call: the Kubernetes-style probes, the metrics, the docs page."""
    not_ready = _json("Not ready: loading, failed its warm-up, or shutting down.", {
        "type": "object", "required": ["status", "reason"],
        "properties": {"status": {"type": "string", "enum": ["not_ready"]}, "reason": {"type": "string"}}})
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
    }


def _v2_paths(version):
    """The Open Inference Protocol's server and model routes (mnist_digits/serving/kserve_v2.py)."""
    model = f"/v2/models/{config.V2_MODEL_NAME}"
    v2_ready = {"200": _json("Ready."), "503": _V2_ERROR}
    return {
        "/v2": _get("Open Inference Protocol: server metadata", {"200": _json("Name, version, extensions.")}),
        "/v2/health/live": _get("Open Inference Protocol: liveness", {"200": _json("Alive.")}),
        "/v2/health/ready": _get("Open Inference Protocol: readiness", v2_ready),
        model: _get("Open Inference Protocol: model metadata (inputs, outputs, datatypes, shapes)",
                    {"200": _json(f"Model {config.V2_MODEL_NAME}, version {version}.")}),
        f"{model}/ready": _get("Open Inference Protocol: model readiness", v2_ready),
        f"{model}/infer": {"post": _v2_infer_operation()},
    }


def _v2_infer_operation():
    """POST /v2/models/<name>/infer: its request is _v2_infer_request(), its answer a list of tensors."""
    tensor = {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
        "name": {"type": "string"}, "datatype": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
        "data": {"type": "array", "items": {}, "description": "Flat or nested; absent when sent as binary."},
        "parameters": {"type": "object"}}}
    return {
        "summary": "Open Inference Protocol: inference",
        "description": "One input: `input` FP32 [N, 28, 28, 1] or [N, 784], pixels in [0, 1] as the "
                       "model takes them (white digit on black, no preprocessing), or `image` BYTES [N] "
                       "of encoded images (base64 in JSON), preprocessed like /predict (request "
                       "parameter `preprocess`). Answers `probabilities` FP32 [N, 10] and `prediction` "
                       "INT64 [N], and echoes `id`. The binary tensor data extension "
                       "(Inference-Header-Content-Length) works as in Triton.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": _v2_infer_request()}}},
        "responses": {"200": _json("The outputs.", {"type": "object", "required": ["model_name", "outputs"],
                                                    "properties": {"id": {"type": "string"},
                                                                   "model_name": {"type": "string"},
                                                                   "model_version": {"type": "string"},
                                                                   "outputs": {"type": "array", "items": tensor}}}),
                      "400": _V2_REFUSED, "413": _ERROR},
    }


def _pixels_schema(description):
    row = {"type": "array", "minItems": config.IMAGE_SIZE, "maxItems": config.IMAGE_SIZE,
           "items": {"type": "number", "minimum": 0, "maximum": 255}}
    return {"type": "array", "minItems": config.IMAGE_SIZE, "maxItems": config.IMAGE_SIZE,
            "items": row, "description": description}


def _one_of_keys(key, schema, preprocess):
    """A /predict (or /read) JSON body carrying `key` and neither of the two other image keys."""
    others = [{"required": [other]} for other in ("image", "pixels", "instances") if other != key]
    return {"type": "object", "required": [key], "not": {"anyOf": others},
            "properties": {key: schema, "preprocess": preprocess}}


def build_spec(version="unknown"):
    """The OpenAPI 3.0 document (a dict), stamped with the served model's version."""
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
            "/predict": {"post": _predict_operation()},
            "/read": {"post": _read_operation()},
            "/health": {"get": _health_operation()},
            "/openapi.json": {"get": _openapi_operation()},
            **_operations_paths(version),
        },
        # Keys are opt-in (API_KEYS): with none configured, no credentials are needed ({}).
        "security": [{}, {"bearer": []}, {"apiKey": []}],
        "components": _components(),
    }


def _preprocess_schema():
    """The `preprocess` choice, taken as a query parameter, a form field or a JSON key."""
    return {"type": "string", "enum": list(PREPROCESS_MODES), "default": "enhanced",
            "description": "`enhanced` (default) crops, centres and cleans the digit the way "
                           "MNIST was made; `basic` only resizes the whole picture."}


def _predict_operation():
    """POST /predict: one image (multipart, raw bytes or JSON) or a batch (`instances`)."""
    preprocess = _preprocess_schema()
    return {
        "summary": "Classify one image, or a batch of them",
        "parameters": [{"name": "preprocess", "in": "query", "required": False,
                        "schema": preprocess}],
        "requestBody": _predict_request_body(preprocess),
        "responses": {
            "200": {"description": "The prediction (a batch answers `predictions`).",
                    "content": {"application/json": {"schema": {"oneOf": [
                        {"$ref": "#/components/schemas/Prediction"},
                        {"type": "object", "required": ["predictions"],
                         "properties": {"predictions": {
                             "type": "array",
                             "items": {"$ref": "#/components/schemas/Prediction"}}}},
                    ]}}}},
            "400": _PREDICT_REFUSED, "401": _ERROR, "405": _ERROR, "413": _ERROR, "415": _ERROR,
            "500": _ERROR,
        },
    }


def _predict_request_body(preprocess):
    """The three ways to send /predict an image; JSON carries exactly one of image, pixels, instances."""
    base64_image = {"type": "string", "pattern": f"^(data:image/[A-Za-z0-9.+-]+;base64,)?{_BASE64}$",
                    "description": "A PNG/JPEG/... file in base64; a `data:image/png;base64,` prefix is allowed."}
    pixels = _pixels_schema(f"{config.IMAGE_SIZE}x{config.IMAGE_SIZE} grayscale values, 0-255 "
                            "or 0-1, white digit on black or dark digit on white.")
    return {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["image"],
                "properties": {"image": {"type": "string", "format": "binary"},
                               "preprocess": preprocess}}},
            "image/*": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {"oneOf": [
                _one_of_keys("image", base64_image, preprocess),
                _one_of_keys("pixels", pixels, preprocess),
                _one_of_keys("instances", {
                    "type": "array", "minItems": 1, "maxItems": config.MAX_BATCH_SIZE,
                    "items": {"oneOf": [base64_image, pixels]}}, preprocess),
            ]}},
        },
    }


def _read_operation():
    """POST /read: a whole handwritten number, its digits found left to right; the same bodies as /predict."""
    preprocess = {"type": "string", "enum": ["enhanced"], "default": "enhanced",
                  "description": "Only `enhanced`: the digits are found on the page first."}
    reading = {"$ref": "#/components/schemas/Reading"}
    return {
        "summary": "Read a whole handwritten number (\"2026\"), or a batch of pictures of numbers",
        "description": "Finds the digits left to right (strokes of one digit joined, dots and specks "
                       "dropped, touching digits cut where the classifier finds them most likely) and "
                       f"classifies each as /predict does. At most {config.MAX_DIGITS} digits. "
                       "docs/reading.md tells how, and how well.",
        "parameters": [{"name": "preprocess", "in": "query", "required": False, "schema": preprocess}],
        "requestBody": _predict_request_body(preprocess),
        "responses": {
            "200": {"description": "The number read (a batch answers `readings`).",
                    "content": {"application/json": {"schema": {"oneOf": [reading, {
                        "type": "object", "required": ["readings"],
                        "properties": {"readings": {"type": "array", "items": reading}}}]}}}},
            "400": _READ_REFUSED, "401": _ERROR, "405": _ERROR, "413": _ERROR, "415": _ERROR, "500": _ERROR,
        },
    }


def _reading_schema():
    """One picture's answer from /read (components/schemas/Reading; its digits inline, so that one
    schema validates it whole)."""
    digit = {"type": "object", "required": ["prediction", "confidence", "probabilities", "is_digit",
                                            "digit_score", "box"], "properties": {
        "prediction": {"type": "integer", "minimum": 0, "maximum": 9},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "probabilities": {"type": "array", "items": {"type": "number"},
                          "minItems": config.NUM_CLASSES, "maxItems": config.NUM_CLASSES},
        "is_digit": {"type": "boolean", "description": "False: this part does not look like a digit."},
        "digit_score": {"type": "number", "minimum": 0, "maximum": 1},
        "box": {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 4, "maxItems": 4,
                "description": "[x, y, width, height] in the sent picture's pixels."}}}
    return {"type": "object", "required": ["number", "is_number", "confidence", "digits", "model_version"],
            "properties": {
                "number": {"type": "string", "pattern": "^[0-9]+$", "example": "2026"},
                "is_number": {"type": "boolean", "description": "False when any part is not a digit."},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1,
                               "description": "The product of the digits' confidences."},
                "digits": {"type": "array", "minItems": 1, "maxItems": config.MAX_DIGITS, "items": digit},
                "model_version": {"type": "string"}}}


def _health_operation():
    return {
        "summary": "Liveness: the model is loaded and answering",
        "responses": {"200": {"description": "Ready.", "content": {"application/json": {
            "schema": {"type": "object", "required": ["status", "model_version"],
                       "properties": {"status": {"type": "string", "enum": ["ok"]},
                                      "model_version": {"type": "string"}}}}}}},
    }


def _openapi_operation():
    return {
        "summary": "This document",
        "responses": {"200": {"description": "OpenAPI 3 document.",
                              "content": {"application/json": {"schema": {"type": "object"}}}}},
    }


def _prediction_schema():
    """One image's answer from /predict (components/schemas/Prediction)."""
    return {
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


def _components():
    """The shared schemas, the two ways to send an API key, and the REST API's error answer."""
    return {
        "schemas": {
            "Prediction": _prediction_schema(),
            "Reading": _reading_schema(),
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
    }
