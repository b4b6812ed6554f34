"""Export the Keras model to LiteRT: a float32 and a full-integer int8 .tflite.

    python export_model.py                    # models/mnist_cnn.h5 -> models/mnist_cnn.tflite,
                                              # models/mnist_cnn_int8.tflite, models/metrics.json
    python export_model.py --model /tmp/run/mnist_cnn.h5   # the files land beside that model

The story:
1. Export the Keras model as a SavedModel and convert that (`from_keras_model`
   is unreliable with Keras 3 models, and a traced function keeps the weights as
   resource variables; the SavedModel route freezes them into the file).
2. Convert twice: plain float32, and full-integer int8 whose activation ranges
   come from a sample of the *training* images (never the test set).
3. Check both candidates on the whole MNIST test set before either lands: the
   float file must give the Keras probabilities to 1e-4 (after the same
   temperature scaling), the int8 file must lose at most 0.1 percentage point of
   accuracy against the float one; both must give the Keras model's is_digit
   verdict (digit score >= metrics.json's digit_threshold) on the test digits
   and on training-family non-digits (non_digits.py). A failed check writes nothing.
   Both files keep the model's two outputs by name (`probabilities`, `digit_score`,
   in the signature): the runner reads them by name and refuses a file without them.
4. Write the files atomically and record md5, size and test accuracy of each in
   metrics.json's "artifacts" map (the predictor serves only files it finds
   there), plus the md5 of the .h5 they came from, so stale exports are noticed.

Run it again whenever train_model.py writes a new .h5: training rewrites
metrics.json without the .tflite entries.
"""
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

import config
from mnist_digits.errors import ModelFileError
from load_mnist_local import MnistFileError, load_data
from mnist_digits.gate.non_digits import to_model_inputs, training_non_digits
from mnist_digits.artifacts import file_md5, load_metrics, verify_model_file, write_atomic, write_json_atomic
from mnist_digits.imaging.preprocessing import to_model_input
from mnist_digits.model.quiet_tensorflow import import_tensorflow
from mnist_digits.model.predictor import split_output
from mnist_digits.model.runners import make_runner

REPRESENTATIVE_IMAGES = 1000     # training images that calibrate the int8 activation ranges
MAX_FLOAT_DIFF = 1e-4            # float .tflite vs Keras, calibrated probabilities
MAX_INT8_ACCURACY_DROP = 0.001   # int8 vs float .tflite: 0.1 percentage point
NON_DIGITS = 2000                # training-family non-digits for the is_digit check
MIN_IS_DIGIT_AGREEMENT = 0.995   # either .tflite vs Keras, on test digits and those non-digits


