"""The Open Inference Protocol (KServe V2, also Triton's HTTP API), beside the REST API.

    GET  /v2                      server metadata
    GET  /v2/health/live          200 while the process runs
    GET  /v2/health/ready         200 once the model answers (same state as /health/ready)
    GET  /v2/models/mnist         model metadata: inputs, outputs, datatypes, shapes
    GET  /v2/models/mnist/ready
    POST /v2/models/mnist/infer

The model takes one input, either
  "input"  FP32  [N, 28, 28, 1] or [N, 784]: pixels in [0, 1], white digit on black,
           fed to the model as they are (MNIST's own format, no preprocessing), or
  "image"  BYTES [N]: encoded images (PNG, JPEG, ...; base64 strings in JSON), run
           through the same preprocessing as /predict ("preprocess" request parameter),
and answers "probabilities" FP32 [N, 10] (calibrated) and "prediction" INT64 [N].
Tensor data can be flat or nested JSON, or binary (the binary tensor data extension
that tritonclient uses by default). Errors answer {"error": "<sentence>"} with 400.
"""
import json
import struct

import numpy as np
from flask import Blueprint, Response, current_app, request

import config
from mnist_digits.serving import observability
from mnist_digits.serving import probes
from mnist_digits.errors import DigitError, InvalidInput, batch_item
from mnist_digits.imaging.payloads import decode_base64_image
from mnist_digits.imaging.preprocessing import check_mode

HEADER_LENGTH = "Inference-Header-Content-Length"   # the binary extension's split point
PIXELS = config.IMAGE_SIZE * config.IMAGE_SIZE
PIXEL_SHAPES = ([config.IMAGE_SIZE, config.IMAGE_SIZE, 1], [PIXELS])
# is_digit: does the input look like a digit at all (digit_score >= the model's threshold)?
OUTPUTS = {"probabilities": "FP32", "prediction": "INT64", "is_digit": "BOOL", "digit_score": "FP32"}
_NUMPY_TYPES = {"FP32": "<f4", "INT64": "<i8", "BOOL": "?"}
PLATFORMS = {"keras": "tensorflow_keras", "litert": "tflite"}   # the names Triton gives these runtimes


class V2Error(InvalidInput):
    """A request the protocol cannot take; answered {"error": message} with 400."""


# --- Request -------------------------------------------------------------------------------
def parameters_of(item, where):
    """The "parameters" object of the request, a tensor or an output ({} when absent)."""
    parameters = item.get("parameters")
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):  # a list here once reached .get() and answered 500
        raise V2Error(f'{where}: "parameters" must be an object, got {type(parameters).__name__}')
    return parameters


def split_body(body, header_length):
    """(JSON header, binary section) of an infer request."""
    if header_length is None:
        return body, b""
    try:
        size = int(header_length)
    except ValueError:
        raise V2Error(f"{HEADER_LENGTH} must be an integer, got {header_length!r}") from None
    if not 0 < size <= len(body):
        raise V2Error(f"{HEADER_LENGTH} {size} does not fit the {len(body)}-byte body")
    return body[:size], body[size:]


def read_binary(tensor, binary, offset):
    """The bytes of an input sent in the binary section -> (bytes, next offset), or (None, offset)."""
    size = parameters_of(tensor, f"input {tensor.get('name')!r}").get("binary_data_size")
    if size is None:
        return None, offset
    if not isinstance(size, int) or isinstance(size, bool) or size < 0 or offset + size > len(binary):
        raise V2Error(f"input {tensor.get('name')!r}: binary_data_size {size!r} does not fit the binary data")
    return binary[offset:offset + size], offset + size


def batch_size_of(shape, rest_options):
    """N from a shape [N, *rest] whose rest is one of `rest_options`."""
    if (not isinstance(shape, list) or not shape
            or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape)
            or shape[1:] not in rest_options):
        wanted = " or ".join(str(["N", *rest]).replace("'", "") for rest in rest_options)
        raise V2Error(f"shape must be {wanted}, got {shape!r}")
    n = shape[0]
    if not 1 <= n <= config.MAX_BATCH_SIZE:
        raise V2Error(f"the batch size must be 1-{config.MAX_BATCH_SIZE}, got {n}")
    return n


