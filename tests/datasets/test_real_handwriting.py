"""mnist_digits/datasets/real_handwriting.py: the committed real sets and their split."""
import numpy as np
import pytest

import config
from mnist_digits.datasets import real_handwriting as rh

ALL_SETS = (rh.DIGITS, *rh.NON_DIGIT_SETS)


@pytest.fixture(scope="module")
def sets():
    return {name: rh.load(name) for name in ALL_SETS}


def _keys(name):
    with np.load(config.REAL_DIGITS_PATH if name == rh.DIGITS else config.REAL_NON_DIGIT_PATHS[name]) as npz:
        return npz["provider"] if "provider" in npz.files else npz["labels_text"]


@pytest.mark.parametrize("name", ALL_SETS)
def test_no_writer_site_or_category_is_in_two_splits(sets, name):
    keys, split = _keys(name), sets[name].split
    for key in np.unique(keys):
        assert len(np.unique(split[keys == key])) == 1, f"{name}: {key} is in several splits"


def test_the_declared_sites_validate_and_test_and_every_other_site_trains(sets):
    keys, split = _keys(rh.DIGITS), sets[rh.DIGITS].split
    for name in ("validation", "test"):
        assert set(keys[split == name]) == set(config.REAL_DIGIT_SITES[name])
    assert not set(keys[split == "train"]) & {s for sites in config.REAL_DIGIT_SITES.values() for s in sites}
    # Letters written at the digit test sites are test letters too (no site leaks from one side).
    letters = sets["unipen_latin_letters"]
    assert set(_keys("unipen_latin_letters")[letters.split == "test"]) == set(config.REAL_DIGIT_SITES["test"])


def test_the_split_sizes_are_the_documented_ones(sets):
    counts = {split: int((sets[rh.DIGITS].split == split).sum()) for split in rh.SPLITS}
    assert counts == {"train": 11133, "validation": 1720, "test": 2422}
    assert sum(len(s.images) for s in sets.values()) == 15275 + 36373 + 9237 + 18000


def test_the_held_out_source_is_never_in_training_or_validation(sets):
    held_out = sets[config.HELD_OUT_NON_DIGIT_SOURCE]
    assert (held_out.split == "test").all()
    for split in ("train", "validation"):
        assert len(rh.non_digits(split, lookalikes=True, sets=(config.HELD_OUT_NON_DIGIT_SOURCE,))) == 0


def test_the_split_is_deterministic():
    first, again = rh.load("unipen_latin_letters"), rh.load("unipen_latin_letters")
    assert np.array_equal(first.split, again.split) and np.array_equal(first.images, again.images)


def test_lookalikes_are_left_out_of_non_digits_unless_asked(sets):
    letters = sets["unipen_latin_letters"]
    train = letters.split == "train"
    plain = rh.non_digits("train", sets=("unipen_latin_letters",))
    only = rh.non_digits("train", lookalikes="only", sets=("unipen_latin_letters",))
    assert len(plain) == (train & ~letters.lookalike).sum() and len(only) == (train & letters.lookalike).sum()
    assert len(rh.non_digits("train", lookalikes=True, sets=("unipen_latin_letters",))) == train.sum()
    # The doodles' look-alike category (apple) is kept out of training whatever is asked.
    doodles = sets["quickdraw_6cat"]
    assert not (doodles.lookalike & (doodles.split == "train")).any()


def test_digits_are_white_on_black_28x28_with_their_labels():
    images, labels = rh.digits("validation")
    assert images.shape[1:] == (28, 28) and images.dtype == np.uint8 and len(images) == len(labels)
    assert set(np.unique(labels)) == set(range(10))
    border = np.concatenate([images[:, 0], images[:, -1]])
    assert border.mean() < 10 and images.max() > 200     # ink light, paper black, as MNIST


def test_split_sizes_summarise_every_set(sets):
    sizes = rh.split_sizes()
    assert sizes[config.HELD_OUT_NON_DIGIT_SOURCE] == {"test": {"images": 9237, "lookalikes": 4390}}
    assert sizes["quickdraw_6cat"]["test"] == {"images": 3000, "lookalikes": 3000}
    assert sum(v["images"] for v in sizes[rh.DIGITS].values()) == 15275
