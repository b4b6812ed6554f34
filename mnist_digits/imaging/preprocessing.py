"""Turn any image of a digit into what the model was trained on.

MNIST digits are light ink on black, fitted into a 20x20 box (aspect ratio
kept), then shifted so their centre of mass sits at the middle of a 28x28
frame. Real inputs are dark ink on paper, photos with grey paper and shadows,
small scans, canvases with the digit in one corner, transparent PNGs.
`preprocess_image(image, "enhanced")` undoes those differences; `"basic"` is
the naive resize (grayscale, 28x28, scale), kept as the baseline to compare.

The enhanced pipeline, in order:
  1. decode (decoding.py): any bytes, PIL image or array -> grey, as drawn;
  2. polarity: the border is mostly paper, so a light border means dark ink
     on light paper, which is inverted (MNIST is light ink on black);
  3. paper: a smooth quadratic surface fitted to the paper (ink rejected as
     outliers) plus, on photos, its sharp-edged shadows (a wide opening), both
     subtracted, so grey paper, a lighting gradient or a shadow become black;
  4. ink: noise measured on the paper, everything below a few sigmas zeroed,
     the ink stretched so stroke centres reach 1.0 like MNIST's;
  5. locate the digit on a small copy of the page, then cut it from the full
     picture (so a small digit in a corner of a big page keeps its detail);
     isolated specks are ignored when cropping to the ink;
  6. bring the stroke width near MNIST's (a fine pen is thickened, a felt-tip
     thinned), fit into 20x20 keeping the aspect ratio (anti-aliased), and
     place it so the centre of mass sits at the centre of 28x28 (zero-filled).

Numpy and Pillow only, and fast: it runs on every request.
"""
import functools
from typing import NamedTuple

import numpy as np
from PIL import Image

import config
from mnist_digits.imaging.decoding import box_reduce, ceil_div, shrink_factor, to_grayscale
from mnist_digits.errors import InvalidInput, NoDigitFound

PREPROCESS_MODES = ("enhanced", "basic")
SIZE = config.IMAGE_SIZE        # 28
BOX = 20                        # MNIST fits each digit into 20x20
# Where MNIST puts the centre of mass, in (row, col) pixel indices: the mean
# over the test set is (13.99, 14.01), i.e. the middle of the 28x28 field.
CENTER = SIZE / 2
FIND_SIDE = 96                  # the digit is found on a copy shrunk to about this size,
DETAIL_SIDE = 4 * BOX           # then cut from the full picture at up to this size
COARSE_SIDE = 16                # grid the paper's background surface is fitted on
MIN_CONTRAST = 24.0             # ink must stand this many grey levels above the paper...
MIN_SNR = 6.0                   # ...and this many noise sigmas
NOISE_SIGMAS = 4.0              # ink below this many sigmas of paper noise is noise
SHADOW_WINDOW = 0.25            # shadows: opening window, as a fraction of the page's short side,
SHADOW_MIN_SIDE = 48            # on pages at least this big (a small scan has no shadows)
# Stroke width in the 20x20 box (2 * area / perimeter of the ink; MNIST test
# digits: 5th-95th percentile 1.3-2.9, median 1.8). Outside the band it is
# brought to TARGET. The band was chosen on the training run's validation
# split (the last 5000 training images), never on the test set.
MIN_STROKE, TARGET_STROKE, MAX_STROKE = 1.4, 2.2, 2.6
NO_DIGIT = "no digit found in the image: it looks blank (send a dark digit on light paper or a light digit on dark)"


def _median(a):
    """np.median of a 1-D array, the same value (its dtype's arithmetic), without
    np.median's generic machinery, which costs more than the work on small arrays."""
    n = a.size
    k = n // 2
    if n % 2:
        return np.partition(a, k)[k]
    part = np.partition(a, (k - 1, k))
    if np.issubdtype(a.dtype, np.integer):   # np.median averages integers in float64
        return (float(part[k - 1]) + float(part[k])) / 2
    return (part[k - 1] + part[k]) / 2


