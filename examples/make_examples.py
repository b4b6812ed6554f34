"""Write the example digits and numbers the Gradio page offers (examples/*.png).

    python examples/make_examples.py

Four MNIST test digits drawn the way users draw (dark ink on white, enlarged
4x), and one photo-like picture: grey pencil on uneven, noisy paper, off
centre, which only the "enhanced" preprocessing reads well. Then whole numbers
for POST /read: "2026" in USPS test digits (other writers than MNIST's) as on a
form, "42" drawn with round pen strokes as on the canvas (a 4 in two strokes),
and "1905" in MNIST test digits as a photo of pencil on paper, the 9 and 0
touching. Every file is named after what it shows (`<kind>_<digit>.png`,
`number_<digits>.png`); tests/test_gradio_interface.py checks the model agrees.
Deterministic: rerunning writes the same files.
"""
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere
import config  # noqa: E402
from load_mnist_local import load_file  # noqa: E402

# MNIST test-set indices of clear, typical digits (labels 7, 2, 0, 4).
MNIST_INDICES = (0, 1, 3, 4)
PHOTO_INDEX = 15  # a 5
SCALE = 4


def drawn(digit):
    """28x28 light-on-black -> dark ink on white, enlarged like a canvas drawing."""
    image = Image.fromarray(255 - digit)
    return image.resize((28 * SCALE, 28 * SCALE), Image.BICUBIC)


def photo_like(digit, seed=0):
    """The digit as a phone photo of a pencil drawing: small, off centre, grey ink,
    a lighting gradient across cream paper, sensor noise and a little blur."""
    rng = np.random.default_rng(seed)
    h, w = 160, 200
    ys, xs = np.mgrid[0:h, 0:w]
    paper = 215 - 60 * (xs / w) - 25 * (ys / h)                 # light from the left
    ink = np.asarray(Image.fromarray(digit).resize((84, 84), Image.BICUBIC), np.float32) / 255
    top, left = 30, 95                                            # off centre
    paper[top:top + 84, left:left + 84] *= 1 - 0.6 * ink          # grey pencil, not black
    paper += rng.normal(0, 6, paper.shape)
    gray = Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1))
    tint = np.asarray(gray, np.float32)[..., None] * np.array([1.0, 0.97, 0.9])  # warm paper
    return Image.fromarray(np.clip(tint, 0, 255).astype(np.uint8))


def usps_number(digits):
    """The first USPS test image of each digit, composed side by side as on a form."""
    from mnist_digits.reading.compose import Style, compose
    data = np.load(config.USPS_PATH)
    test, labels = data["images"][data["split"] == 1], data["labels"][data["split"] == 1]
    images = [test[np.flatnonzero(labels == int(d))[0]] for d in digits]
    return compose(images, Style(gap=0.35, slant=0.08, jitter=0.04), np.random.default_rng(1))[0]


def pen_number():
    """'42' drawn with a round pen, as on the drawing page: a 4 in two strokes, a 2 in one."""
    from PIL import ImageDraw
    strokes = [[(40, 30), (28, 110), (92, 110)], [(76, 52), (78, 150)],
               [(130, 62), (148, 36), (182, 34), (196, 58), (136, 146), (204, 144)]]
    image = Image.new("L", (240, 180), 255)
    draw = ImageDraw.Draw(image)
    for line in strokes:
        draw.line(line, fill=20, width=11, joint="curve")
    return image.filter(ImageFilter.GaussianBlur(0.8))


def photo_number(images, labels, digits, seed=3):
    """A number in MNIST test digits as a photo of pencil on cream paper: the digits
    composed (the 9 and the 0 touching), then photo_like's lighting, grey ink and noise."""
    from mnist_digits.reading.compose import Style, compose
    picks = [images[np.flatnonzero(labels == int(d))[k]] for k, d in enumerate(digits)]
    light = compose(picks, Style(gap=[0.3, 0.25, None, 0.3][:len(digits) - 1], dark_on_light=False),
                    np.random.default_rng(seed))[0]
    ink = np.asarray(Image.open(io.BytesIO(light)).convert("L"), np.float32) / 255
    rng = np.random.default_rng(seed)
    h, w = ink.shape
    ys, xs = np.mgrid[0:h, 0:w]
    paper = (215 - 60 * (xs / w) - 25 * (ys / h)) * (1 - 0.6 * ink) + rng.normal(0, 6, ink.shape)
    gray = Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1))
    tint = np.asarray(gray, np.float32)[..., None] * np.array([1.0, 0.97, 0.9])
    return Image.fromarray(np.clip(tint, 0, 255).astype(np.uint8))


def main():
    images = load_file("t10k-images-idx3-ubyte.gz")
    labels = load_file("t10k-labels-idx1-ubyte.gz")
    config.EXAMPLES_DIR.mkdir(exist_ok=True)
    for index in MNIST_INDICES:
        path = config.EXAMPLES_DIR / f"mnist_{labels[index]}.png"
        drawn(images[index]).save(path, optimize=True)
        print(path)
    path = config.EXAMPLES_DIR / f"photo_{labels[PHOTO_INDEX]}.png"
    photo_like(images[PHOTO_INDEX]).save(path, optimize=True)
    print(path)
    numbers = {"number_2026.png": Image.open(io.BytesIO(usps_number("2026"))), "number_42.png": pen_number(),
               "number_1905.png": photo_number(images, labels, "1905")}
    for name, image in numbers.items():
        image.save(config.EXAMPLES_DIR / name, optimize=True)
        print(config.EXAMPLES_DIR / name)


if __name__ == "__main__":
    main()
