"""POST one image to the Flask app built from the environment alone (MODEL_BACKEND,
MODEL_PATH), through its test client.

    python flask_predict.py IMAGE.png

The last stdout line is JSON: the status, the body and the backend config picked.
"""
import io
import json
import sys

import config
from flask_deploy import create_app

client = create_app().test_client()
with open(sys.argv[1], "rb") as image:
    png = image.read()
response = client.post("/predict", data={"image": (io.BytesIO(png), "digit.png")},
                       content_type="multipart/form-data")
print(json.dumps({"status": response.status_code, "body": response.get_json(),
                  "backend": config.MODEL_BACKEND}))
