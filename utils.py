"""The Python API the scripts share: load the model once, then ask it about pictures.

    from utils import get_predictor
    predictor = get_predictor()                        # checks the file against metrics.json, loads it once
    predictor.predict_images([open("examples/mnist_7.png", "rb").read()])[0]["prediction"]   # 7
    read_number(open("examples/number_2026.png", "rb").read())["number"]                     # "2026"

Everything behind these names lives in the package mnist_digits/ (see README, "Layout").
"""
from mnist_digits.model.predictor import Predictor, get_predictor, resolve_model
from mnist_digits.reading.reader import read_number

__all__ = ["Predictor", "get_predictor", "resolve_model", "read_number"]