# --- basic: the naive baseline -------------------------------------------------------
def _basic(gray):
    """Resize the whole picture to 28x28 and scale to [0, 1]; nothing else (but a
    blank picture is refused, as in enhanced: a flat square is no digit)."""
    if float(gray.max()) - float(gray.min()) < MIN_CONTRAST:
        raise NoDigitFound(NO_DIGIT)
    image = Image.fromarray(gray.astype(np.float32), "F").resize((SIZE, SIZE), Image.BILINEAR)
    return np.clip(np.asarray(image) / 255.0, 0.0, 1.0)


# --- enhanced, steps 2-4: grey picture -> ink map in [0, 1] ---------------------------
def _light_paper(gray):
    """True when the picture is dark ink on light paper (the border is mostly paper)."""
    lo, hi = float(gray.min()), float(gray.max())
    if hi - lo < MIN_CONTRAST:
        raise NoDigitFound(NO_DIGIT)
    border = np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])
    return float(_median(border)) > (lo + hi) / 2


def _pool(a, factor, reduce):
    """Shrink by an integer factor: block max (np.maximum) keeps hairlines, block
    mean (np.add, then divided) keeps area. Strided slices are much faster than a
    reshape-and-reduce over two axes. The last partial block is dropped."""
    h, w = a.shape
    if h < factor or w < factor:            # a sliver: stretch its edge to one whole block
        a = np.pad(a, ((0, max(factor - h, 0)), (0, max(factor - w, 0))), mode="edge")
        h, w = a.shape
    a = a[:h - h % factor, :w - w % factor]
    rows = functools.reduce(reduce, [a[i::factor] for i in range(factor)])
    out = functools.reduce(reduce, [rows[:, j::factor] for j in range(factor)])
    return out / (factor * factor) if reduce is np.add else out


def _block_max(region, factor):
    """float32 copy of `region` shrunk by block max, the last partial block edge-padded
    (same size as box_reduce gives): keeps a fine pen's lines whole."""
    h, w = region.shape
    padded = np.pad(region, ((0, -h % factor), (0, -w % factor)), mode="edge")
    return _pool(padded, factor, np.maximum).astype(np.float32)


def _axis(start, n, step, total):
    """Positions in [-1, 1] of n pixels, each `step` source pixels wide, starting at
    source pixel `start` of a `total`-pixel side: the same paper surface can then be
    evaluated at any resolution and on any cut-out."""
    return ((start + (np.arange(n, dtype=np.float32) + 0.5) * step) / total * 2.0 - 1.0).astype(np.float32)


def _basis(ys, xs):
    """The six quadratic terms, as (row, column) broadcastable arrays."""
    y, x = ys[:, None], xs[None, :]
    return [np.ones_like(y * x), x, y, x * x, x * y, y * y]


def _block_means(v, n, factor):
    """Positions of n coarse pixels: the mean of the `factor` fine ones each covers."""
    if len(v) < n * factor:                  # a sliver padded up to one block
        return np.full(n, v.mean(), np.float32)
    return v[:n * factor].reshape(n, factor).mean(axis=1)


# Degrees in (x, y) of the surface's terms, in _basis's order: 1, x, y, x², xy, y².
_TERM_DEGREES = ((0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2))


def _pinned_terms(terms, basis, keep):
    """Which of the first `terms` terms the kept pixels pin down. A term of degree d
    along an axis needs d + 1 distinct positions on it: over one column a slope is
    free, between two a quadratic bends freely, and either invents ink on a sliver
    a few pixels wide (the paper is then fitted with the terms that are pinned)."""
    nx, ny = np.unique(basis[keep, 1]).size, np.unique(basis[keep, 2]).size
    return [i for i, (dx, dy) in enumerate(_TERM_DEGREES[:terms]) if dx < nx and dy < ny]


