"""Pictures that are not digits, drawn the way users send them.

The digit gate (digit_gate.py) learns "digit or not" from these, and the
confidence study measures how often it is fooled. Everything is drawn here,
offline and deterministically from a seed: glyphs from the fonts committed
under data/fonts (so the same files everywhere, whatever else is upgraded), pen
strokes, shapes and textures. Each picture is what a user would upload: dark ink on
white or grey paper (sometimes light ink on a dark screen), any canvas size,
sometimes noisy or JPEG-compressed. `to_model_inputs` then sends them through
the project's own `preprocess_image(..., "enhanced")`, exactly as serving does.

Families, made differently on purpose:
  training     DejaVu fonts and KaTeX's Script, Caligraphic and Fraktur; random-walk
               Bezier scribbles, looping coils; squares, discs, marked circles, triangles,
               crosses, lines; closed outlines with corners and dents; smooth-noise blobs.
               Used to train the gate and (with other seeds) to pick its threshold.
  heldout      STIX and Computer Modern fonts (plus Greek letters); spirals,
               zig-zags, hatching, sine scrawls; stars, smileys, arrows,
               polygons, hearts. Only ever used to report how well the gate
               generalises to non-digits it never saw the like of.
  handwriting  letters and # @ % & ? in 40 handwriting fonts (data/fonts/handwriting):
               what a letter written by hand looks like. Reports only, like heldout.

Left out of all: glyphs and shapes that a person could honestly have meant
as a digit (DIGIT_LIKE below, an outlined circle or ellipse, a near-vertical
line). Calling those "not a digit" would teach the gate to refuse real 0s,
1s, 2s, 5s, 6s, 8s and 9s.
"""
import functools
import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

import config
from mnist_digits.errors import NoDigitFound
from mnist_digits.imaging.preprocessing import preprocess_image

