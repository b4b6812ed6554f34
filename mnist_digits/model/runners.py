"""The model runners: one function per backend that runs the model file on a batch.

`make_runner(backend, path)` -> fn(float32 (N, 28, 28, 1) in [0, 1]) -> (N, 11): the
model's two named outputs, `probabilities` (N, 10) then `digit_score` (N, 1), read by
name and packed into one row per image (one array is what the batcher splits among
callers). `keras` runs the .h5 with TensorFlow (CPU or GPU); `litert` runs a .tflite
file with LiteRT's own interpreter (no TensorFlow).
"""
import threading
from pathlib import Path

import numpy as np

import config
from mnist_digits.errors import ModelFileError


def _check_outputs(model_path, names):
    if sorted(names) != sorted(config.OUTPUT_NAMES):
        raise ModelFileError(f"{model_path}: expected the outputs {' and '.join(config.OUTPUT_NAMES)}, got "
                             f"{', '.join(names) or 'unnamed ones'}: retrain with python train_model.py")


def _keras_runner(model_path):
    from mnist_digits.model.quiet_tensorflow import import_tensorflow
    tf, keras = import_tensorflow()

    try:
        model = keras.models.load_model(model_path, compile=False)
    except (OSError, ValueError) as exc:   # not HDF5, or not a Keras model
        raise ModelFileError(f"{model_path}: not a Keras model ({exc.__class__.__name__})") from None
    _check_outputs(model_path, model.output_names)
    spec = tf.TensorSpec([None, config.IMAGE_SIZE, config.IMAGE_SIZE, 1], tf.float32)
    # Traced with the weights as constants, not variables: TensorFlow's graph optimiser
    # then folds each batch normalisation into its convolution, and a call reads no variables.
    weights = [v.numpy() for v in model.trainable_variables], [v.numpy() for v in model.non_trainable_variables]
    traced = tf.function(lambda x: tf.concat(
        [model.stateless_call(*weights, x, training=False)[0][name] for name in config.OUTPUT_NAMES], axis=1))
    # The trace's graph, called with the input tensor alone, through TensorFlow's private
    # API (ConcreteFunction.inference_fn, AtomicFunction.call_flat): the public call,
    # `concrete(x)`, binds and flattens its arguments in Python each time, measured
    # 0.10-0.23 ms more CPU per call (13-20 % at batch 1, 8-10 % at 4, 2-5 % at 16; TF 2.21,
    # benchmarks/README.md "Private APIs"). tests/model/test_runners.py fails loudly
    # when an upgrade moves either; the public call is the fallback then.
    call = traced.get_concrete_function(spec).inference_fn

    def run(batch):
        return call.call_flat(tf.constant(batch, tf.float32))[0].numpy()

    return run


def _litert_interpreter(content, model_path, batch_size, threads):
    """A LiteRT interpreter over the model file's bytes, checked and sized for
    batch_size -> (interpreter, input index, [probabilities index, digit_score index]).
    The outputs are found by name in the file's signature (their tensor names are the
    converter's own)."""
    # LiteRT's own interpreter, not tf.lite's: it imports no TensorFlow, so a litert
    # deployment starts in a fraction of a second with a fraction of the memory.
    from ai_edge_litert.interpreter import Interpreter

    shape = [config.IMAGE_SIZE, config.IMAGE_SIZE, 1]
    try:
        interpreter = Interpreter(model_content=content, num_threads=threads)
        outputs = interpreter.get_signature_runner().get_output_details()
    except ValueError as exc:
        raise ModelFileError(f"{model_path}: not a LiteRT model with a signature ({exc})") from None
    _check_outputs(model_path, list(outputs))
    (inp,), out = interpreter.get_input_details(), [outputs[name] for name in config.OUTPUT_NAMES]
    # Both exported files take and return float32 (the int8 one quantises inside).
    found = (inp["dtype"], *(o["dtype"] for o in out), list(inp["shape"][1:]), [o["shape"][-1] for o in out])
    if found != (np.float32, np.float32, np.float32, shape, [config.NUM_CLASSES, 1]):
        raise ModelFileError(f"{model_path}: expected float32 (N, 28, 28, 1) -> (N, {config.NUM_CLASSES}) and (N, 1), "
                             f"got {inp['dtype'].__name__} {inp['shape']} -> "
                             + " and ".join(f"{o['dtype'].__name__} {o['shape']}" for o in out))
    interpreter.resize_tensor_input(inp["index"], [batch_size] + shape)
    interpreter.allocate_tensors()
    return interpreter, inp["index"], [o["index"] for o in out]


def _invoke(interpreter, inp, out, batch):
    interpreter.set_tensor(inp, batch)
    interpreter.invoke()
    return np.concatenate([interpreter.get_tensor(index) for index in out], axis=1)


def _litert_runner(model_path):
    content = Path(model_path).read_bytes()
    shape = [config.IMAGE_SIZE, config.IMAGE_SIZE, 1]
    # One image per request is the common case: it gets its own interpreter, sized
    # once and single-threaded (a second thread costs more than it saves on one
    # image). Batches share a second one, fed in chunks of LITERT_BATCH_CHUNK and
    # resized only when the chunk size changes (a few microseconds).
    single = _litert_interpreter(content, model_path, 1, 1)
    many, many_in, many_out = _litert_interpreter(content, model_path, 1, config.LITERT_THREADS)
    many_size = 1
    lock = threading.Lock()  # an interpreter must not run two calls at once (threaded servers)

    def run(batch):
        nonlocal many_size
        with lock:
            if len(batch) == 1:
                return _invoke(*single, batch)
            outputs = [np.empty((0, config.NUM_OUTPUTS), np.float32)]
            for start in range(0, len(batch), config.LITERT_BATCH_CHUNK):
                chunk = batch[start:start + config.LITERT_BATCH_CHUNK]
                if len(chunk) != many_size:
                    many.resize_tensor_input(many_in, [len(chunk)] + shape)
                    many.allocate_tensors()
                    many_size = len(chunk)
                outputs.append(_invoke(many, many_in, many_out, chunk))
            return np.concatenate(outputs)

    return run


_RUNNERS = {"keras": _keras_runner, "litert": _litert_runner}


def make_runner(backend, model_path):
    """fn(float32 (N, 28, 28, 1) in [0, 1]) -> (N, 11): the model's `probabilities`, then
    its `digit_score` (train_model.py, digit_gate.py), for `backend` ("keras" or "litert")
    serving the file at `model_path`."""
    return _RUNNERS[backend](model_path)