def _fit_background(gray, ys, xs):
    """Coefficients of a quadratic surface through the paper, ink rejected as outliers.
    A quadratic follows the smooth fall-off of light across a photographed page."""
    factor = ceil_div(min(gray.shape), COARSE_SIDE)   # the short side keeps ~COARSE_SIDE cells
    coarse = _pool(gray, factor, np.add) if factor > 1 else gray
    values = coarse.ravel()
    # Start from the darkest third (paper, after polarity) and refit on whatever
    # lies near the surface. The spread comes from the pixels *below* it, which
    # are noise only: ink always lies above, however much of the frame it fills.
    k = int(0.35 * (values.size - 1))
    keep = values <= np.partition(values, k)[k]
    coef = np.zeros(6, np.float32)
    if np.ptp(values[keep]) == 0:           # flat, noiseless paper (a digital drawing): done
        coef[0] = values[keep].max()
        return coef
    if factor > 1:
        ys, xs = _block_means(ys, coarse.shape[0], factor), _block_means(xs, coarse.shape[1], factor)
    basis = np.stack([np.broadcast_to(t, coarse.shape).ravel() for t in _basis(ys, xs)], axis=1)
    # The first fit is a plane: the darkest third can sit all on one side of the
    # page, and a quadratic through one side extrapolates wildly to the other.
    for terms in (3, 6, 6):
        cols = _pinned_terms(terms, basis, keep)
        kept = basis[keep][:, cols]   # least squares via the normal equations (a tiny ridge keeps them solvable)
        coef = np.zeros(6)
        coef[cols] = np.linalg.solve(kept.T @ kept + 1e-3 * np.eye(len(cols)), kept.T @ values[keep])
        residual = values - basis @ coef
        below = residual[residual < 0]
        # Below the surface is noise only, a half-normal: sigma = sqrt(pi / 2) * mean |r|.
        spread = (1.2533 * float(-below.mean()) if below.size else 0.0) + 1.0
        keep = residual < 2.5 * spread
        if keep.sum() < 6:
            break
    return coef.astype(np.float32)


def _surface(coef, ys, xs):
    """The paper's brightness at the given positions (a scalar when it is flat)."""
    if not coef[1:].any():
        return coef[0]
    return ((coef[0] + coef[1] * xs + coef[3] * xs * xs)[None, :] + (coef[2] * ys + coef[5] * ys * ys)[:, None]
            + coef[4] * np.outer(ys, xs))


