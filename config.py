"""The one place for paths, hyperparameters and service limits.

Every script imports its settings from here. Values a deployment may need to
change (where the model lives, which backend runs it, ports, limits) can be
overridden with environment variables of the same name.
"""
import os
from pathlib import Path


def _env(name, default, cast=str):
    value = os.environ.get(name)
    return default if value in (None, "") else cast(value)


# --- Paths -------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent
DATA_DIR = ROOT / "data"
MNIST_DIR = Path(_env("MNIST_DIR", DATA_DIR / "mnist"))
USPS_PATH = DATA_DIR / "usps" / "data.npz"
# The fonts non_digits.py draws glyphs in, committed with their licences so that no
# upgrade of another package changes the digit gate's training data.
FONT_DIR = DATA_DIR / "fonts"
# Handwriting fonts (npm Fontsource packages, OFL/Apache; provenance in its README.md): letters
# written by hand, a non-digit family the confidence study measures (non_digits.py).
HANDWRITING_FONT_DIR = FONT_DIR / "handwriting"
# Copied from matplotlib's and Gradio's packages (provenance in data/fonts/README.md).
DEJAVU_FONT_DIR = FONT_DIR / "dejavu"
STIX_FONT_DIR = FONT_DIR / "stix"
COMPUTER_MODERN_FONT_DIR = FONT_DIR / "computer-modern"
KATEX_FONT_DIR = FONT_DIR / "katex"
# Real handwriting (CC BY 4.0; provenance in each README.txt, licence in data/LICENCE-real-handwriting.txt):
# digits by other writers and pens, and things people draw that are not digits. Loaded and split
# by mnist_digits/datasets/real_handwriting.py.
REAL_DIGITS_PATH = DATA_DIR / "digits_real" / "unipen_digits" / "data.npz"
REAL_NON_DIGIT_PATHS = {name: DATA_DIR / "non_digits_real" / name / "data.npz"
                        for name in ("unipen_latin_letters", "unipen_symbols", "quickdraw_6cat")}
MODELS_DIR = ROOT / "models"
REPORTS_DIR = ROOT / "reports"
EXAMPLES_DIR = ROOT / "examples"
BENCHMARK_RESULTS_DIR = ROOT / "benchmarks" / "results"

KERAS_MODEL_PATH = MODELS_DIR / "mnist_cnn.h5"
TFLITE_MODEL_PATH = MODELS_DIR / "mnist_cnn.tflite"
TFLITE_INT8_MODEL_PATH = MODELS_DIR / "mnist_cnn_int8.tflite"
METRICS_FILENAME = "metrics.json"
# Smoke runs (train_model.py --quick / --limit) write here, never over the committed model.
RUNS_DIR = ROOT / "runs"

# Every servable file, under the name benchmarks and docs use: (runtime, file).
# `keras` runs the .h5 (CPU or GPU); `litert` runs a .tflite file on the CPU.
MODEL_VARIANTS = {
    "keras": ("keras", KERAS_MODEL_PATH),
    "litert": ("litert", TFLITE_MODEL_PATH),
    "litert-int8": ("litert", TFLITE_INT8_MODEL_PATH),   # MODEL_BACKEND=litert MODEL_PATH=<this>
}
# The file each runtime (MODEL_BACKEND) serves unless MODEL_PATH says otherwise.
BACKEND_MODEL_FILES = {name: path for name, (backend, path) in MODEL_VARIANTS.items() if name == backend}
BACKEND_SUFFIXES = {"keras": ".h5", "litert": ".tflite"}
MODEL_BACKEND = _env("MODEL_BACKEND", "keras").lower()
MODEL_PATH = Path(_env("MODEL_PATH", BACKEND_MODEL_FILES.get(MODEL_BACKEND, KERAS_MODEL_PATH)))
# The metrics file that vouches for the model: beside it unless set.
METRICS_PATH = Path(_env("METRICS_PATH", MODEL_PATH.parent / METRICS_FILENAME))

