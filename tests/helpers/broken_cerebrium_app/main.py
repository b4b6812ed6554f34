"""A Cerebrium app that answers every digit with 0, accepts anything, and has a
function that crashes: what the client's --run-tests must fail."""


def predict(image=None, instances=None, preprocess="enhanced"):
    if instances is not None:
        return {"predictions": [{"prediction": 0, "confidence": 1.0} for _ in instances]}
    return {"prediction": 0, "confidence": 1.0, "top_k": [], "model_version": "broken"}


def crash(**kwargs):
    raise RuntimeError("boom")