def _shadows(rest, ys, xs):
    """Broad bright regions the smooth surface cannot follow (a shadow's edge, a
    fold), as a coarse grid and its pixel positions. An opening (min, then max
    filter) a fraction of the page wide keeps them and drops the strokes, which
    are much narrower. A coarse copy is enough at the scale of the window."""
    f = max(1, min(rest.shape) // 24)       # ~24 cells across the short side
    if f > 1:
        rest = _pool(rest, f, np.add)
        ys, xs = _block_means(ys, rest.shape[0], f), _block_means(xs, rest.shape[1], f)
    r = max(1, int(min(rest.shape) * SHADOW_WINDOW / 2))
    opened = _square_filter(np.pad(rest, r, mode="edge"), r, np.minimum)
    opened = _square_filter(np.pad(opened, r, mode="edge"), r, np.maximum)
    return opened, ys, xs


def _interpolation(grid_pos, pos):
    """Matrix that linearly interpolates values at `grid_pos` (sorted) to `pos`."""
    weights = np.zeros((len(pos), len(grid_pos)), np.float32)
    if len(grid_pos) == 1:
        weights[:, 0] = 1.0
        return weights
    i = np.clip(np.searchsorted(grid_pos, pos) - 1, 0, len(grid_pos) - 2)
    t = np.clip((pos - grid_pos[i]) / (grid_pos[i + 1] - grid_pos[i]), 0.0, 1.0)
    rows = np.arange(len(pos))
    weights[rows, i] = 1.0 - t
    weights[rows, i + 1] += t
    return weights


def _fit_paper(small, ys, xs):
    """The paper's brightness over the whole page, fitted on the small copy, as a
    function of (row, column) positions, so it can be evaluated on any cut-out:
    a smooth quadratic surface plus, for real paper, its sharp-edged shadows."""
    coef = _fit_background(small, ys, xs)
    if not coef[1:].any():                  # flat paper of a digital drawing
        return lambda ys, xs: coef[0]
    if min(small.shape) < SHADOW_MIN_SIDE:   # a small scan: its strokes are too wide for the window
        return lambda ys, xs: _surface(coef, ys, xs)
    grid, gy, gx = _shadows(small - _surface(coef, ys, xs), ys, xs)
    return lambda ys, xs: (_surface(coef, ys, xs)
                           + _interpolation(gy, ys) @ grid @ _interpolation(gx, xs).T)


def _ink_map(gray, paper):
    """Ink intensity in [0, 1] of a light-on-dark picture: the paper surface
    subtracted, noise zeroed, strokes stretched so their centres reach 1 (as MNIST's do)."""
    ink = gray - paper
    # Paper noise from the pixels below the fitted paper surface: ink only ever
    # lies above it, so these are pure noise (a half-normal: sigma = 1.48 * median).
    step = max(1, int(np.sqrt(ink.size / 4096)))
    below = ink[::step, ::step]
    below = below[below < 0]
    noise = 1.4826 * float(_median(-below)) if below.size else 0.0
    peak = float(ink.max())
    if peak < max(MIN_CONTRAST, MIN_SNR * noise):
        raise NoDigitFound(NO_DIGIT)
    level = float(_median(ink[ink > peak / 2]))   # what the bright half of the ink reaches
    floor = max(NOISE_SIGMAS * noise, 0.04 * level)   # noise, and the faint halo JPEG rings around strokes
    return np.clip((ink - floor) / max(level - floor, 1e-6), 0.0, 1.0)


def _box3(a):
    """3x3 mean, outside the frame counted as 0 (a cheap 'does this pixel have ink around it')."""
    rows = a.copy()
    rows[1:] += a[:-1]
    rows[:-1] += a[1:]
    out = rows.copy()
    out[:, 1:] += rows[:, :-1]
    out[:, :-1] += rows[:, 1:]
    out /= 9.0
    return out


def _span(profile, eps):
    """First and last index holding the profile's mass, ignoring `eps` of it at each end."""
    cum = np.cumsum(profile)
    total = cum[-1]
    return int(np.searchsorted(cum, eps * total, side="right")), int(np.searchsorted(cum, (1 - eps) * total))


class Box(NamedTuple):
    """Rows top..bottom and columns left..right, inclusive."""
    top: int
    bottom: int
    left: int
    right: int

    @property
    def side(self):
        return max(self.bottom - self.top, self.right - self.left) + 1

    def crop(self, a):
        return a[self.top:self.bottom + 1, self.left:self.right + 1]


def _ink_box(ink):
    """The Box around the ink; isolated specks (noise, dust) ignored, since they
    have little ink around them and strokes have plenty."""
    supported = ink * (_box3(ink) > 0.12)
    if supported.sum() < 1.0:
        raise NoDigitFound(NO_DIGIT)
    top, bottom = _span(supported.sum(axis=1), 0.001)
    left, right = _span(supported.sum(axis=0), 0.001)
    return Box(top, bottom, left, right)


def _stroke_width(ink):
    """Mean stroke width in pixels: 2 * area / perimeter of the thresholded ink."""
    mask = ink > 0.5
    area = mask.sum()
    edges = np.count_nonzero(mask[1:] != mask[:-1]) + np.count_nonzero(mask[:, 1:] != mask[:, :-1])
    edges += mask[0].sum() + mask[-1].sum() + mask[:, 0].sum() + mask[:, -1].sum()
    return 2.0 * area / max(edges, 1)


def _normalise_strokes(crop):
    """Bring the stroke width near MNIST's: a fine pen on a big canvas would shrink
    to a faint hairline, a felt-tip to a blob. Dilate or erode (max/min filter)
    at about 4x the final size, where one filter step is a quarter pixel."""
    width = _stroke_width(crop) * BOX / max(crop.shape)
    if MIN_STROKE <= width <= MAX_STROKE:
        return crop
    side = max(crop.shape)                  # at most DETAIL_SIDE
    if side < DETAIL_SIDE:                  # upsample small crops: finer filter steps
        f = DETAIL_SIDE / side
        crop = np.asarray(Image.fromarray(crop, "F").resize(
            (max(1, round(crop.shape[1] * f)), max(1, round(crop.shape[0] * f))), Image.BILINEAR))
    scale = BOX / max(crop.shape)
    change = (TARGET_STROKE - _stroke_width(crop) * scale) / scale   # in crop pixels, both sides
    radius = min(int(round(abs(change) / 2)), 4)
    if radius:
        crop = _dilate(crop, radius) if change > 0 else _erode(crop, radius)
    return crop


def _square_filter(a, radius, op):
    """Max (op=np.maximum) or min (np.minimum) over a (2r+1)^2 square, done as two
    1-D passes of shifted slices; the output is `radius` smaller on every side."""
    k = 2 * radius + 1
    h, w = a.shape[0] - 2 * radius, a.shape[1] - 2 * radius
    rows = functools.reduce(op, [a[i:i + h] for i in range(k)])
    return functools.reduce(op, [rows[:, j:j + w] for j in range(k)])


def max_filter(a, radius):
    """The max over the (2r+1)^2 square around each pixel, same shape, outside the
    frame counted as 0 (the number reader grows its label map with it)."""
    return _square_filter(np.pad(a, radius), radius, np.maximum)


def _dilate(ink, radius):
    """Grown strokes; the frame grows too, so nothing is cut off."""
    return _square_filter(np.pad(ink, 2 * radius), radius, np.maximum)


def _erode(ink, radius):
    """Thinned strokes; outside the crop is paper (0)."""
    return _square_filter(np.pad(ink, radius), radius, np.minimum)


def _fit_box(crop):
    """Fit into BOX x BOX keeping the aspect ratio; LANCZOS (reducing when
    shrinking) anti-aliases like MNIST's own normalisation."""
    h, w = crop.shape
    scale = BOX / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    resized = Image.fromarray(crop.astype(np.float32), "F").resize((new_w, new_h), Image.LANCZOS)
    return np.clip(np.asarray(resized), 0.0, 1.0)


def _center_of_mass(a):
    total = a.sum()
    return (float(a.sum(axis=1) @ np.arange(a.shape[0])) / total,
            float(a.sum(axis=0) @ np.arange(a.shape[1])) / total)


def _is_centred(image):
    cy, cx = _center_of_mass(image)
    return abs(cy - CENTER) <= 1.0 and abs(cx - CENTER) <= 1.0


def _place_centred(digit):
    """Put `digit` on a black 28x28 so its centre of mass lands on CENTER (zero-filled shift)."""
    if digit.sum() <= 0:
        raise NoDigitFound(NO_DIGIT)
    cy, cx = _center_of_mass(digit)
    top, left = int(round(CENTER - cy)), int(round(CENTER - cx))
    h, w = digit.shape
    canvas = np.zeros((SIZE, SIZE), np.float32)
    # Paste with clipping: whatever would fall outside the frame is dropped, not wrapped.
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, SIZE), min(left + w, SIZE)
    canvas[y0:y1, x0:x1] = digit[y0 - top:y1 - top, x0 - left:x1 - left]
    return canvas


