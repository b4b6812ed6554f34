"""Train the digit network and write models/mnist_cnn.h5.

    python train_model.py            # full run (~25 min on 2 cores): replaces models/ and reports/
    python train_model.py --quick    # 1-epoch smoke run, written to runs/quick/ (git-ignored)

The story in five steps:
1. Data (gate_data.py): MNIST's training images (the last VALIDATION_SIZE validate),
   real digits by other writers (whole writer sites train, other whole sites
   validate: datasets/real_handwriting.py), digits redrawn as users send them, and
   things that are not digits: real letters and doodles, and drawn ones. Test sets
   (MNIST test, USPS, the test sites, the held-out non-digit source) are only looked
   at for the figures we report: they never pick weights or hyperparameters.
2. One network with two named outputs: `probabilities` (N, 10) and `digit_score`
   (N, 1), so `model.predict(x)["probabilities"].argmax(1)` is the digit. Three conv
   stages (strided convs, batch norm, dropout); the digit_score head reads the last
   stage and the pooled features (digit_gate.py).
3. Train both heads together from the first epoch, every batch augmented with small
   rotations, shifts, zooms and pixel noise. A digit teaches its class; a non-digit teaches the
   uniform answer (outlier exposure, Hendrycks et al., ICLR 2019, weight OE_WEIGHT),
   and digit_score learns digit against non-digit, both sides weighted equally.
   AdamW with a warm-up and cosine decay; keep the epoch with the best accuracy on
   the validation digits.
4. Fit a softmax temperature on the MNIST validation digits (calibration.py) and pick
   the digit threshold on the validation digits (digit_gate.pick_threshold); fold it
   into the head so that it sits at 0.5, where int8 LiteRT resolves the score best.
5. Write the model atomically (temp file, then rename: an interrupted run never
   replaces a good model with a broken one), its metrics, and the plots.
"""
import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import config
from mnist_digits.artifacts import file_md5, write_atomic, write_json_atomic
from mnist_digits.model.calibration import apply_temperature, expected_calibration_error, fit_temperature
from mnist_digits.gate import gate_data
from mnist_digits.gate.digit_gate import digit_score_head, fold_threshold, pick_threshold, rates
from load_mnist_local import MnistFileError, load_data
from mnist_digits.imaging.preprocessing import to_model_input
from mnist_digits.model.quiet_tensorflow import import_tensorflow


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=config.EPOCHS)
    p.add_argument("--batch-size", type=int, default=config.BATCH_SIZE)
    p.add_argument("--seed", type=int, default=config.SEED)
    p.add_argument("--output", type=Path, default=None,
                   help="where to write the .h5 model; metrics.json goes beside it (default: "
                        "models/mnist_cnn.h5 for a full run, runs/<name>/mnist_cnn.h5 for --quick or --limit)")
    p.add_argument("--reports-dir", type=Path, default=None,
                   help="where the plots go (default: reports/ for models/mnist_cnn.h5, else beside the model)")
    p.add_argument("--limit", type=int, default=None,
                   help="train on the first N training images only (smoke tests)")
    p.add_argument("--quick", action="store_true", help="shorthand for --limit 2000 --epochs 1")
    args = p.parse_args(argv)
    if args.quick:
        args.limit, args.epochs = args.limit or 2000, 1
    if args.epochs < 1 or args.batch_size < 1 or (args.limit is not None and args.limit < 100):
        p.error("--epochs and --batch-size must be >= 1, and --limit >= 100")
    if args.output is None:
        # A smoke run never replaces the committed model unless --output says so.
        smoke = "quick" if args.quick else f"limit{args.limit}"
        args.output = config.RUNS_DIR / smoke / config.KERAS_MODEL_PATH.name if args.limit else config.KERAS_MODEL_PATH
    if args.output.suffix != ".h5":
        p.error("--output must end in .h5")
    if args.reports_dir is None:
        committed = args.output.resolve() == config.KERAS_MODEL_PATH.resolve()
        args.reports_dir = config.REPORTS_DIR if committed else args.output.parent
    return args


