"""gradio_interface.py: the page, served on 127.0.0.1 and called like a user's script
would (through gradio_client's /predict with the sketchpad value), and the script's
start-up: the port it serves on, and one clear line instead of a page for a bad model set-up.
The page in a real browser is in test_gradio_interface_browser.py."""
import io
import os
import re
import subprocess
import sys
import urllib.request

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import config
import gradio_interface
from helpers.cli import BAD_MODEL_SETUPS, assert_refused_before_serving, bad_model_setups, run_script
from helpers.local_server import ROOT, free_port
from mnist_digits.imaging.preprocessing import preprocess_image
from utils import read_number


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def editor_value(path):
    """What the sketchpad sends: strokes flattened into `composite`."""
    return {"background": None, "layers": [], "composite": handle_file(str(path))}


def save_png(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_the_page_is_served_locally(app_url):
    assert app_url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(app_url, timeout=30) as response:
        assert response.status == 200
        assert "Handwritten digit classifier" in response.read().decode()


def test_predict_reads_mnist_digits(client, tmp_path, digit_pngs):
    from utils import get_predictor
    predictor = get_predictor()
    correct = 0
    for i, (png, label) in enumerate(digit_pngs):
        answer = client.predict(editor_value(save_png(tmp_path, f"{i}.png", png)), api_name="/predict")
        expected = predictor.predict_images([png], "enhanced")[0]
        # The page answers with the shared predictor: same top class, same top-3 probabilities.
        assert answer["label"] == str(expected["prediction"])
        assert [c["label"] for c in answer["confidences"]] == [str(t["digit"]) for t in expected["top_k"]]
        for got, want in zip(answer["confidences"], expected["top_k"]):
            assert got["confidence"] == pytest.approx(want["probability"], abs=1e-5)
        correct += answer["label"] == str(label)
    assert correct >= len(digit_pngs) - 1, f"only {correct}/{len(digit_pngs)} MNIST test digits right"


def test_top_three_are_sorted_probabilities(client, tmp_path, digit_pngs):
    png, _ = digit_pngs[0]
    answer = client.predict(editor_value(save_png(tmp_path, "d.png", png)), api_name="/predict")
    confidences = [c["confidence"] for c in answer["confidences"]]
    assert len(confidences) == config.TOP_K
    assert confidences == sorted(confidences, reverse=True)
    assert 0 < sum(confidences) <= 1 + 1e-6


@pytest.mark.parametrize("canvas", ["transparent", "white"])
def test_blank_canvas_gets_a_clear_message(client, tmp_path, canvas):
    # An untouched sketchpad exports transparent pixels; a scanned blank page is white.
    colour = (0, 0, 0, 0) if canvas == "transparent" else (255, 255, 255, 255)
    path = tmp_path / "blank.png"
    Image.new("RGBA", (400, 400), colour).save(path)
    with pytest.raises(AppError, match="no_digit_found: no digit found"):
        client.predict(editor_value(path), api_name="/predict")


def test_no_image_at_all_says_what_to_send(client):
    with pytest.raises(AppError, match="no image"):
        client.predict({"background": None, "layers": [], "composite": None}, api_name="/predict")


def test_undecodable_file_is_refused_clearly(client, tmp_path):
    path = save_png(tmp_path, "broken.png", b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(AppError, match="cannot identify image file") as info:
        client.predict(editor_value(path), api_name="/predict")
    assert "object at 0x" not in str(info.value) and "<_io." not in str(info.value), str(info.value)


def test_upload_over_the_size_limit_is_refused(client, tmp_path):
    path = save_png(tmp_path, "huge.png", b"\x89PNG\r\n\x1a\n" + bytes(config.MAX_REQUEST_BYTES))
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        client.predict(editor_value(path), api_name="/predict")


def test_background_alone_is_read(client, tmp_path, digit_pngs):
    # An upload without strokes: the editor value carries only a background.
    png, label = digit_pngs[0]
    value = {"background": handle_file(str(save_png(tmp_path, "bg.png", png))), "layers": [], "composite": None}
    assert client.predict(value, api_name="/predict")["label"] == str(label)


def test_preprocessing_mode_is_an_optional_argument(client, tmp_path, digit_pngs):
    path = save_png(tmp_path, "d.png", digit_pngs[0][0])
    assert client.predict(editor_value(path), "basic", api_name="/predict")["confidences"]
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict(editor_value(path), "fancy", api_name="/predict")


def test_examples_are_read_as_their_file_names_say():
    files = gradio_interface.example_files()
    assert len(files) >= 3
    numbers = [path for path in files if re.search(r"number_\d+\.png$", path)]
    for path in numbers:   # a whole number: read as POST /read reads it, and shown as one
        expected = re.search(r"number_(\d+)\.png$", path).group(1)
        assert read_number(Image.open(path))["number"] == expected, path
        assert gradio_interface.read_page(Image.open(path))[0]["number"] == expected, path
    for path in set(files) - set(numbers):
        digit = re.search(r"_(\d)\.png$", path)
        assert digit, f"{path}: example names end in _<digit>.png"
        label, _, is_digit = gradio_interface.classify(Image.open(path), "enhanced")
        assert max(label, key=label.get) == digit.group(1), path
        assert is_digit, path


def test_page_shows_the_image_the_model_received(digit_pngs):
    png, label = digit_pngs[3]
    image = Image.open(io.BytesIO(png))
    value = {"background": None, "layers": [], "composite": image}
    kept, answer, seen, note, boxes, views = gradio_interface.predict_page(value, "enhanced")
    answer = shown(answer)
    assert kept is image and max(answer, key=answer.get) == str(label)
    assert note.visible is False and boxes.visible is False and views.visible is False
    # The picture is the model input itself, each pixel a 10x10 square.
    x = preprocess_image(image, "enhanced")[..., 0]
    assert seen.size == (280, 280)
    assert np.array_equal(np.asarray(seen)[::10, ::10], (x * 255).round().astype(np.uint8))


def shown(label):
    """What a gr.Label update shows: {label: confidence}, or None when it is empty."""
    value = label.value
    return {c["label"]: c["confidence"] for c in value["confidences"]} if value else None


def boxes_size(image_update):
    """The size of the picture a gr.Image update shows."""
    return Image.open(image_update.value["path"]).size


def test_page_notes_a_blank_canvas_instead_of_guessing():
    blank = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    _, answer, seen, note, _, _ = gradio_interface.predict_page({"background": None, "layers": [],
                                                                 "composite": blank}, "enhanced")
    assert shown(answer) is None and seen is None
    assert note.visible is True and "No digit found" in note.value


def test_page_says_plainly_when_it_is_not_a_digit_and_still_shows_the_guess():
    from helpers.images import drawn_symbol
    kept, answer, seen, note, _, _ = gradio_interface.predict_page(drawn_symbol("#"), "enhanced")
    assert note.visible is True and note.value == gradio_interface.NOT_A_DIGIT
    assert len(shown(answer)) == 10 and seen.size == (280, 280)   # the best guess and the 28x28 view stay


def test_page_reads_a_number_with_each_digits_box_and_view():
    from helpers.images import number_png
    image = Image.open(io.BytesIO(number_png("2026")))
    _, answer, seen, note, boxes, views = gradio_interface.predict_page(image, "enhanced")
    assert shown(answer) == {"2026": pytest.approx(read_number(image)["confidence"], abs=1e-6)}
    assert answer.label == "Number read (its confidence)" and note.visible is False and seen is None
    assert boxes.visible is True and views.visible is True and len(views.value) == 4
    # The boxes are drawn on the picture itself: it keeps its size.
    assert boxes_size(boxes) == image.size


@pytest.mark.process
def test_script_serves_on_the_port_from_the_environment():
    """`python gradio_interface.py` with GRADIO_SERVER_PORT prints and serves that local URL."""
    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "gradio_interface.py"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        output = []
        for line in proc.stdout:  # ends if the script exits; pytest-timeout guards a hang
            output.append(line)
            if url in line:
                break
        assert url in "".join(output), f"the script never printed {url}:\n{''.join(output)[-2000:]}"
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    output.append(proc.stdout.read())
    proc.stdout.close()
    # The page is never shared: Gradio's hint to set share=True would only mislead.
    assert "share=True" not in "".join(output) and "public link" not in "".join(output), "".join(output)


@pytest.mark.process
def test_script_rejects_a_bad_port():
    result = subprocess.run([sys.executable, "gradio_interface.py", "--port", "70000"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "--port must be between 1 and 65535" in result.stderr


@pytest.mark.process
@pytest.mark.parametrize("setup", BAD_MODEL_SETUPS)
def test_a_bad_model_setup_is_one_line_before_serving(setup, tmp_path):
    env, expected = bad_model_setups(tmp_path)[setup]
    port = free_port()
    result = run_script("gradio_interface.py", "--host", "127.0.0.1", "--port", port, env=env)
    assert_refused_before_serving(result, port, expected)