class _Picture(NamedTuple):
    """What the ink is measured on: grey pixels, the paper under them, and whether
    the pixels are the picture's own (full resolution) or a shrunk copy's."""
    pixels: np.ndarray
    paper: object        # a scalar for flat paper, else an array like `pixels`
    own_pixels: bool


def _page_paper(gray, reduce=np.maximum):
    """The paper of a light-ink page, fitted once on a copy shrunk to about FIND_SIDE
    (by block max, so a fine pen on a big page still shows, or block mean: np.add).
    -> (the small copy, its (row, column) positions, the shrink factor, the paper function)."""
    h, w = gray.shape
    factor = shrink_factor(h, w, FIND_SIDE)
    small = (_pool(gray, factor, reduce) if factor > 1 else gray).astype(np.float32)
    ys, xs = _axis(0, small.shape[0], factor, h), _axis(0, small.shape[1], factor, w)
    return small, ys, xs, factor, _fit_paper(small, ys, xs)


def _find_digit(gray):
    """Locate the digit on the small copy of the page.
    -> (picture, its ink, the ink's Box, the shrink factor, the paper function)."""
    small, ys, xs, factor, paper = _page_paper(gray)
    picture = _Picture(small, paper(ys, xs), own_pixels=factor == 1)
    ink = _ink_map(picture.pixels, picture.paper)
    return picture, ink, _ink_box(ink), factor, paper


