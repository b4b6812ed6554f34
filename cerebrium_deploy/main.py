"""Cerebrium entrypoint (default runtime): POST .../predict calls predict(**json_body),
POST .../read calls read(**json_body).

    {"image": "<base64 PNG/JPEG or data: URL>", "preprocess": "enhanced"}
    {"instances": ["<base64>", [[...28x28 pixels...]], ...]}

The answer is the same JSON object Flask's /predict gives (a batch gives
{"predictions": [...]}), or for read() the one Flask's /read gives: a whole
handwritten number and its digits (a batch gives {"readings": [...]}). Bad input gives {"error": {"code", "message"},
"status_code": 400}: Cerebrium turns `status_code` into the HTTP status.

The shared modules and the model are copied next to this file by
`python cerebrium_deploy/build.py`; config.py resolves every path from its own
location, so the model is found whatever the working directory is.
"""
import logging
import os

# Modules, not functions: Cerebrium serves every public function of this file
# as an endpoint, so only predict() and read() may be ones.
try:
    from mnist_digits import errors
    from mnist_digits.imaging import payloads
    import utils
except ModuleNotFoundError as exc:
    if os.path.exists(os.path.join(os.path.dirname(__file__), "utils.py")):
        raise
    raise ModuleNotFoundError(f"{exc}: the shared modules are not here yet; "
                              "run `python cerebrium_deploy/build.py` first") from exc

log = logging.getLogger("cerebrium_deploy")


def _installed_backend():
    """The backend follows what cerebrium.toml installs. The CPU app installs LiteRT,
    which serves the same model without TensorFlow (a smaller image, a faster cold
    start, far less memory); a GPU app installs TensorFlow instead (docs/cerebrium.md)."""
    try:
        import ai_edge_litert  # noqa: F401
        return "litert"
    except ImportError:
        return "keras"


# Loaded once per replica, when Cerebrium imports this file; every request reuses it.
# MODEL_BACKEND in the app's environment, if set, overrides the choice.
predictor = utils.get_predictor(backend=os.environ.get("MODEL_BACKEND") or _installed_backend())
print(f"model {predictor.version} loaded ({predictor.backend} backend, {predictor.model_path.name})", flush=True)


def _answer(work, single):
    """work() -> its JSON; a DigitError -> its error JSON and status; a bug -> a clean 500."""
    try:
        return work()
    except errors.DigitError as exc:
        if single:
            exc.index = None  # one image is not an item of a batch: nothing to name
        return {**exc.to_dict(), "status_code": exc.status}
    except Exception:  # a bug on our side: log it, answer a clean 500 instead of a traceback
        log.exception("request failed")
        return {"error": {"code": "internal_error", "message": "the model could not answer this request"},
                "status_code": 500}


def predict(image: str | None = None, instances: list | None = None, preprocess: str = "enhanced"):
    """One image (base64) or a batch (`instances`) -> the prediction JSON; never raises."""
    def work():
        images, is_batch, mode = payloads.parse_json_payload(
            {"image": image, "instances": instances, "preprocess": preprocess})
        results = predictor.predict_images(images, mode)
        return {"predictions": results} if is_batch else results[0]
    return _answer(work, instances is None)


def read(image: str | None = None, instances: list | None = None):
    """A picture of a whole number (base64) or a batch of them -> /read's JSON; never raises."""
    def work():
        images, is_batch, _ = payloads.parse_json_payload({"image": image, "instances": instances})
        readings = []
        for index, picture in enumerate(images):
            with errors.batch_item(index):
                readings.append(utils.read_number(picture, predictor))
        return {"readings": readings} if is_batch else readings[0]
    return _answer(work, instances is None)
