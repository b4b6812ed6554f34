"""train_model.py: architecture, CLI, a --limit smoke run, atomic writes, seeds."""
import json

import numpy as np
import pytest

import train_model
from utils import file_md5, write_atomic


def test_model_maps_images_to_probabilities():
    model = train_model.build_model()
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 10)
    out = np.asarray(model(np.zeros((2, 28, 28, 1), np.float32), training=False))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("argv", [["--output", "model.keras"], ["--epochs", "0"], ["--limit", "5"]])
def test_cli_rejects_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        train_model.parse_args(argv)
    assert exc.value.code != 0
    assert "error" in capsys.readouterr().err



def test_train_dataset_batches_without_the_autotuner():
    # The autotuner thread stalled one epoch end in three by ~30 s (see make_train_dataset).
    x, y = np.zeros((300, 28, 28, 1), np.float32), np.arange(300) % 10
    ds = train_model.make_train_dataset(x, y, batch_size=128, seed=0)
    assert ds.options().autotune.enabled is False
    batches = list(ds)
    assert [len(b[1]) for b in batches] == [128, 128, 44]
    assert sorted(np.concatenate([b[1] for b in batches]).tolist()) == sorted(y.tolist())


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke") / "mnist_cnn.h5"
    metrics = train_model.main(["--limit", "600", "--epochs", "1", "--seed", "7", "--output", str(out)])
    return out, metrics


def test_smoke_run_writes_model_metrics_and_plots(smoke_run):
    out, metrics = smoke_run
    on_disk = json.loads((out.parent / "metrics.json").read_text())
    assert on_disk == metrics
    assert on_disk["artifacts"]["mnist_cnn.h5"]["md5"] == file_md5(out)
    assert on_disk["training"]["training_images"] == 600
    assert set(on_disk["per_class_accuracy"]) == {str(d) for d in range(10)}
    assert 0.05 <= on_disk["temperature"] <= 20
    for plot in ("training_curves.png", "confusion_matrix.png"):
        assert (out.parent / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # One model, one output: the 10 probabilities, then the digit score.
    import keras
    model = keras.models.load_model(out, compile=False)
    assert model.output_shape == (None, 11)
    out_rows = np.asarray(model(np.zeros((3, 28, 28, 1), np.float32), training=False))
    np.testing.assert_allclose(out_rows[:, :10].sum(axis=1), 1.0, rtol=1e-5)
    assert np.all((out_rows[:, 10] >= 0) & (out_rows[:, 10] <= 1))
    assert 0 <= on_disk["digit_threshold"] <= 1
    assert on_disk["digit_gate"]["validation_digits_refused"] <= 0.05


def test_same_seed_gives_same_weights(smoke_run, tmp_path):
    out, metrics = smoke_run
    again = train_model.main(["--limit", "600", "--epochs", "1", "--seed", "7",
                              "--output", str(tmp_path / "mnist_cnn.h5")])
    import keras
    first = keras.models.load_model(out, compile=False).get_weights()
    second = keras.models.load_model(tmp_path / "mnist_cnn.h5", compile=False).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert again["test_accuracy"] == metrics["test_accuracy"]


def test_interrupted_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "model.h5"
    target.write_bytes(b"good model")

    def broken_writer(tmp):
        with open(tmp, "wb") as f:
            f.write(b"half a mod")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, broken_writer)
    assert target.read_bytes() == b"good model"
    write_atomic(target, lambda tmp: open(tmp, "wb").write(b"new model"))
    assert target.read_bytes() == b"new model"
    assert target.stat().st_mode & 0o044, "readable by group/others like a plain open()"
    assert [p.name for p in tmp_path.iterdir()] == ["model.h5"]