# --- Data --------------------------------------------------------------------
# md5 of the *uncompressed* IDX content, as published with MNIST.
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}
# The files are committed, so nothing is downloaded by default. To fetch them
# into an empty MNIST_DIR, list base URLs here (space separated), e.g.
#   MNIST_MIRRORS="https://ossci-datasets.s3.amazonaws.com/mnist/"
MNIST_MIRRORS = _env("MNIST_MIRRORS", "").split()
DOWNLOAD_TIMEOUT_S = _env("DOWNLOAD_TIMEOUT_S", 30.0, float)

# --- The split of the real handwriting ----------------------------------------------
# Whole writer sites (UNIPEN `provider`) validate and test; every other site trains. Validation
# chooses the recipe and the threshold; the test sites are only reported. ibm and gmd both
# write slashed zeros: one on each side. Letters follow the same sites (their sites kai, lav,
# mot and sie wrote no digits: they train). Symbols are the whole non-digit source kept out of
# training and of every choice. Quick, Draw! splits by category; apple is a digit look-alike.
REAL_DIGIT_SITES = {"validation": ("gmd", "aga", "art"), "test": ("ibm", "uqb", "imp")}
HELD_OUT_NON_DIGIT_SOURCE = "unipen_symbols"
QUICKDRAW_CATEGORIES = {"validation": ("diamond",), "test": ("apple",)}
# Look-alikes (O, l, Z, S, "}", an apple...) are never trained as non-digits: a person may mean a
# digit. (Trained with the uniform target only, they cost MNIST validation accuracy and helped nothing.)

# --- Model and training --------------------------------------------------------
IMAGE_SIZE = 28
NUM_CLASSES = 10
# The model's two named outputs: `probabilities` (N, 10) and `digit_score` (N, 1). The runners
# read both by name and hand the predictor one row per image: the 10 probabilities, then the score.
OUTPUT_NAMES = ("probabilities", "digit_score")
NUM_OUTPUTS = NUM_CLASSES + 1
SEED = 42
EPOCHS = 14                   # sized for the 30-minute budget on 2 cores: ~100 s an epoch (docs/training.md)
BATCH_SIZE = 128
LEARNING_RATE = 2e-3          # peak of the cosine schedule (Adam)
WEIGHT_DECAY = 1e-4
VALIDATION_SIZE = 5000        # held out of the 60k training images
# Augmentation: the distortions real handwriting shows that MNIST lacks.
AUG_ROTATION_DEG = 10
AUG_SHIFT = 0.10              # fraction of the image
AUG_ZOOM = 0.10
# Pixel noise (standard deviation, pixels in [0, 1]): without it the digit score of a picture near
# the threshold moved across it for a JPEG's or int8's rounding (docs/digit_gate.md).
AUG_NOISE = 0.05
# The digit verdict, trained with the network (train_model.py, gate_data.py). A non-digit teaches
# the uniform answer on `probabilities` with this weight (outlier exposure; a digit weighs 1).
OE_WEIGHT = 0.5
MAX_VALIDATION_REFUSED = 0.005   # the threshold refuses at most this share of the validation digits
# Drawn examples beside MNIST and the real handwriting, per split (gate_data.py): MNIST digits
# redrawn as users send them, digits typed in fonts, MNIST 0s with a slash through them (a
# convention no training writer site uses), and non_digits.py's training family.
SYNTHETIC_EXAMPLES = {
    "train": {"user_digits": 6000, "font_digits": 1000, "slashed_zeros": 1500, "non_digits": 12000},
    "validation": {"user_digits": 2000, "font_digits": 300, "slashed_zeros": 300, "non_digits": 3000},
}