def convert(model, x_fit, quantize):
    """The .tflite bytes of `model`: float32, or int8 weights and activations."""
    tf, _ = import_tensorflow()

    with tempfile.TemporaryDirectory() as saved_model:
        model.export(saved_model, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
        if quantize:
            rng = np.random.default_rng(config.SEED)
            sample = x_fit[rng.choice(len(x_fit), REPRESENTATIVE_IMAGES, replace=False)]
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([image[None]] for image in sample)
            # Int8 kernels only: conversion fails rather than silently keeping a float op.
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            # Input and output stay float32: the converter adds one Quantize op after
            # the input and one Dequantize op before the output, with the scales it
            # calibrated. Why: both .tflite files then take the same [0, 1] floats and
            # return the same probabilities, so the predictor has one code path and
            # copies no quantisation parameters; int8 input would gain nothing (the
            # input scale maps [0, 1] onto 256 steps, exactly the pixels' 256 grey
            # levels), and the two extra ops touch 794 numbers, nothing next to the
            # convolutions.
            converter.inference_input_type = tf.float32
            converter.inference_output_type = tf.float32
        return converter.convert()


def load_inputs(keras_path, metrics_path):
    """-> (calibration images, check images, test labels, metrics, the .h5's md5); exits
    with one line when the MNIST files, metrics.json or the .h5 are missing or wrong."""
    try:
        (x_train, _), (x_test, y_test) = load_data()
        metrics = load_metrics(metrics_path)
        source_md5 = verify_model_file(keras_path, metrics)
    except (MnistFileError, ModelFileError) as exc:
        sys.exit(f"error: {exc}")
    x_fit, x_test = to_model_input(x_train[:-config.VALIDATION_SIZE]), to_model_input(x_test)
    # The is_digit check needs non-digits too (on digits alone every file says yes).
    x_check = np.concatenate([x_test, to_model_inputs(training_non_digits(NON_DIGITS, config.SEED))[0]])
    return x_fit, x_check, y_test, metrics, source_md5


def evaluator(x_check, y_test, metrics):
    """evaluate(backend, path), through the predictor's own runner -> (calibrated test-set
    probabilities, accuracy, the is_digit verdicts on test digits then non-digits)."""
    temperature = float(metrics.get("temperature", 1.0))
    threshold = float(metrics.get("digit_threshold", 0.0))

    def evaluate(backend, path):
        probs, scores = split_output(make_runner(backend, path)(x_check), temperature)
        probs = probs[:len(y_test)]
        return probs, float((probs.argmax(axis=1) == y_test).mean()), scores >= threshold
    return evaluate


def convert_all(model, x_fit, quantize_by_path, evaluate):
    """Convert each file in a scratch folder and evaluate it there -> ({path: bytes},
    {path: evaluation}); the real paths are untouched until every check passes."""
    contents, found = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for path, quantize in quantize_by_path.items():
            contents[path] = convert(model, x_fit, quantize)
            (Path(tmp) / path.name).write_bytes(contents[path])
            found[path] = evaluate("litert", Path(tmp) / path.name)
    return contents, found


def compare(keras_found, float_found, int8_found, names, checked):
    """Print how both files compare with Keras and with each other -> those figures."""
    (keras_probs, _, keras_digit), (float_probs, float_acc, float_digit) = keras_found, float_found
    int8_probs, int8_acc, int8_digit = int8_found
    figures = {"float_acc": float_acc, "int8_acc": int8_acc,
               "digit_agreement": {"float": float((float_digit == keras_digit).mean()),
                                   "int8": float((int8_digit == keras_digit).mean())},
               "max_diff": float(np.abs(float_probs - keras_probs).max()),
               "agreement": float((int8_probs.argmax(axis=1) == float_probs.argmax(axis=1)).mean())}
    print(f"litert float {names[0]}: test accuracy {float_acc:.2%}, "
          f"max |p - p_keras| = {figures['max_diff']:.1e}")
    print(f"litert int8  {names[1]}: test accuracy {int8_acc:.2%}, "
          f"argmax agreement with float {figures['agreement']:.2%}")
    print(f"is_digit agreement with keras on {checked} digits and non-digits: "
          f"float {figures['digit_agreement']['float']:.2%}, int8 {figures['digit_agreement']['int8']:.2%}")
    return figures


def refuse_failures(figures):
    """Exit with one line, writing nothing, when either file fails its check."""
    max_diff, digit_agreement = figures["max_diff"], min(figures["digit_agreement"].values())
    accuracy_drop = figures["float_acc"] - figures["int8_acc"]
    if max_diff > MAX_FLOAT_DIFF:
        sys.exit(f"error: the float .tflite differs from Keras by {max_diff:.1e} (limit {MAX_FLOAT_DIFF:.0e});"
                 " nothing written")
    if digit_agreement < MIN_IS_DIGIT_AGREEMENT:
        sys.exit(f"error: is_digit agrees with keras on only {digit_agreement:.2%}"
                 f" (limit {MIN_IS_DIGIT_AGREEMENT:.1%}); nothing written")
    if accuracy_drop > MAX_INT8_ACCURACY_DROP + 1e-9:
        sys.exit(f"error: int8 loses {100 * accuracy_drop:.2f} points of accuracy"
                 f" (limit {100 * MAX_INT8_ACCURACY_DROP:.1f}); nothing written")


def write_exports(keras_path, metrics_path, source_md5, contents, found, figures):
    """Step 4: the files, then the metrics that vouch for them -> those metrics."""
    # Re-read the metrics (they may have changed meanwhile) unless they now vouch for another .h5.
    metrics = load_metrics(metrics_path)
    if metrics.get("artifacts", {}).get(keras_path.name, {}).get("md5") != source_md5:
        sys.exit(f"error: {keras_path} was replaced during the export; run it again")
    for path, content in contents.items():
        write_atomic(path, lambda tmp, content=content: Path(tmp).write_bytes(content))
        metrics["artifacts"][path.name] = {"md5": file_md5(path), "size_bytes": path.stat().st_size,
                                           "test_accuracy": round(found[path][1], 4),
                                           "source_md5": source_md5}  # one model_version for all
    metrics["litert_export"] = {
        "source": keras_path.name, "source_md5": source_md5,
        "representative_images": REPRESENTATIVE_IMAGES,
        "float_max_abs_diff_vs_keras": float(f"{figures['max_diff']:.2e}"),
        "int8_argmax_agreement_vs_float": round(figures["agreement"], 4),
        "is_digit_agreement_vs_keras": {k: round(v, 5) for k, v in figures["digit_agreement"].items()},
    }
    write_json_atomic(metrics_path, metrics)
    return metrics


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, default=config.KERAS_MODEL_PATH,
                   help="the .h5 to export; the .tflite files and metrics.json are beside it")
    keras_path = p.parse_args(argv).model
    metrics_path = keras_path.parent / config.METRICS_FILENAME
    float_path = keras_path.parent / config.TFLITE_MODEL_PATH.name
    int8_path = keras_path.parent / config.TFLITE_INT8_MODEL_PATH.name
    x_fit, x_check, y_test, metrics, source_md5 = load_inputs(keras_path, metrics_path)
    evaluate = evaluator(x_check, y_test, metrics)

    _, keras = import_tensorflow()
    model = keras.models.load_model(keras_path, compile=False)
    keras_found = evaluate("keras", keras_path)
    print(f"keras        {keras_path.name}: test accuracy {keras_found[1]:.2%}")

    # 1-3. Convert both, check both; nothing is written unless both pass.
    contents, found = convert_all(model, x_fit, {float_path: False, int8_path: True}, evaluate)
    figures = compare(keras_found, found[float_path], found[int8_path],
                      (float_path.name, int8_path.name), len(x_check))
    refuse_failures(figures)
    metrics = write_exports(keras_path, metrics_path, source_md5, contents, found, figures)
    print(f"wrote {float_path}, {int8_path} and their entries in {metrics_path}")
    return metrics


if __name__ == "__main__":
    main()
