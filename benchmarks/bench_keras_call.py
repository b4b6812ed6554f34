"""How the Keras runner calls its traced graph: TensorFlow's private fast path against the public calls.

    python benchmarks/bench_keras_call.py            # about 4 minutes on 2 shared cores

CPU ms per call (`time.process_time`, one process, TF_NUM_INTRAOP_THREADS=1 as in
a server worker) at batch 1, 4 and 16 on MNIST test digits; the variants take
turns within each round (the order reversed every other round, so neither is
favoured by what else the machine is doing), and each figure is the median of the
rounds. Rerun it when tests/model/test_runners.py says TensorFlow moved its
private API, to see what the public call costs then.
  private   ConcreteFunction.inference_fn.call_flat(x): what runners.py does
  public    the concrete function called normally: concrete(x)
  signature a tf.function with an input_signature, called normally
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402

import config  # noqa: E402
from load_mnist_local import load_data  # noqa: E402
from mnist_digits.model.quiet_tensorflow import import_tensorflow  # noqa: E402


def variants():
    """{name: fn(float32 batch) -> raw output}, each over the same weights-as-constants trace."""
    tf, keras = import_tensorflow()
    model = keras.models.load_model(config.KERAS_MODEL_PATH, compile=False)
    spec = tf.TensorSpec([None, config.IMAGE_SIZE, config.IMAGE_SIZE, 1], tf.float32)
    weights = [v.numpy() for v in model.trainable_variables], [v.numpy() for v in model.non_trainable_variables]
    graph = lambda x: model.stateless_call(*weights, x, training=False)[0]  # noqa: E731
    concrete = tf.function(graph).get_concrete_function(spec)
    private, signed = concrete.inference_fn, tf.function(graph, input_signature=[spec])
    return {"private": lambda batch: private.call_flat(tf.constant(batch))[0].numpy(),
            "public": lambda batch: concrete(tf.constant(batch)).numpy(),
            "signature": lambda batch: signed(tf.constant(batch)).numpy()}


def per_call_ms(fn, batch, calls):
    started = time.process_time()
    for _ in range(calls):
        fn(batch)
    return (time.process_time() - started) / calls * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--calls", type=int, default=300, help="calls per variant per round")
    args = parser.parse_args()
    runs = variants()
    x = (load_data()[1][0][:16].astype(np.float32) / 255)[..., None]
    for name, fn in runs.items():   # the same answers, or the comparison means nothing
        np.testing.assert_allclose(fn(x), runs["private"](x), atol=1e-6, err_msg=name)
    print(f"load average {os.getloadavg()[0]:.2f} at the start")
    print("| batch | " + " | ".join(runs) + " |\n|---:|" + "---:|" * len(runs))
    for size in (1, 4, 16):
        times = {name: [] for name in runs}
        for fn in runs.values():
            per_call_ms(fn, x[:size], 20)   # warm-up
        for turn in range(args.rounds):
            for name, fn in (list(runs.items()) if turn % 2 == 0 else list(runs.items())[::-1]):
                times[name].append(per_call_ms(fn, x[:size], args.calls))
        print(f"| {size} | " + " | ".join(f"{statistics.median(t):.3f}" for t in times.values()) + " |", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