def pixels_from(tensor, raw):
    """An FP32 "input" tensor -> float32 (N, 28, 28, 1) in [0, 1]."""
    if tensor.get("datatype") != "FP32":
        raise V2Error(f"input 'input' must be FP32, got {tensor.get('datatype')!r}")
    n = batch_size_of(tensor.get("shape"), PIXEL_SHAPES)
    if raw is not None:
        if len(raw) != n * PIXELS * 4:
            raise V2Error(f"input 'input': {len(raw)} bytes of binary data, expected {n * PIXELS * 4}")
        values = np.frombuffer(raw, dtype="<f4")
    else:
        try:
            values = np.array(tensor.get("data"))
        except (ValueError, TypeError):  # ragged nesting
            raise V2Error("input 'input': data must be a list of numbers, flat or nested") from None
        if values.dtype.kind not in "iuf":
            raise V2Error("input 'input': data must be a list of numbers, flat or nested")
        if values.size != n * PIXELS:
            raise V2Error(f"input 'input': {values.size} values for a shape holding {n * PIXELS}")
    values = values.astype(np.float32, copy=False).reshape(n, config.IMAGE_SIZE, config.IMAGE_SIZE, 1)
    if not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
        raise V2Error("input 'input': pixels must be finite numbers in [0, 1]")
    return values


def images_from(tensor, raw):
    """A BYTES "image" tensor -> list of encoded images (bytes)."""
    if tensor.get("datatype") != "BYTES":
        raise V2Error(f"input 'image' must be BYTES, got {tensor.get('datatype')!r}")
    n = batch_size_of(tensor.get("shape"), ([],))
    if raw is not None:  # each element: 4-byte little-endian length, then the bytes
        images, offset = [], 0
        while offset + 4 <= len(raw):
            (size,) = struct.unpack_from("<I", raw, offset)
            images.append(raw[offset + 4:offset + 4 + size])
            offset += 4 + size
        if offset != len(raw) or any(not image for image in images):
            raise V2Error("input 'image': malformed binary BYTES data")
    else:
        data = tensor.get("data")
        if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
            raise V2Error("input 'image': data must be a list of base64 strings")
        images = []
        for index, item in enumerate(data):
            with batch_item(index):
                images.append(decode_base64_image(item))
    if len(images) != n:
        raise V2Error(f"input 'image': {len(images)} elements for shape [{n}]")
    return images


def parse_infer_request(body, header_length):
    """-> (request JSON, input name, its decoded value)."""
    header, binary = split_body(body, header_length)
    try:
        req = json.loads(header)
    except (ValueError, RecursionError) as exc:
        raise V2Error(f"the request is not valid JSON ({exc.__class__.__name__})") from None
    if not isinstance(req, dict) or not isinstance(req.get("inputs"), list) or len(req["inputs"]) != 1:
        raise V2Error('the request must be an object with "inputs": [one tensor, "input" or "image"]')
    (tensor,) = req["inputs"]
    if not isinstance(tensor, dict):
        raise V2Error("each input must be an object with name, datatype, shape and data")
    raw, _ = read_binary(tensor, binary, 0)
    if tensor.get("name") == "input":
        return req, "input", pixels_from(tensor, raw)
    if tensor.get("name") == "image":
        return req, "image", images_from(tensor, raw)
    raise V2Error(f"unknown input {tensor.get('name')!r}; this model takes 'input' (FP32) or 'image' (BYTES)")


def requested_outputs(req):
    """-> [(output name, send as binary?)] in the order asked for (all by default)."""
    binary_default = parameters_of(req, "the request").get("binary_data_output") is True
    asked = req.get("outputs")
    if asked is None:
        return [(name, binary_default) for name in OUTPUTS]
    if not isinstance(asked, list) or not all(isinstance(o, dict) for o in asked):
        raise V2Error('"outputs" must be a list of objects with a "name"')
    chosen = []
    for output in asked:
        if output.get("name") not in OUTPUTS:
            raise V2Error(f"unknown output {output.get('name')!r}; this model answers {list(OUTPUTS)}")
        binary = parameters_of(output, f"output {output['name']!r}").get("binary_data", binary_default)
        chosen.append((output["name"], binary is True))
    return chosen