def build_model():
    """Three conv stages; a strided 5x5 conv replaces each max-pool, so the net
    learns how to downsample. Heavy dropout, batch norm everywhere. Two named
    outputs: the digit probabilities and the digit score."""
    _, keras = import_tensorflow()
    Input, Model, layers = keras.Input, keras.Model, keras.layers

    def conv(x, filters, kernel=3, strides=1, padding="valid"):
        x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        return layers.ReLU()(x)

    inputs = Input((config.IMAGE_SIZE, config.IMAGE_SIZE, 1), name="image")
    x = conv(conv(inputs, 32), 32)                        # 24x24
    x = conv(x, 32, kernel=5, strides=2, padding="same")  # 12x12
    x = layers.Dropout(0.4)(x)
    x = conv(conv(x, 64), 64)                             # 8x8
    stage = conv(x, 64, kernel=5, strides=2, padding="same")  # 4x4: the digit score reads it
    x = layers.Dropout(0.4)(stage)
    x = conv(x, 128, kernel=4)                            # 1x1
    pooled = layers.Flatten()(x)
    x = layers.Dropout(0.4)(pooled)
    probabilities = layers.Dense(config.NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return Model(inputs, {"probabilities": probabilities, "digit_score": digit_score_head(stage, pooled)},
                 name="mnist_cnn")


def targets(examples):
    """What each example teaches, as Keras takes it: (targets, sample weights), both
    dicts keyed by output. A digit: its one-hot class, digit score 1. A non-digit:
    the uniform answer with weight OE_WEIGHT (outlier exposure), digit score 0. The
    digit score weighs digits and non-digits equally, however many there are of each."""
    is_digit = examples.is_digit
    soft = np.full((len(is_digit), config.NUM_CLASSES), 1 / config.NUM_CLASSES, np.float32)
    soft[is_digit] = np.eye(config.NUM_CLASSES, dtype=np.float32)[examples.y[is_digit]]
    n_digits = max(int(is_digit.sum()), 1)
    n_others = max(len(is_digit) - n_digits, 1)
    balance = np.where(is_digit, len(is_digit) / (2 * n_digits), len(is_digit) / (2 * n_others))
    return ({"probabilities": soft, "digit_score": is_digit.astype(np.float32)[:, None]},
            {"probabilities": np.where(is_digit, 1.0, config.OE_WEIGHT).astype(np.float32),
             "digit_score": balance.astype(np.float32)})


def make_train_dataset(examples, batch_size, seed):
    """Shuffled, augmented batches of (image, targets, weights). Augmentation runs in
    tf.data, outside the model, so the saved .h5 holds only the network that serves."""
    tf, keras = import_tensorflow()
    Sequential, layers = keras.Sequential, keras.layers

    augment = Sequential([
        layers.RandomRotation(config.AUG_ROTATION_DEG / 360, fill_mode="constant", seed=seed),
        layers.RandomTranslation(config.AUG_SHIFT, config.AUG_SHIFT, fill_mode="constant", seed=seed + 1),
        layers.RandomZoom(config.AUG_ZOOM, fill_mode="constant", seed=seed + 2),
        layers.GaussianNoise(config.AUG_NOISE, seed=seed + 3),
    ])
    y, weights = targets(examples)
    ds = tf.data.Dataset.from_tensor_slices((examples.x, y, weights)).shuffle(len(examples.x), seed=seed)
    ds = ds.batch(batch_size).map(lambda a, b, w: (augment(a, training=True), b, w),
                                  num_parallel_calls=tf.data.AUTOTUNE)
    # No autotuner thread: when Keras drops an epoch's iterator it waits for that
    # thread's sleep to end, which stalled about one epoch in three by ~30 s on 2
    # cores. The pipeline takes ~3 s an epoch, so there is nothing to tune anyway.
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)


