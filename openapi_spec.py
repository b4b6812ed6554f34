"""The OpenAPI 3 description of the REST API that flask_deploy.py serves at /openapi.json.

Kept apart from the routes so the document reads as one piece; the limits it
quotes come from config.py, and tests/test_flask_app.py checks that every
documented path, status and field is what the app really answers.
"""
import config
from preprocessing import PREPROCESS_MODES

_ERROR = {"$ref": "#/components/responses/Error"}


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
        "required": ["prediction", "confidence", "probabilities", "top_k", "preprocess", "model_version"],
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
                        "400": _ERROR, "405": _ERROR, "413": _ERROR, "415": _ERROR, "500": _ERROR,
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
        },
        "components": {
            "schemas": {
                "Prediction": prediction,
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string", "example": "invalid_image"},
                                   "message": {"type": "string"}}}}},
            },
            "responses": {
                "Error": {"description": "What was wrong, as a machine code and a sentence: 400 bad "
                                         "image/JSON/shape, 404/405 wrong URL or method, 413 over a "
                                         "size limit, 415 unsupported Content-Type.",
                          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        },
    }
