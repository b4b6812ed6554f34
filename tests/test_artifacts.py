"""artifacts.py: atomic writes, the metrics file's clear refusals, and one
model_version for every file exported from the same .h5."""
import pytest

from mnist_digits.artifacts import file_md5, load_metrics, model_version, write_atomic, write_json_atomic
from mnist_digits.errors import ModelFileError


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


def test_json_is_written_atomically_and_read_back(tmp_path):
    write_json_atomic(tmp_path / "metrics.json", {"temperature": 1.5})
    assert load_metrics(tmp_path / "metrics.json") == {"temperature": 1.5}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


@pytest.mark.parametrize("content, message", [(None, "metrics file is missing"),
                                              ("{not json", "not valid JSON"),
                                              (b"\xff\xfe", "cannot read it")])
def test_a_bad_metrics_file_is_one_clear_sentence(tmp_path, content, message):
    path = tmp_path / "metrics.json"
    if isinstance(content, str):
        path.write_text(content)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelFileError) as info:
        load_metrics(path)
    assert str(path) in str(info.value) and message in str(info.value)
    assert "\n" not in str(info.value) and "object at 0x" not in str(info.value)


def test_an_export_reports_the_version_of_the_h5_it_came_from(tmp_path):
    (tmp_path / "m.h5").write_bytes(b"keras")
    (tmp_path / "m.tflite").write_bytes(b"litert")
    h5 = file_md5(tmp_path / "m.h5")
    metrics = {"artifacts": {"m.h5": {"md5": h5},
                             "m.tflite": {"md5": file_md5(tmp_path / "m.tflite"), "source_md5": h5}}}
    assert model_version(tmp_path / "m.h5", metrics) == model_version(tmp_path / "m.tflite", metrics) == h5[:8]
    (tmp_path / "m.tflite").write_bytes(b"swapped")
    with pytest.raises(ModelFileError, match="does not match"):
        model_version(tmp_path / "m.tflite", metrics)