def plot_reports(history, confusion, reports_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reports_dir.mkdir(parents=True, exist_ok=True)
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, history["loss"], label="train")
    ax1.plot(epochs, history["val_loss"], label="validation")
    ax1.set(title="Loss", xlabel="epoch", yscale="log")
    ax2.plot(epochs, 100 * np.array(history["probabilities_accuracy"]), label="train (augmented)")
    ax2.plot(epochs, 100 * np.array(history["val_probabilities_accuracy"]), label="validation digits")
    ax2.set(title="Accuracy (%), digits", xlabel="epoch")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(reports_dir / "training_curves.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 5.5))
    # Log colour scale: the diagonal would otherwise wash out the few errors.
    ax.imshow(confusion + 1, cmap="Blues", norm=matplotlib.colors.LogNorm())
    for i in range(10):
        for j in range(10):
            if confusion[i, j]:
                ax.text(j, i, confusion[i, j], ha="center", va="center", fontsize=7,
                        color="white" if i == j else "black")
    ax.set(title="Confusion matrix, MNIST test", xlabel="predicted", ylabel="true",
           xticks=range(10), yticks=range(10))
    fig.tight_layout()
    fig.savefig(reports_dir / "confusion_matrix.png", dpi=110)
    plt.close(fig)


def split(x_train, y_train, limit):
    """The last VALIDATION_SIZE training images validate; the rest (or the first
    `limit` of them, for smoke runs) train. uint8 images, as loaded."""
    n_val = config.VALIDATION_SIZE
    x_fit, y_fit = x_train[:-n_val], y_train[:-n_val]
    x_val, y_val = x_train[-n_val:], y_train[-n_val:]
    if limit:
        n_small_val = max(limit // 5, 100)
        x_fit, y_fit, x_val, y_val = x_fit[:limit], y_fit[:limit], x_val[:n_small_val], y_val[:n_small_val]
    return (x_fit, y_fit), (x_val, y_val)


def load_examples(x_train, y_train, limit, seed):
    """The training and validation examples (gate_data.py), as dicts of named parts; a --limit
    run takes the same share of every part."""
    (x_fit, y_fit), (x_val, y_val) = split(x_train, y_train, limit)
    share = len(x_fit) / (len(x_train) - config.VALIDATION_SIZE)
    return (gate_data.examples("train", x_fit, y_fit, seed, share),
            gate_data.examples("validation", x_val, y_val, seed + 1, share))


def validation_figures(found, val_parts, threshold):
    """Per validation part: digits refused and accuracy, or non-digits accepted."""
    figures = {}
    for name, part in val_parts.items():
        scores, is_digit = found[name]["digit_score"][:, 0], part.is_digit.all()
        figures[name] = {"images": len(part.y), ("refused" if is_digit else "accepted"):
                         round(rates(scores, threshold, is_digit), 5)}
        if is_digit:
            figures[name]["accuracy"] = round(float((found[name]["probabilities"].argmax(1) == part.y).mean()), 5)
    return figures


def digit_verdict(model, val_parts):
    """The digit threshold, and what it gives on each validation part. The threshold refuses
    at most MAX_VALIDATION_REFUSED of the validation digits pooled (MNIST, the validation
    writer sites, redrawn and typed digits). (At most that share of *each* set was tried: a
    few unreadable or mislabelled real digits then set the threshold, and twice as many
    validation non-digits got through.) It is then folded into the head (digit_gate.py), so
    that it sits at 0.5, and picked again on the folded scores."""
    predict = lambda: {name: model.predict(part.x, batch_size=1024, verbose=0) for name, part in val_parts.items()}
    digit_sets = [name for name, part in val_parts.items() if part.is_digit.all()]
    pooled = lambda found: np.concatenate([found[name]["digit_score"][:, 0] for name in digit_sets])
    fold_threshold(model, pick_threshold(pooled(predict())))
    found = predict()
    threshold = pick_threshold(pooled(found))
    figures = validation_figures(found, val_parts, threshold)
    print(f"digit threshold {threshold:.6f}; on validation: " + ", ".join(
        f"{name} {100 * (f.get('refused', f.get('accepted'))):.2f} % {'refused' if 'refused' in f else 'accepted'}"
        for name, f in figures.items()))
    return {"digit_threshold": threshold,
            "digit_verdict": {"max_validation_refused": config.MAX_VALIDATION_REFUSED, "validation": figures}}


def compile_model(model, steps_per_epoch, epochs):
    """AdamW; a one-epoch linear warm-up to LEARNING_RATE, then cosine decay. One loss per output."""
    _, keras = import_tensorflow()
    steps = epochs * steps_per_epoch
    warmup = min(steps // 10, steps_per_epoch)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.LEARNING_RATE / 10, decay_steps=steps - warmup,
        warmup_target=config.LEARNING_RATE, warmup_steps=warmup, alpha=0.01)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=config.WEIGHT_DECAY),
                  loss={"probabilities": "categorical_crossentropy", "digit_score": "binary_crossentropy"},
                  metrics={"probabilities": ["accuracy"]})
    return model


def validation_digits(val_parts):
    """Every validation digit, as Keras' validation_data: the best epoch is the one that reads them best."""
    digits = gate_data.joined({name: part for name, part in val_parts.items() if part.is_digit.all()})
    return (digits.x, targets(digits)[0])


def keep_best_callback():
    """A callback that remembers the weights of the epoch with the best validation accuracy."""
    _, keras = import_tensorflow()

    class KeepBest(keras.callbacks.Callback):
        best_acc, best_epoch, weights = -1.0, 0, None

        def on_epoch_end(self, epoch, logs=None):
            if logs["val_probabilities_accuracy"] >= self.best_acc:
                self.best_acc, self.best_epoch = logs["val_probabilities_accuracy"], epoch + 1
                self.weights = self.model.get_weights()

    return KeepBest()