# Font file paths (data/fonts: provenance and licences in its README.md).
TRAINING_FONTS = tuple(str(config.DEJAVU_FONT_DIR / name) for name in (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf"))
HELDOUT_FONTS = tuple(str(config.STIX_FONT_DIR / name) for name in (
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf")) + tuple(
    str(config.COMPUTER_MODERN_FONT_DIR / name) for name in (
        "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf", "cmti10.ttf", "cmb10.ttf"))
# Characters that, handwritten and squeezed into MNIST's 20x20 box, a person could
# honestly have meant as a digit, so calling them "not a digit" would be wrong:
#   0: O o D Q U      1: I l i j | ! / \ ( ) [ ]      2: Z z      5: S s $
#   6: b G            8: B                             9: g q a (a single-storey a)
# plus marks too small to be anything once enlarged: . , : ; ' " ` - _ ~
# Kept on purpose: T and 7 differ (T's bar sits on a vertical stem), and ? is not
# a 2 (its dot and open bottom).
DIGIT_LIKE = set("OoDQUIlij|!/\\()[]ZzSs$bGBgqa.,:;'\"`-_~")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
TRAINING_CHARS = "".join(c for c in LETTERS + "#@%&?*+<>=^{}" if c not in DIGIT_LIKE)
HELDOUT_CHARS = "".join(c for c in LETTERS + "#@%&?" if c not in DIGIT_LIKE)
# More training letters, in other hands: KaTeX's fonts (data/fonts/katex, as Gradio ships
# them for its math rendering). Only those with no Computer Modern counterpart: KaTeX's Main,
# Math, SansSerif and Typewriter are Computer Modern, which the held-out family uses.
# Script and Caligraphic have capitals only.
KATEX_CHARS = {"Script-Regular": LETTERS[:26], "Caligraphic-Regular": LETTERS[:26],
               "Caligraphic-Bold": LETTERS[:26], "Fraktur-Regular": LETTERS + "&?",
               "Fraktur-Bold": LETTERS + "&?"}
# Handwriting fonts (data/fonts/handwriting, provenance and licences there); Pillow reads WOFF.
HANDWRITING_FONTS = tuple(sorted(map(str, config.HANDWRITING_FONT_DIR.glob("*.woff"))))
GREEK = "πλΣΩΔψμ"            # held-out only, in the STIX fonts (ξ and ζ are left out: a 3 and a 5)
MIN_SIDE, MAX_SIDE = 40, 160    # canvas sizes, in pixels (bigger ones only cost time: preprocessing shrinks them)


# --- How a picture reaches us: ink on paper --------------------------------------------
def on_paper(ink, rng):
    """A (side, side) ink mask in [0, 1] -> what a user would send: uint8 array or JPEG bytes.

    Dark ink on white or grey paper (maybe lit from one side, maybe noisy) most of
    the time, light ink on a dark background sometimes; a fifth are JPEG files.
    Digits for the gate's positive examples go through this same function, so the
    paper, noise and compression never tell a digit from a non-digit.
    """
    ink = np.asarray(ink, np.float32)
    n = ink.shape[0]
    style = rng.random()
    if style < 0.15:                                    # light on dark (a screen, chalk)
        background = rng.uniform(0, 60)
        picture = background + (rng.uniform(190, 255) - background) * ink
    else:
        paper = np.full(ink.shape, rng.uniform(190, 255), np.float32)
        if style > 0.7:                                 # a photo: light falls off across the page
            angle = rng.uniform(0, 2 * np.pi)
            y, x = np.mgrid[0:n, 0:n] / max(n - 1, 1) - 0.5
            paper = paper - rng.uniform(20, 70) * (0.5 + x * np.cos(angle) + y * np.sin(angle))
        picture = paper * (1 - rng.uniform(0.6, 1.0) * ink)
    picture = picture + rng.normal(0, rng.uniform(0, 6), ink.shape)
    picture = np.clip(picture, 0, 255).astype(np.uint8)
    if rng.random() < 0.2:
        buf = io.BytesIO()
        Image.fromarray(picture).save(buf, format="JPEG", quality=int(rng.integers(30, 95)))
        return buf.getvalue()
    return picture


def _canvas(rng):
    side = int(rng.integers(MIN_SIDE, MAX_SIDE + 1))
    image = Image.new("L", (side, side), 0)
    return image, ImageDraw.Draw(image), side


def _pen(rng, side):
    """A stroke width like a pen's on a canvas of this size (MNIST: ~1/10 of the digit)."""
    return max(1, int(round(side * rng.uniform(0.03, 0.09))))


def _finish(image, rng):
    """Soften the drawn mask a little (pens are not pixel-sharp) and return it in [0, 1]."""
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    return np.asarray(image, np.float32) / 255.0


def _points(rng, side, k, margin=0.15):
    return rng.uniform(margin * side, (1 - margin) * side, size=(k, 2))


def _polyline(draw, points, width, closed=False):
    pts = [tuple(p) for p in points] + ([tuple(points[0])] if closed else [])
    draw.line(pts, fill=255, width=width, joint="curve")


# --- Glyphs (both families, different fonts) --------------------------------------------
@functools.lru_cache(maxsize=None)
def _font(path, size):
    return ImageFont.truetype(path, size=size)


@functools.lru_cache(maxsize=None)
def katex_font(name):
    """The path of one of the committed KaTeX fonts, e.g. "Script-Regular"."""
    path = config.KATEX_FONT_DIR / f"KaTeX_{name}.ttf"
    if not path.is_file():
        raise FileNotFoundError(f"the KaTeX font {name} is not in {config.KATEX_FONT_DIR}")
    return str(path)


def draw_glyph(rng, fonts, chars):
    """One character in one of `fonts`, at a random size, angle and place."""
    image, draw, side = _canvas(rng)
    char = chars[rng.integers(len(chars))]
    font = _font(fonts[rng.integers(len(fonts))], max(8, int(side * rng.uniform(0.4, 0.85))))
    stroke = int(rng.integers(0, max(1, side // 40) + 1))
    draw.text((side / 2, side / 2), char, fill=255, font=font, anchor="mm", stroke_width=stroke,
              stroke_fill=255)
    image = image.rotate(rng.uniform(-20, 20), resample=Image.BILINEAR)
    return _finish(image, rng)


def _training_glyph(rng):
    if rng.random() < 0.3:
        name = list(KATEX_CHARS)[rng.integers(len(KATEX_CHARS))]
        chars = "".join(c for c in KATEX_CHARS[name] if c not in DIGIT_LIKE)
        return draw_glyph(rng, (katex_font(name),), chars)
    return draw_glyph(rng, TRAINING_FONTS, TRAINING_CHARS)


def _handwritten_letter(rng):
    return draw_glyph(rng, HANDWRITING_FONTS, HELDOUT_CHARS)


def _heldout_glyph(rng):
    if rng.random() < 0.2:
        return draw_glyph(rng, HELDOUT_FONTS[:4], GREEK)     # only STIX has the Greek letters
    return draw_glyph(rng, HELDOUT_FONTS, HELDOUT_CHARS)


# --- Training family: scribbles, basic shapes, textures ---------------------------------
def _bezier(p0, p1, p2, steps=16):
    t = np.linspace(0, 1, steps)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2


def _scribble(rng):
    """A pen wandering: a random walk, smoothed by quadratic Beziers through its midpoints.
    Long enough to tangle (a short smooth walk is often a fair 2, 6 or 9)."""
    image, draw, side = _canvas(rng)
    k = int(rng.integers(10, 20))
    walk = np.cumsum(rng.normal(0, side * 0.25, size=(k, 2)), axis=0)
    walk = (walk - walk.min(0)) / np.maximum(np.ptp(walk, 0), 1e-6)
    walk = side * (0.15 + 0.7 * walk)
    mids = (walk[:-1] + walk[1:]) / 2
    curve = np.concatenate([_bezier(mids[i], walk[i + 1], mids[i + 1]) for i in range(len(mids) - 1)])
    _polyline(draw, curve, _pen(rng, side))
    return _finish(image, rng)


def _coil(rng):
    """A pen looping along like a coil or a telephone cord (doodling, crossing out):
    3-6 loops, each shifted sideways. Loops drawn in place would make a thick 0."""
    image, draw, side = _canvas(rng)
    laps = rng.uniform(3, 6)
    t = np.linspace(0, 2 * np.pi * laps, int(100 * laps))
    r = side * rng.uniform(0.06, 0.1) * (1 + 0.2 * np.sin(t * rng.uniform(0.1, 0.4)))
    x = side * 0.12 + r[0] + (side * 0.76 - 2 * r[0]) * t / t[-1] + r * np.cos(t)
    y = side / 2 + r * rng.uniform(1.5, 3) * np.sin(t)
    _polyline(draw, np.stack([x, y], 1), max(1, _pen(rng, side) // 2))
    return _finish(image.rotate(rng.uniform(-40, 40), resample=Image.BILINEAR), rng)


def _basic_shape(rng):
    """A square, filled disc, marked circle, triangle, cross or a few lines. No plain
    outlined circle (a 0) and no slanted line (a 1): lines stay within 20 degrees of
    horizontal."""
    image, draw, side = _canvas(rng)
    width, kind = _pen(rng, side), rng.integers(6)
    lo, hi = side * rng.uniform(0.1, 0.3), side * rng.uniform(0.7, 0.9)
    if kind == 0:
        draw.rectangle([lo, lo, hi, hi], outline=255, width=width, fill=255 if rng.random() < 0.3 else None)
    elif kind == 1:
        draw.ellipse([lo, lo, hi, hi * rng.uniform(0.8, 1.0)], fill=255)
    elif kind == 2:
        _marked_circle(draw, rng, lo, hi, width)
    elif kind == 3:
        _polyline(draw, _points(rng, side, 3), width, closed=True)
    elif kind == 4:
        c, r = side / 2, (hi - lo) / 2
        a = rng.uniform(0, np.pi / 2)
        for t in (a, a + np.pi / 2):
            d = r * np.array([np.cos(t), np.sin(t)])
            draw.line([tuple(c - d), tuple(c + d)], fill=255, width=width)
    else:
        for _ in range(int(rng.integers(1, 4))):
            angle = rng.uniform(-np.pi / 9, np.pi / 9)
            c, r = _points(rng, side, 1, 0.3)[0], side * rng.uniform(0.2, 0.45)
            d = r * np.array([np.cos(angle), np.sin(angle)])
            draw.line([tuple(c - d), tuple(c + d)], fill=255, width=width)
    return _finish(image, rng)


def _marked_circle(draw, rng, lo, hi, width):
    """A circle with something inside (a dot, a cross, a bar, a second ring): round
    like a 0, but a 0 is empty, so the gate must look inside."""
    draw.ellipse([lo, lo, hi, hi], outline=255, width=width)
    c, r = (lo + hi) / 2, (hi - lo) / 2
    mark = rng.integers(4)
    if mark == 0:
        e = r * rng.uniform(0.15, 0.3)
        draw.ellipse([c - e, c - e, c + e, c + e], fill=255)
    elif mark == 1:
        e = r * 0.5
        draw.ellipse([c - e, c - e, c + e, c + e], outline=255, width=width)
    else:
        a = rng.uniform(0, np.pi)
        for t in ((a,) if mark == 2 else (a, a + np.pi / 2)):
            d = r * np.array([np.cos(t), np.sin(t)])
            draw.line([tuple(c - d), tuple(c + d)], fill=255, width=width)


def _contour(rng):
    """A closed outline that is not an oval: corners, dents and bulges at random angles
    (a blot's edge, a leaf, a badge, a cut-out), outlined or filled, turned any way.
    An oval is a 0, so the radius varies by at least a third around the shape."""
    image, draw, side = _canvas(rng)
    k = int(rng.integers(3, 10))
    t = (np.arange(k) + rng.uniform(0.1, 0.9, k)) * 2 * np.pi / k     # spread around: no slivers (1s)
    r = rng.uniform(0.35, 1.0, k)
    r[rng.integers(k)], r[np.argmin(r)] = 1.0, min(r.min(), rng.uniform(0.35, 0.66))
    corners = np.stack([np.cos(t), np.sin(t) * rng.uniform(0.6, 1.0)], 1) * r[:, None] * side * 0.42 + side / 2
    edges = []
    for p0, p1 in zip(corners, np.roll(corners, -1, axis=0)):
        bulge = rng.uniform(-0.5, 0.5) if rng.random() < 0.6 else 0.0       # curved or straight
        normal = np.array([p1[1] - p0[1], p0[0] - p1[0]])
        edges.append(_bezier(p0, (p0 + p1) / 2 + bulge * normal, p1))
    outline = np.concatenate(edges)
    if rng.random() < 0.4:
        draw.polygon([tuple(p) for p in outline], fill=255)
    else:
        _polyline(draw, outline, _pen(rng, side), closed=True)
    return _finish(image.rotate(rng.uniform(0, 360), resample=Image.BILINEAR), rng)


def _texture(rng):
    """Blobs: smooth random noise, thresholded (a stain, a smudge, a patterned cloth)."""
    side = int(rng.integers(MIN_SIDE, MAX_SIDE + 1))
    grid = rng.normal(size=(int(rng.integers(5, 12)),) * 2)   # several blobs: a lone one can be a 0 or a 1
    field = np.asarray(Image.fromarray(grid.astype(np.float32)).resize((side, side), Image.BICUBIC))
    ink = (field > np.quantile(field, rng.uniform(0.5, 0.85))).astype(np.uint8) * 255
    return _finish(Image.fromarray(ink), rng)


# --- Held-out family: other strokes, other shapes -----------------------------------------
def _spiral(rng):
    image, draw, side = _canvas(rng)
    t = np.linspace(0, 2 * np.pi * rng.uniform(2, 4), 200)
    r = side * 0.42 * t / t[-1]
    sign = rng.choice([-1, 1])
    _polyline(draw, np.stack([side / 2 + r * np.cos(sign * t), side / 2 + r * np.sin(t)], 1), _pen(rng, side))
    return _finish(image, rng)


def _zigzag(rng):
    image, draw, side = _canvas(rng)
    k = int(rng.integers(5, 10))
    x = np.linspace(0.1, 0.9, k) * side
    y = np.where(np.arange(k) % 2, 0.25, 0.75) * side + rng.normal(0, side * 0.04, k)
    _polyline(draw, np.stack([x, y], 1), _pen(rng, side))
    return _finish(image, rng)


def _hatching(rng):
    image, draw, side = _canvas(rng)
    width = max(1, _pen(rng, side) // 2)
    for angle in rng.uniform(0, np.pi, size=int(rng.integers(1, 3))):
        d = np.array([np.cos(angle), np.sin(angle)]) * side * 0.35
        normal = np.array([-d[1], d[0]]) / np.linalg.norm(d)
        for offset in np.linspace(-0.3, 0.3, int(rng.integers(4, 9))) * side:
            c = side / 2 + normal * offset
            draw.line([tuple(c - d), tuple(c + d)], fill=255, width=width)
    return _finish(image, rng)


def _sine_scrawl(rng):
    image, draw, side = _canvas(rng)
    x = np.linspace(0.1, 0.9, 120)
    y = 0.5 + rng.uniform(0.1, 0.25) * np.sin(2 * np.pi * rng.uniform(2, 5) * x + rng.uniform(0, 6))
    _polyline(draw, np.stack([x, y], 1) * side, _pen(rng, side))
    return _finish(image.rotate(rng.uniform(-30, 30), resample=Image.BILINEAR), rng)


def _star(rng):
    image, draw, side = _canvas(rng)
    k = int(rng.integers(5, 8))
    t = np.linspace(0, 2 * np.pi, 2 * k, endpoint=False) + rng.uniform(0, np.pi)
    r = np.where(np.arange(2 * k) % 2, side * 0.18, side * 0.42)
    pts = np.stack([side / 2 + r * np.cos(t), side / 2 + r * np.sin(t)], 1)
    if rng.random() < 0.3:
        draw.polygon([tuple(p) for p in pts], fill=255)
    else:
        _polyline(draw, pts, _pen(rng, side), closed=True)
    return _finish(image, rng)


def _smiley(rng):
    image, draw, side = _canvas(rng)
    width, r = _pen(rng, side), side * 0.4
    c = side / 2
    draw.ellipse([c - r, c - r, c + r, c + r], outline=255, width=width)
    for ex in (-0.35, 0.35):
        e = side * 0.05
        draw.ellipse([c + ex * r - e, c - 0.3 * r - e, c + ex * r + e, c - 0.3 * r + e], fill=255)
    sad = rng.random() < 0.3
    box = [c - 0.5 * r, c + (0.3 if sad else -0.1) * r, c + 0.5 * r, c + (0.9 if sad else 0.5) * r]
    draw.arc(box, 200 if sad else 20, 340 if sad else 160, fill=255, width=width)
    return _finish(image, rng)


def _arrow(rng):
    image, draw, side = _canvas(rng)
    width = _pen(rng, side)
    # Within 50 degrees of horizontal: pointing up or down it is a 1 with a flag.
    angle = rng.uniform(-np.pi * 5 / 18, np.pi * 5 / 18) + np.pi * rng.integers(2)
    d = np.array([np.cos(angle), np.sin(angle)]) * side * 0.38
    tail, head = side / 2 - d, side / 2 + d
    draw.line([tuple(tail), tuple(head)], fill=255, width=width)
    for turn in (2.6, -2.6):
        rot = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
        draw.line([tuple(head), tuple(head + 0.4 * rot @ d)], fill=255, width=width)
    return _finish(image, rng)


def _polygon(rng):
    """A pentagon to octagon with jittered corners, filled or hatched-through."""
    image, draw, side = _canvas(rng)
    k = int(rng.integers(5, 9))
    t = np.sort(rng.uniform(0, 2 * np.pi, k))
    r = side * rng.uniform(0.3, 0.45, k)
    pts = [tuple(p) for p in np.stack([side / 2 + r * np.cos(t), side / 2 + r * np.sin(t)], 1)]
    draw.polygon(pts, fill=255)
    if rng.random() < 0.5:                       # a window in it: a polygon outline with a bar
        _polyline(draw, [pts[0], pts[k // 2]], _pen(rng, side))
        inner = [tuple(side / 2 + 0.5 * (np.array(p) - side / 2)) for p in pts]
        draw.polygon(inner, fill=0)
    return _finish(image, rng)


def _heart(rng):
    image, draw, side = _canvas(rng)
    t = np.linspace(0, 2 * np.pi, 200)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    pts = np.stack([x, y], 1) / 36 * side + side / 2
    if rng.random() < 0.4:
        draw.polygon([tuple(p) for p in pts], fill=255)
    else:
        _polyline(draw, pts, _pen(rng, side), closed=True)
    return _finish(image, rng)


FAMILIES = {
    "training": {"glyph": _training_glyph, "scribble": _scribble, "coil": _coil,
                 "shape": _basic_shape, "contour": _contour, "texture": _texture},
    "heldout": {"glyph": _heldout_glyph, "spiral": _spiral, "zigzag": _zigzag, "hatching": _hatching,
                "sine scrawl": _sine_scrawl, "star": _star, "smiley": _smiley, "arrow": _arrow,
                "polygon": _polygon, "heart": _heart},
    "handwriting": {"glyph": _handwritten_letter},
}
# Glyphs are the most varied kind (and what users most often send instead of a digit).
_GLYPH_SHARE = {"training": 0.5, "heldout": 0.4, "handwriting": 1.0}


# --- Public API --------------------------------------------------------------------------
def make_non_digits(family, n, seed):
    """n pictures of one family and the kind of each: (list of uint8 arrays or JPEG bytes, kinds).

    Picture i depends only on (family, seed, i), so a shorter run is a prefix of a longer one.
    """
    makers = FAMILIES[family]
    kinds = list(makers)
    share = _GLYPH_SHARE[family]
    weights = np.array([share] + [(1 - share) / max(len(kinds) - 1, 1)] * (len(kinds) - 1))
    family_id = list(FAMILIES).index(family)
    pictures, chosen = [], []
    for i in range(n):
        rng = np.random.default_rng([seed, family_id, i])
        kind = kinds[rng.choice(len(kinds), p=weights)]
        pictures.append(on_paper(makers[kind](rng), rng))
        chosen.append(kind)
    return pictures, chosen


def training_non_digits(n, seed):
    """n training-family pictures (DejaVu glyphs, scribbles, basic shapes, textures)."""
    return make_non_digits("training", n, seed)[0]


def to_model_inputs(pictures):
    """Preprocess like serving does: (float32 (M, 28, 28, 1), bool mask of the N pictures kept).

    A picture the preprocessor finds blank (NoDigitFound) is refused before the
    model ever sees it, which for a non-digit is the right answer.
    """
    inputs, kept = [], np.zeros(len(pictures), bool)
    for i, picture in enumerate(pictures):
        try:
            inputs.append(preprocess_image(picture, "enhanced"))
            kept[i] = True
        except NoDigitFound:
            pass
    batch = np.stack(inputs) if inputs else np.zeros((0, 28, 28, 1), np.float32)
    return batch, kept