# --- Serving -------------------------------------------------------------------
HOST = _env("HOST", "127.0.0.1")
PORT = _env("PORT", 5000, int)
GRADIO_PORT = _env("GRADIO_SERVER_PORT", 7860, int)
GRADIO_HOST = _env("GRADIO_SERVER_NAME", HOST)   # Gradio's own variable names
MAX_REQUEST_BYTES = _env("MAX_REQUEST_BYTES", 8 * 1024 * 1024, int)
MAX_IMAGE_PIXELS = _env("MAX_IMAGE_PIXELS", 4096 * 4096, int)   # decompression-bomb guard
MAX_BATCH_SIZE = _env("MAX_BATCH_SIZE", 256, int)
# The litert backend: CPU threads for a batch (single images always use one), and
# the chunks it runs batches in. Per-image cost is flat from ~4 images up, and
# chunks of 32 keep its buffers at ~5 MB instead of ~40 MB for 256 float images.
LITERT_THREADS = _env("LITERT_THREADS", min(2, os.cpu_count() or 1), int)
LITERT_BATCH_CHUNK = _env("LITERT_BATCH_CHUNK", 32, int)
TOP_K = 3
# Reading a whole number (mnist_digits/reading, POST /read): at most this many digits,
# pictures at most READ_MAX_ASPECT times wider than tall (or taller than wide), and at
# most READ_MAX_MARKS separate ink marks before dots and specks are dropped; anything
# beyond is refused at once (a page of text, a texture, noise).
MAX_DIGITS = _env("MAX_DIGITS", 32, int)
READ_MAX_ASPECT = _env("READ_MAX_ASPECT", 40.0, float)
READ_MAX_MARKS = _env("READ_MAX_MARKS", 512, int)
# Concurrent requests in one process share a model call (batching.py), up to this many images.
BATCH_MAX_IMAGES = _env("BATCH_MAX_IMAGES", 32, int)
# The REST API's production server (flask_deploy.py, mnist_digits/serving/server.py): `granian` (POSIX:
# worker processes, each loads the model once) or `waitress` (threads in one process, any OS).
WSGI_SERVER = _env("WSGI_SERVER", "granian").lower()
WSGI_WORKERS = _env("WSGI_WORKERS", 2, int)       # granian worker processes, each loads the model once
WSGI_THREADS = _env("WSGI_THREADS", 8, int)       # threads per process running the Flask app
# CPU threads one worker's TensorFlow model may use (TF_NUM_INTRAOP_THREADS): the cores shared out.
WSGI_MODEL_THREADS = _env("WSGI_MODEL_THREADS", max(1, (os.cpu_count() or 1) // WSGI_WORKERS), int)
# Slow clients: a connection must send its headers, then its body, within these
# (else it is closed; a late body gets a 408). Neither holds a Python thread meanwhile.
HTTP_HEADER_TIMEOUT_S = _env("HTTP_HEADER_TIMEOUT_S", 10.0, float)
HTTP_BODY_TIMEOUT_S = _env("HTTP_BODY_TIMEOUT_S", 10.0, float)
# Connections one worker holds at once (idle keep-alive and stalled ones included);
# more wait in the listen backlog.
HTTP_MAX_CONNECTIONS = _env("HTTP_MAX_CONNECTIONS", 1024, int)
# SIGTERM: serve on SHUTDOWN_DELAY_S (the readiness probe already answers "shutting
# down"), then stop accepting, finish what is in flight, and kill what is still
# busy SHUTDOWN_GRACE_S later (whole seconds, 1-1800).
SHUTDOWN_DELAY_S = _env("SHUTDOWN_DELAY_S", 0.0, float)
SHUTDOWN_GRACE_S = _env("SHUTDOWN_GRACE_S", 30, int)

# --- Operating the REST API (observability.py, probes.py, access.py, kserve_v2.py) ---
LOG_LEVEL = _env("LOG_LEVEL", "INFO").upper()
LOG_FORMAT = _env("LOG_FORMAT", "json").lower()   # json: one object a line, for collectors; text: for people
# prometheus_client's own variable: where worker processes keep their metric files.
# Empty: flask_deploy.main() makes a fresh temporary one for each server run.
PROMETHEUS_MULTIPROC_DIR = _env("PROMETHEUS_MULTIPROC_DIR", "")
# Opt-in: comma-separated keys; every route but the probes and /metrics then needs one.
API_KEYS = tuple(key.strip() for key in _env("API_KEYS", "").split(",") if key.strip())
# Opt-in: comma-separated origins allowed to call the API from a browser ("*" for any).
CORS_ORIGINS = tuple(origin.strip() for origin in _env("CORS_ORIGINS", "").split(",") if origin.strip())
V2_MODEL_NAME = "mnist"   # the model's name in the Open Inference Protocol (/v2/models/mnist)
