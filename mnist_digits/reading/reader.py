"""Read a whole handwritten number ("2026") from a picture, left to right.

    from utils import read_number
    read_number(png_bytes | pil_image | array)
    -> {"number": "2026", "is_number": True, "confidence": ..., "digits": [...], "model_version": ...}

The page's ink (preprocessing.page_ink) is cut into digits (segmentation.py);
each digit then goes through the same preprocessing and predictor as /predict,
all of them, and every candidate cut of digits that touch, in one model call.
Where a part could be one digit or several touching ones, the reading the
classifier finds most likely wins: the product over its digits of the
confidence times how digit-like the gate finds it.
"""
import math
from typing import NamedTuple

import numpy as np

import config
from mnist_digits.imaging.decoding import sent_size
from mnist_digits.errors import NoDigitFound, TooManyDigits
from mnist_digits.reading.cutting import (CROSSED, SPLIT_ASPECT, best_reading, crossed_ink, piece, prior_cost, seams,
                                          spans)
from mnist_digits.reading.segmentation import find_parts, own_ink, owners
from mnist_digits.imaging.preprocessing import page_ink, preprocess_image
from mnist_digits.model.predictor import get_predictor

GATE_WEIGHT = 0.5   # the digit score's weight beside the confidence in a candidate's score (cutting.py)
# A candidate cut out of strokes (cutting.crossed_ink) is a digit only with at least this
# digit score and confidence: on composed rows (docs/reading.md) it kept "HELLO" in the 40
# handwriting fonts from reading as a number and cost 2-5 % of touching readings their verdict.
CUT_DIGIT_SCORE, CUT_CONFIDENCE = 0.9, 0.8
# A part read whole is a digit of the number only with at least this confidence (an E read as
# a 4 at 0.19 made "HELLO" a number in a handwriting font).
WHOLE_CONFIDENCE = 0.5
SURE = 0.9          # a part read whole as a digit this confidently is not tried in pieces...
WIDE = 1.0          # ...unless it is wider than this times its height
DIGIT_FIELDS = ("prediction", "confidence", "probabilities", "is_digit", "digit_score")


class Digit(NamedTuple):
    """One digit read: the predictor's answer (as /predict's), the 28x28 view the
    model saw, and its box (top, bottom, left, right) in decoded pixels."""
    result: dict
    view: np.ndarray
    box: tuple


class _Candidates(NamedTuple):
    """A part's candidate digits: how many seams, {(i, j): (crop, box)},
    {(i, j): its prior cost (cutting.prior_cost)} and {(i, j): cut through a stroke?}."""
    count: int
    pieces: dict
    shape_costs: dict
    cut: dict


def _part_candidates(part, region, cuts):
    """The candidate digits between the part's seams `cuts` (boxes in decoded pixels)."""
    crossed = crossed_ink(region, cuts)
    pieces, costs, cut = {}, {}, {}
    for i, j in spans(cuts, part.height):
        crop, box = piece(region, cuts[i], cuts[j])
        if crop is not None:
            top, bottom, left, right = box
            pieces[i, j] = crop, (part.top + top, part.top + bottom, part.left + left, part.left + right)
            costs[i, j] = prior_cost(box, part.height)
            cut[i, j] = max(crossed[i], crossed[j]) > CROSSED
    return _Candidates(len(cuts), pieces, costs, cut)


def _worth_cutting(part, whole):
    """Whether a part, read whole as `whole`, may be digits that touch: it has several
    marks or is wide, and either it is very wide or its whole reading is in doubt."""
    if len(part.ids) == 1 and part.width <= SPLIT_ASPECT * part.height:
        return False
    return part.width > WIDE * part.height or whole is None or not whole.result["is_digit"] or \
        whole.result["confidence"] < SURE


def _log_likelihood(result, prior):
    """How likely a candidate is one digit: its confidence times its digit score (to
    GATE_WEIGHT), less its prior cost (cutting.prior_cost)."""
    return (math.log(max(result["confidence"], 1e-9)) + GATE_WEIGHT * math.log(max(result["digit_score"], 1e-9))
            - prior)


def _classify(crops, predictor):
    """Crops -> (their /predict answers, their 28x28 model inputs), in one model call.
    A crop the preprocessing finds blank (a sliver a cut left) answers None."""
    views = []
    for crop in crops:
        try:
            views.append(preprocess_image(crop, "enhanced"))
        except NoDigitFound:
            views.append(None)
    answers = iter(predictor.answer([view for view in views if view is not None]))
    return [None if view is None else next(answers) for view in views], views


