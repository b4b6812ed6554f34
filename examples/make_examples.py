"""Write the example digits the Gradio page offers (examples/*.png).

    python examples/make_examples.py

Four MNIST test digits drawn the way users draw (dark ink on white, enlarged
4x), and one photo-like picture: grey pencil on uneven, noisy paper, off
centre, which only the "enhanced" preprocessing reads well. Every file is
named after its digit (`<kind>_<digit>.png`); tests/test_gradio_interface.py checks the
model agrees. Deterministic: rerunning writes the same files.
"""
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


if __name__ == "__main__":
    main()