def _cut_detail(gray, paper, box, factor):
    """Cut the digit found at 1/`factor` scale (with one small pixel of margin) from
    the full picture and redo its ink at up to DETAIL_SIDE, enough for the 20x20 box."""
    h, w = gray.shape
    y0, y1 = max(box.top - 1, 0) * factor, min((box.bottom + 2) * factor, h)
    x0, x1 = max(box.left - 1, 0) * factor, min((box.right + 2) * factor, w)
    region = gray[y0:y1, x0:x1]
    g = shrink_factor(*region.shape, DETAIL_SIDE)
    ys, xs = _axis(y0, ceil_div(region.shape[0], g), g, h), _axis(x0, ceil_div(region.shape[1], g), g, w)
    pixels = box_reduce(region, g).astype(np.float32) if g > 1 else region.astype(np.float32)
    picture = _Picture(pixels, paper(ys, xs), own_pixels=g == 1)
    ink = _ink_map(picture.pixels, picture.paper)
    if g > 1 and _stroke_width(ink) < 1.5:
        # A fine pen: averaging broke its lines into faint dashes. Block max keeps them whole.
        picture = picture._replace(pixels=_block_max(region, g))
        ink = _ink_map(picture.pixels, picture.paper)
    return picture, ink, _ink_box(ink)


def _enhanced(gray):
    if _light_paper(gray):                  # make the ink the bright part, as in MNIST
        gray = 255 - gray                   # (uint8 stays uint8: full-size steps stay cheap)
    picture, ink, box, factor, paper = _find_digit(gray)
    if factor > 1:
        picture, ink, box = _cut_detail(gray, paper, box, factor)
    if box.side == BOX and np.ndim(picture.paper) == 0 and picture.own_pixels:
        return _keep_as_drawn(picture, box)
    return _place_centred(_fit_box(_normalise_strokes(box.crop(ink))))


def _keep_as_drawn(picture, box):
    """A digit already 20 px on plain paper (an MNIST digit, a small drawing):
    resampling could only blur it, and its own grey levels (darkest = 1) are what
    MNIST has, so it is only cropped and centred (and a 28x28 one that already
    is, passes through untouched: preprocessing MNIST gives MNIST back)."""
    digit = np.clip(picture.pixels - picture.paper, 0, None)
    digit = digit / digit.max()
    if digit.shape == (SIZE, SIZE) and _is_centred(digit):
        return digit
    return _place_centred(box.crop(digit))


# --- Public API -----------------------------------------------------------------------
def check_mode(mode):
    """The preprocessing mode to use (None means the default), or InvalidInput."""
    mode = "enhanced" if mode is None else mode
    if mode not in PREPROCESS_MODES:
        raise InvalidInput(f"preprocess must be one of {list(PREPROCESS_MODES)}, got {mode!r}")
    return mode


def page_ink(image):
    """Any picture (bytes, PIL image or array) -> its ink in [0, 1] (float32, light ink
    on black) at the decoded picture's resolution (decoding.py may have shrunk it). The same
    polarity, paper, shadow and noise steps as one digit gets, over the whole page:
    what reading a number (mnist_digits.reading) segments. NoDigitFound when blank."""
    gray = to_grayscale(image)
    page = (255 - gray if _light_paper(gray) else gray).astype(np.float32)   # float: block sums overflow uint8
    h, w = page.shape
    # Block mean: a row of digits fills far more of a block-max copy than one digit does,
    # and the paper fit starts from the darkest third of it.
    paper = _page_paper(page, np.add)[-1]
    return _ink_map(page, paper(_axis(0, h, 1, h), _axis(0, w, 1, w)))


def to_model_input(images):
    """uint8 MNIST-style digits (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1]:
    what the model takes (and what preprocess_image returns for one picture)."""
    return (np.asarray(images).astype(np.float32) / 255.0)[..., None]


def preprocess_image(image, mode="enhanced"):
    """Any image of one digit -> float32 (28, 28, 1) in [0, 1], white digit on black.

    `image`: a PIL image, raw bytes of a common format, or a 2-D/3-D array
    (0-255 or 0-1). Raises InvalidImage for undecodable input, NoDigitFound for
    a blank image, PayloadTooLarge for an image over MAX_IMAGE_PIXELS.
    """
    mode = check_mode(mode)
    gray = to_grayscale(image)
    out = _basic(gray) if mode == "basic" else _enhanced(gray)
    return out.astype(np.float32)[..., None]