def _verdict(digit, cut):
    """A digit cut out of a stroke, or out of marks that share columns, is a guess: it
    counts as a digit only when the gate and the classifier are both sure (else a
    letter cut in two reads as digits). A part read whole counts as one only when the
    classifier can place it at all: a letter the gate lets through is rarely one digit surely."""
    result = digit.result
    sure = (result["digit_score"] >= CUT_DIGIT_SCORE and result["confidence"] >= CUT_CONFIDENCE if cut
            else result["confidence"] >= WHOLE_CONFIDENCE)
    return digit if sure else digit._replace(result={**result, "is_digit": False})


def _read(candidates, predictor):
    """{key: _Candidates} -> {key: {span: Digit}}, every crop in one model call."""
    crops = [(key, span, crop, box) for key, c in candidates.items() for span, (crop, box) in c.pieces.items()]
    answers, views = _classify([crop for _, _, crop, _ in crops], predictor)
    read = {key: {} for key in candidates}
    for (key, span, _, box), answer, view in zip(crops, answers, views):
        read[key][span] = Digit(answer, view, box)
    return read


def _best(candidates, read):
    """A part's digits: the chain of candidates the classifier finds most likely."""
    scores = {span: _log_likelihood(d.result, candidates.shape_costs[span])
              for span, d in read.items() if d.result is not None}
    return [_verdict(read[span], candidates.cut[span]) for span in best_reading(candidates.count, scores)]


def read_digits(image, predictor):
    """The digits of a number, left to right, as Digit tuples. Every part is first
    read whole (one model call); the parts that may be touching digits are then cut
    every plausible way and read again (a second call, for them all)."""
    ink = page_ink(image)
    parts, _, labels = find_parts(ink)
    owner = owners(labels)
    regions = [own_ink(part, ink, owner) for part in parts]
    wholes = {i: _part_candidates(part, region, seams(region, whole=True))
              for i, (part, region) in enumerate(zip(parts, regions))}
    read = _read(wholes, predictor)
    doubtful = {i: _part_candidates(parts[i], regions[i], seams(regions[i]))
                for i in wholes if _worth_cutting(parts[i], read[i].get((0, 1)))}
    if doubtful:
        read.update(_read(doubtful, predictor))
    digits = [d for i in wholes for d in _best(doubtful.get(i, wholes[i]), read[i])]
    if len(digits) > config.MAX_DIGITS:
        raise TooManyDigits(f"the picture holds {len(digits)} digits; "
                            f"a number is read from at most {config.MAX_DIGITS}")
    return digits, ink.shape


def _sent_box(box, shape, size):
    """(top, bottom, left, right) in decoded pixels -> [x, y, width, height] in the sent picture's."""
    (top, bottom, left, right), (h, w), (width, height) = box, shape, size
    sx, sy = width / w, height / h
    x, y = int(left * sx), int(top * sy)
    return [x, y, min(math.ceil(right * sx), width) - x, min(math.ceil(bottom * sy), height) - y]


def number_json(digits, shape, size, model_version):
    """Digit tuples -> the JSON every entrypoint answers for one picture."""
    results = [dict({k: d.result[k] for k in DIGIT_FIELDS}, box=_sent_box(d.box, shape, size)) for d in digits]
    return {
        "number": "".join(str(r["prediction"]) for r in results),
        "is_number": all(r["is_digit"] for r in results),
        # Honest about a long number: every digit must be right, so confidences multiply.
        "confidence": round(math.prod(r["confidence"] for r in results), 6),
        "digits": results,
        "model_version": model_version,
    }


def read_number(image, predictor=None):
    """Any picture of a handwritten number (bytes, PIL image or array) -> its JSON
    reading, by `predictor` (default: the shared one). NoDigitFound when blank,
    TooManyDigits when crowded, InvalidImage for a picture too thin to hold a
    number, and the decoder's errors (InvalidImage, PayloadTooLarge) as /predict."""
    return read_with_views(image, predictor)[0]


def read_with_views(image, predictor=None):
    """read_number, and each digit's 28x28 model input (float32 (28, 28, 1)) beside it."""
    predictor = get_predictor() if predictor is None else predictor
    digits, shape = read_digits(image, predictor)
    return number_json(digits, shape, sent_size(image), predictor.version), [d.view for d in digits]
