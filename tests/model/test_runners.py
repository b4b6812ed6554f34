"""mnist_digits/model/runners.py: the Keras runner's private TensorFlow fast path, and the
two named outputs every runner reads.

The runner calls the traced graph through ConcreteFunction.inference_fn and
AtomicFunction.call_flat, TensorFlow internals kept for a measured 8-20 % less CPU
per call than the public `concrete(x)` at batch 1-4 (benchmarks/README.md, "Private APIs").
An upgrade that moves them must fail here, by name, not in a server at start."""
import numpy as np
import pytest

import config
from mnist_digits.errors import ModelFileError
from mnist_digits.model.quiet_tensorflow import import_tensorflow
from mnist_digits.model.runners import make_runner

UPGRADE_HINT = ("TensorFlow changed the private API runners._keras_runner uses; call the concrete "
                "function publicly there (`concrete(x)`) and update benchmarks/README.md")


def _concrete_function():
    tf, _ = import_tensorflow()
    return tf.function(tf.identity).get_concrete_function(tf.TensorSpec([None], tf.float32))


def test_tensorflow_still_has_the_private_fast_path():
    concrete = _concrete_function()
    assert hasattr(concrete, "inference_fn"), f"ConcreteFunction.inference_fn is gone: {UPGRADE_HINT}"
    assert callable(getattr(concrete.inference_fn, "call_flat", None)), (
        f"AtomicFunction.call_flat is gone: {UPGRADE_HINT}")


def test_the_keras_runner_takes_the_fast_path(monkeypatch):
    # The public call reaches call_flat too, further down: so both are watched.
    concrete = _concrete_function()
    public_type, fast_type = type(concrete), type(concrete.inference_fn)
    public_call, fast_call = public_type.__call__, fast_type.call_flat
    public, fast = [], []
    monkeypatch.setattr(public_type, "__call__", lambda self, *a, **k: public.append(1) or public_call(self, *a, **k))
    monkeypatch.setattr(fast_type, "call_flat", lambda self, *args: fast.append(len(args)) or fast_call(self, *args))
    run = make_runner("keras", config.KERAS_MODEL_PATH)
    out = run(np.zeros((3, config.IMAGE_SIZE, config.IMAGE_SIZE, 1), np.float32))
    assert out.shape == (3, config.NUM_OUTPUTS)
    assert public == [], "the runner took the public call: update its comment and benchmarks/README.md"
    assert fast == [1], f"the runner did not call the graph with the input tensor alone: {UPGRADE_HINT}"


def test_a_model_without_the_two_named_outputs_is_refused(tmp_path):
    """A model from before the two outputs answered one (N, 11) array: read by name, it is refused."""
    _, keras = import_tensorflow()
    image = keras.Input((28, 28, 1))
    old = keras.Model(image, keras.layers.Dense(11, name="probabilities_and_digit_score")(keras.layers.Flatten()(image)))
    old.save(tmp_path / "old.h5")
    with pytest.raises(ModelFileError, match="expected the outputs probabilities and digit_score"):
        make_runner("keras", tmp_path / "old.h5")
