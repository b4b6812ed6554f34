"""Synthetic handwritten numbers for tests and measurement.

Digit images (MNIST- or USPS-style: light ink on black, any size) are placed
side by side the way people write: a gap from touching to wide, a common
slant, a wandering baseline, sizes that vary, then the page in either polarity,
optionally with a lighting gradient and JPEG. `compose` answers the picture and
the truth (the glyphs' boxes), so tests and benchmarks/bench_read.py can check
both the number and the cut.
"""
import io
from typing import NamedTuple

import numpy as np
from PIL import Image

HEIGHT = 40            # digit height in pixels before size changes
INK = 0.3 * 255        # what counts as ink when checking that two digits touch


class Style(NamedTuple):
    """How a number is written. `gap`: the space between neighbours as a fraction of
    the digit height, None for digits that touch, or a list of those, one per pair
    of neighbours; the rest as their names say."""
    gap: object = 0.25
    slant: float = 0.0          # shear, x per y (0.2 leans about 11 degrees)
    jitter: float = 0.0         # baseline wander, fraction of the height
    size: float = 0.0           # each digit's height varies by up to this fraction
    dark_on_light: bool = True
    lighting: bool = False      # a grey page lit from one side
    jpeg: object = None         # JPEG quality, or None for PNG-clean pixels


def _glyph(image, height, slant):
    """A digit image cropped to its ink, scaled to `height` and sheared by `slant`."""
    ys, xs = np.nonzero(image > 0)
    if not ys.size:
        raise ValueError("a digit image with no ink")
    crop = Image.fromarray(image[ys.min():ys.max() + 1, xs.min():xs.max() + 1])
    scale = height / crop.height
    crop = crop.resize((max(1, round(crop.width * scale)), height), Image.BILINEAR)
    extra = int(abs(slant) * height) + 1
    # Shear about the baseline: the bottom stays put, the top moves right by slant * height.
    sheared = crop.transform((crop.width + extra, height), Image.AFFINE,
                             (1, slant, -slant * height - (0 if slant >= 0 else extra), 0, 1, 0),
                             resample=Image.BILINEAR)
    out = np.asarray(sheared)
    cols = np.flatnonzero(out.max(axis=0) > 0)
    return out[:, cols[0]:cols[-1] + 1] if cols.size else out


def _touching_x(canvas, glyph, x, y, floor):
    """Slide `glyph` left from column x until its ink meets the canvas's ink (but
    not past column `floor`: a glyph must not slide into its neighbour's hollow)."""
    h, w = glyph.shape
    while x > floor:
        under = canvas[y:y + h, x - 1:x - 1 + w]
        if ((under > INK) & (glyph > INK)).any():
            return x
        x -= 1
    return x


def _gaps(gap, count):
    """The gap (or None: touching) between each pair of neighbours."""
    return list(gap) if isinstance(gap, (list, tuple)) else [gap] * (count - 1)


def _place(glyphs, style, rng):
    """Glyphs side by side on a black canvas -> (canvas float32, boxes (x, y, w, h))."""
    tall = max(g.shape[0] for g in glyphs)
    margin = tall // 2 + int(style.jitter * HEIGHT) + 2
    gaps = _gaps(style.gap, len(glyphs))
    width = sum(g.shape[1] for g in glyphs) + int(sum(max(g or 0, 0) for g in gaps) * HEIGHT) + 2 * margin
    canvas = np.zeros((tall + 2 * margin, width), np.float32)
    x, boxes = margin, []
    for glyph, before in zip(glyphs, [0] + gaps):   # the gap between this glyph and the last
        h, w = glyph.shape
        y = margin + tall - h + int(round(rng.uniform(-1, 1) * style.jitter * HEIGHT))
        x += int(round((before or 0) * HEIGHT))
        if boxes and before is None:
            x = _touching_x(canvas, glyph, x, y, x - boxes[-1][2] // 2)
        canvas[y:y + h, x:x + w] = np.maximum(canvas[y:y + h, x:x + w], glyph)
        boxes.append((x, y, w, h))
        x += w
    right = max(bx + bw for bx, _, bw, _ in boxes) + margin
    return canvas[:, :right], boxes


def _page(canvas, style, rng):
    """Ink on black -> the page as sent: polarity, lighting, then PNG or JPEG bytes."""
    page = canvas
    if style.lighting:   # grey paper lit from one side, ink a little less than full contrast
        ramp = np.linspace(0.55, 1.0, canvas.shape[1])[None, :] * rng.uniform(0.8, 1.0)
        paper = 255 * ramp
        page = paper - 0.8 * canvas * ramp if style.dark_on_light else 0.25 * paper + 0.7 * canvas
    elif style.dark_on_light:
        page = 255 - canvas
    image = Image.fromarray(np.clip(page, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    image.save(buf, format="JPEG" if style.jpeg else "PNG", **({"quality": style.jpeg} if style.jpeg else {}))
    return buf.getvalue()


def compose(images, style=Style(), rng=None):
    """Digit images (light ink on black, uint8) -> (picture bytes, glyph boxes [x, y, w, h])."""
    rng = np.random.default_rng(0) if rng is None else rng
    heights = [max(8, round(HEIGHT * (1 + rng.uniform(-1, 1) * style.size))) for _ in images]
    glyphs = [_glyph(np.asarray(image, np.uint8), h, style.slant) for image, h in zip(images, heights)]
    canvas, boxes = _place(glyphs, style, rng)
    return _page(canvas, style, rng), boxes
