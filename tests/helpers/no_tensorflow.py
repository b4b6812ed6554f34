"""Serve a LiteRT export where importing TensorFlow or Keras fails, as in a deployment without them.

    python no_tensorflow.py MODEL.tflite IMAGE.png

The last stdout line is JSON: whether the Keras backend was refused, the
predictions for IMAGE, and which of tensorflow/keras ended up loaded.
"""
import importlib.abc
import json
import sys


class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras"):
            raise ImportError(f"{name} is not installed here")


sys.meta_path.insert(0, Blocked())
from utils import Predictor  # noqa: E402

try:
    Predictor(backend="keras")
    keras_refused = False
except ImportError:
    keras_refused = True
with open(sys.argv[2], "rb") as image:
    results = Predictor(backend="litert", model_path=sys.argv[1]).predict_images([image.read()])
print(json.dumps({"keras_refused": keras_refused, "results": results,
                  "loaded": sorted(m for m in ("tensorflow", "keras") if m in sys.modules)}))
