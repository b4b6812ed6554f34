"""Print, as one JSON line, which model the environment picks (MODEL_BACKEND,
MODEL_PATH, METRICS_PATH): resolve_model() with config's defaults, nothing loaded."""
import json

import config
from utils import resolve_model

backend, model_path, metrics, version = resolve_model()
print(json.dumps({"backend": backend, "model_path": str(model_path), "metrics_path": str(config.METRICS_PATH),
                  "temperature": metrics.get("temperature"), "version": version}))
