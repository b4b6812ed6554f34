"""non_digits.py: deterministic pictures, disjoint families, served-path inputs."""
import io
from pathlib import Path

import numpy as np
import pytest
from matplotlib import ft2font
from PIL import Image

import config
from mnist_digits.gate import non_digits as nd


def _as_array(picture):
    return np.asarray(Image.open(io.BytesIO(picture))) if isinstance(picture, bytes) else picture


def _same(a, b):
    return type(a) is type(b) and (a == b if isinstance(a, bytes) else np.array_equal(a, b))


@pytest.mark.parametrize("family", list(nd.FAMILIES))
def test_same_seed_same_pictures_and_prefixes_agree(family):
    first, kinds = nd.make_non_digits(family, 12, seed=3)
    again, kinds_again = nd.make_non_digits(family, 12, seed=3)
    shorter, _ = nd.make_non_digits(family, 5, seed=3)
    assert kinds == kinds_again
    assert all(_same(a, b) for a, b in zip(first, again, strict=True))
    assert all(_same(a, b) for a, b in zip(shorter, first[:5]))
    other, _ = nd.make_non_digits(family, 12, seed=4)
    assert not all(_same(a, b) for a, b in zip(first, other))


def test_families_are_made_differently():
    assert not set(nd.TRAINING_FONTS) & set(nd.HELDOUT_FONTS)
    assert set(nd.FAMILIES["training"]) & set(nd.FAMILIES["heldout"]) == {"glyph"}
    training = nd.training_non_digits(20, seed=1)
    heldout = nd.make_non_digits("heldout", 20, seed=1)[0]
    assert not any(_same(a, b) for a in training for b in heldout)


def test_digit_like_characters_and_digits_are_never_drawn():
    for chars in (nd.TRAINING_CHARS, nd.HELDOUT_CHARS, nd.GREEK):
        assert not set(chars) & (nd.DIGIT_LIKE | set("0123456789"))
    for c in "OoIl1ZSB":
        assert c in nd.DIGIT_LIKE or c.isdigit()


@pytest.mark.parametrize("fonts, chars", [(nd.TRAINING_FONTS, nd.TRAINING_CHARS),
                                          (nd.HELDOUT_FONTS, nd.HELDOUT_CHARS),
                                          (nd.HELDOUT_FONTS[:4], nd.GREEK)])
def test_every_font_has_every_character_it_is_asked_for(fonts, chars):
    # A missing glyph would be drawn as an empty box: a square, not the letter meant.
    for name in fonts:
        font = ft2font.FT2Font(name)
        assert all(font.get_char_index(ord(c)) for c in chars), name


def test_the_committed_handwriting_fonts_are_all_there_with_their_licences():
    # A missing file would quietly shrink the list the handwriting family draws from.
    assert len(nd.HANDWRITING_FONTS) == 40
    for path in nd.HANDWRITING_FONTS:
        path = Path(path)
        assert path.is_file() and (path.parent / "licenses" / f"{path.stem}.txt").is_file(), path.name
        assert f"| {path.stem} |" in (path.parent / "README.md").read_text()


def test_every_glyph_font_is_committed_with_its_licence_and_provenance():
    # Read from data/fonts, never from another package's files: an upgrade of
    # matplotlib or Gradio must not change what the gate trains on.
    fonts = nd.TRAINING_FONTS + nd.HELDOUT_FONTS + tuple(map(nd.katex_font, nd.KATEX_CHARS))
    readme = (config.FONT_DIR / "README.md").read_text()
    for path in map(Path, fonts):
        assert path.is_file() and path.parent.parent == config.FONT_DIR, path
        assert (path.parent / "LICENSE.txt").is_file() and f"| {path.parent.name}/{path.name} |" in readme, path


def test_handwriting_fonts_draw_their_characters_or_nothing_never_a_box():
    # Pillow reads the WOFF files directly. A character a font lacks must not come out as
    # its missing-glyph box (a square, not the letter meant); blank is fine: the
    # preprocessor finds no ink and the picture is dropped, as serving would refuse it.
    from PIL import ImageFont
    chars = nd.HELDOUT_CHARS
    for path in nd.HANDWRITING_FONTS:
        font = ImageFont.truetype(path, 40)
        box = font.getmask("\U0010fffd")
        drawn = [c for c in chars if font.getmask(c).getbbox() is not None]
        assert len(drawn) >= len(chars) - 1, Path(path).stem
        if box.getbbox() is not None:
            assert not [c for c in drawn if bytes(font.getmask(c)) == bytes(box)], Path(path).stem


def test_every_katex_font_is_found_and_has_its_characters():
    for name, chars in nd.KATEX_CHARS.items():
        font = ft2font.FT2Font(nd.katex_font(name))
        assert all(font.get_char_index(ord(c)) for c in chars), name
    with pytest.raises(FileNotFoundError, match="NoSuchFont-Regular"):
        nd.katex_font("NoSuchFont-Regular")


@pytest.mark.parametrize("family", list(nd.FAMILIES))
def test_every_kind_draws_visible_ink_in_range(family):
    for kind, draw in nd.FAMILIES[family].items():
        for i in range(3):
            ink = draw(np.random.default_rng(i))
            assert ink.ndim == 2 and ink.shape[0] == ink.shape[1], kind
            assert nd.MIN_SIDE <= ink.shape[0] <= nd.MAX_SIDE, kind
            assert 0 <= ink.min() and ink.max() <= 1 and ink.max() > 0.5, kind


def test_on_paper_looks_like_what_users_send():
    ink = np.zeros((60, 60), np.float32)
    ink[20:40, 28:32] = 1
    pictures = [nd.on_paper(ink, np.random.default_rng(i)) for i in range(60)]
    assert any(isinstance(p, bytes) for p in pictures) and any(isinstance(p, np.ndarray) for p in pictures)
    arrays = [_as_array(p) for p in pictures]
    assert all(a.shape == (60, 60) and a.dtype == np.uint8 for a in arrays)
    # Mostly dark ink on light paper, sometimes light ink on a dark background.
    paper_light = [a[0:10, 0:10].mean() > a[25:35, 29:31].mean() for a in arrays]
    assert 0.5 < np.mean(paper_light) < 1


def test_to_model_inputs_preprocesses_and_refuses_blank_pictures():
    pictures = nd.training_non_digits(6, seed=2) + [np.full((50, 50), 255, np.uint8)]
    x, kept = nd.to_model_inputs(pictures)
    assert kept.tolist() == [True] * 6 + [False]
    assert x.shape == (6, 28, 28, 1) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 1
    empty, none_kept = nd.to_model_inputs([np.zeros((30, 30), np.uint8)])
    assert empty.shape == (0, 28, 28, 1) and not none_kept.any()
