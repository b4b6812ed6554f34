"""Build the shared Keras predictor (TensorFlow imported, model loaded and warmed up)
and print "ready": what every server does at start-up, and nothing else."""
from utils import Predictor

Predictor(backend="keras")
print("ready", flush=True)