def evaluate(model, val_mnist, x_test, y_test):
    """Fit the temperature on the MNIST validation digits, then measure on the untouched test set."""
    probabilities = lambda x: model.predict(x, batch_size=1024, verbose=0)["probabilities"]
    temperature = fit_temperature(probabilities(val_mnist.x), val_mnist.y)
    test_probs = probabilities(x_test)
    predicted = test_probs.argmax(axis=1)
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (y_test, predicted), 1)
    return {
        "test_accuracy": round(float((predicted == y_test).mean()), 4),
        "test_errors": int((predicted != y_test).sum()),
        "per_class_accuracy": {str(d): round(float(confusion[d, d] / confusion[d].sum()), 4) for d in range(10)},
        "temperature": round(temperature, 4),
        "ece_test": {
            "before_temperature": round(expected_calibration_error(test_probs, y_test), 5),
            "after_temperature": round(expected_calibration_error(
                apply_temperature(test_probs, temperature), y_test), 5),
        },
    }, confusion


def run_record(args, model, train_parts, val_parts, best, train_time):
    """How this model came about: settings, machine, versions, data, time."""
    tf, keras = import_tensorflow()
    count = lambda parts: {name: len(part.y) for name, part in parts.items()}
    return {
        "validation_accuracy": round(float(best.best_acc), 4),
        "best_epoch": best.best_epoch,
        "parameters": int(model.count_params()),
        "training": {
            "epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed, "limit": args.limit,
            "training_images": count(train_parts), "validation_images": count(val_parts),
            "learning_rate": config.LEARNING_RATE, "oe_weight": config.OE_WEIGHT,
            "real_digit_sites": {split: list(sites) for split, sites in config.REAL_DIGIT_SITES.items()},
            "training_time_s": round(train_time, 1),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores"
                       + (", GPU" if tf.config.list_physical_devices("GPU") else ""),
        },
        "versions": {"python": platform.python_version(), "tensorflow": tf.__version__,
                     "keras": keras.__version__, "numpy": np.__version__},
        "data_md5": config.MNIST_FILES,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def fit(model, train_parts, val_parts, args):
    """Steps 2-3: both heads trained together; -> (history, the KeepBest callback, seconds)."""
    train = gate_data.joined(train_parts)
    print(f"training on {len(train.y)} images ({int(train.is_digit.sum())} digits), "
          f"{args.epochs} epochs", flush=True)
    compile_model(model, int(np.ceil(len(train.y) / args.batch_size)), args.epochs)
    best, start = keep_best_callback(), time.time()
    history = model.fit(make_train_dataset(train, args.batch_size, args.seed), epochs=args.epochs,
                        validation_data=validation_digits(val_parts),
                        shuffle=False,  # the dataset reshuffles itself every epoch
                        callbacks=[best], verbose=1)
    model.set_weights(best.weights)
    print(f"best validation accuracy {best.best_acc:.4%} at epoch {best.best_epoch}")
    return history, best, time.time() - start


def main(argv=None):
    args = parse_args(argv)
    try:
        (x_train, y_train), (x_test, y_test) = load_data()
    except MnistFileError as exc:
        sys.exit(f"error: {exc}")
    if args.output.resolve() == config.KERAS_MODEL_PATH.resolve():
        print(f"note: this run replaces the committed model {args.output}, its metrics and the plots in "
              f"{args.reports_dir} (use --output elsewhere.h5 to keep them)", flush=True)
    tf, keras = import_tensorflow()
    keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()

    # 1. The examples. 2-3. The model, trained; the best epoch kept.
    train_parts, val_parts = load_examples(x_train, y_train, args.limit, args.seed)
    model = build_model()
    model.summary(print_fn=lambda line, **_: print(line))
    history, best, train_time = fit(model, train_parts, val_parts, args)

    # 4. Calibrate and pick the threshold on validation; report on test.
    scores, confusion = evaluate(model, val_parts["MNIST"], to_model_input(x_test), y_test)
    print(f"test accuracy {scores['test_accuracy']:.2%} ({scores['test_errors']} errors of {len(y_test)}), "
          f"temperature {scores['temperature']:.3f}")
    verdict = digit_verdict(model, val_parts)

    # 5. Artifacts: model first (atomically), then the metrics that vouch for it.
    write_atomic(args.output, model.save)
    metrics = {**scores, **verdict, **run_record(args, model, train_parts, val_parts, best, train_time),
               # md5 of every servable file; the predictor refuses a file that differs.
               "artifacts": {args.output.name: {"md5": file_md5(args.output),
                                                "size_bytes": args.output.stat().st_size,
                                                "test_accuracy": scores["test_accuracy"]}}}
    write_json_atomic(args.output.parent / config.METRICS_FILENAME, metrics)
    plot_reports(history.history, confusion, args.reports_dir)
    print(f"wrote {args.output}, {args.output.parent / config.METRICS_FILENAME} and plots in {args.reports_dir}")
    return metrics


if __name__ == "__main__":
    main()