# --- Answer --------------------------------------------------------------------------------
def infer_response(req, version, values, outputs):
    """The response body and headers for {name: numpy array}."""
    tensors, binary = [], []
    for name, as_binary in outputs:
        array = values[name]
        tensor = {"name": name, "datatype": OUTPUTS[name], "shape": list(array.shape)}
        if as_binary:
            data = array.astype(_NUMPY_TYPES[OUTPUTS[name]]).tobytes()
            tensor["parameters"] = {"binary_data_size": len(data)}
            binary.append(data)
        else:
            tensor["data"] = array.reshape(-1).tolist()
        tensors.append(tensor)
    answer = {"model_name": config.V2_MODEL_NAME, "model_version": version, "outputs": tensors}
    if "id" in req:
        answer = {"id": req["id"], **answer}
    header = json.dumps(answer).encode()
    if not binary:
        return Response(header, mimetype="application/json")
    return Response(header + b"".join(binary), mimetype="application/octet-stream",
                    headers={HEADER_LENGTH: str(len(header))})


def model_metadata(predictor):
    return {
        "name": config.V2_MODEL_NAME,
        "versions": [predictor.version],
        "platform": PLATFORMS.get(getattr(predictor, "backend", None), "unknown"),
        "inputs": [
            {"name": "input", "datatype": "FP32", "shape": [-1, config.IMAGE_SIZE, config.IMAGE_SIZE, 1]},
            {"name": "image", "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": [
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, config.NUM_CLASSES]},
            {"name": "prediction", "datatype": "INT64", "shape": [-1]},
            {"name": "is_digit", "datatype": "BOOL", "shape": [-1]},
            {"name": "digit_score", "datatype": "FP32", "shape": [-1]},
        ],
    }


def create_blueprint(predictor):
    v2 = Blueprint("kserve_v2", __name__, url_prefix="/v2")
    _add_health_routes(v2, predictor)
    _add_model_routes(v2, predictor)
    v2.register_error_handler(DigitError, _protocol_error)
    return v2


def _not_ready():
    """503 with probes' reason, so a V2 client sees why, as /health/ready's callers do."""
    return {"error": probes.readiness().reason}, 503


def _add_health_routes(v2, predictor):
    """GET /v2 and the V2 health pair; readiness is the same state as /health/ready."""
    @v2.get("")
    def server_metadata():
        return {"name": "mnist-digits", "version": predictor.version, "extensions": ["binary_tensor_data"]}

    @v2.get("/health/live")
    def live():
        return {"live": True}

    @v2.get("/health/ready")
    def ready():
        return {"ready": True} if probes.readiness().ready else _not_ready()


def _add_model_routes(v2, predictor):
    """The model's metadata, readiness and infer endpoints under /v2/models/<name>."""
    model = f"/models/{config.V2_MODEL_NAME}"
    metadata = model_metadata(predictor)   # fixed for the process: built once, not per request

    @v2.get(model)
    def metadata_route():
        return metadata

    @v2.get(f"{model}/ready")
    def model_ready():
        return {"name": config.V2_MODEL_NAME, "ready": True} if probes.readiness().ready else _not_ready()

    @v2.post(f"{model}/infer")
    def infer():
        return _infer(predictor)


def _infer(predictor):
    """One infer request: parse, run the named input, answer the requested outputs."""
    req, name, value = parse_infer_request(request.get_data(cache=False), request.headers.get(HEADER_LENGTH))
    outputs = requested_outputs(req)
    if name == "input":
        probabilities, scores = predictor.predict_scores(value)
        is_digit = predictor.is_digit(scores)
    else:
        probabilities, scores, is_digit = _run_images(predictor, req, value)
    predictions = probabilities.argmax(axis=1).astype(np.int64)
    observability.note_predictions(predictions.tolist())
    return infer_response(req, predictor.version, {
        "probabilities": probabilities.astype(np.float32), "prediction": predictions,
        "is_digit": is_digit, "digit_score": scores.astype(np.float32)}, outputs)


def _run_images(predictor, req, images):
    """(probabilities, digit scores, is_digit) of encoded images, preprocessed as /predict does."""
    preprocess = parameters_of(req, "the request").get("preprocess")
    results = predictor.predict_images(images, check_mode(preprocess))
    probabilities = np.array([result["probabilities"] for result in results], np.float32)
    scores = np.array([result["digit_score"] for result in results], np.float32)
    is_digit = np.array([result["is_digit"] for result in results])  # the verdict /predict gives
    return probabilities, scores, is_digit


def _protocol_error(exc):
    """Any refusal under /v2 answers the protocol's {"error": sentence} with 400, and counts as an error."""
    observability.note_error(exc.code)
    message = str(exc) if exc.index is None else f"item {exc.index}: {exc}"
    return current_app.json.response({"error": message}), 400
