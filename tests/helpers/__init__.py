"""What several test modules share: image builders, the bad-request table, and
small programs the tests run in a fresh interpreter (files here, run with
sys.executable, never code in strings)."""
import config

# The committed LiteRT exports, by the name the tests give them.
EXPORTS = {"float": config.TFLITE_MODEL_PATH, "int8": config.TFLITE_INT8_MODEL_PATH}
POOL = 200   # property tests draw digits from the first POOL MNIST test images
