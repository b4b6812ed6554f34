"""Opportunistic batching (batching.py): concurrent callers share model calls, a lone
caller runs at once on its own thread, errors stay with the calls they belong to,
and through the shared Predictor batched answers equal unbatched ones."""
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from mnist_digits.model.batching import Batcher
from mnist_digits.errors import InvalidImage


class SlowDouble:
    """A batch function that takes a while (so callers pile up) and records its calls."""

    def __init__(self, seconds=0.02):
        self.seconds, self.calls, self.threads = seconds, [], []
        self.release = threading.Event()

    def __call__(self, inputs):
        self.calls.append(len(inputs))
        self.threads.append(threading.get_ident())
        self.release.wait(self.seconds)
        if np.isnan(inputs).any():
            raise ValueError("NaN in the batch")
        return inputs * 2


def test_a_lone_call_runs_at_once_on_its_own_thread():
    run = SlowDouble(seconds=0)
    batcher = Batcher(run)
    out = batcher(np.arange(3.0)[:, None])
    assert out.ravel().tolist() == [0, 2, 4]
    assert run.threads == [threading.get_ident()] and run.calls == [3]


def test_concurrent_callers_share_calls_and_get_their_own_rows():
    run = SlowDouble()
    batcher = Batcher(run, max_rows=64)
    inputs = [np.full((1 + i % 3, 1), float(i)) for i in range(48)]
    with ThreadPoolExecutor(16) as pool:
        outputs = list(pool.map(batcher, inputs))
    for x, y in zip(inputs, outputs):
        assert y.shape == x.shape and (y == 2 * x).all()
    assert sum(run.calls) == sum(len(x) for x in inputs)
    assert len(run.calls) < len(inputs) / 2          # callers were combined
    assert max(run.calls) <= 64
    assert batcher.requests == len(inputs) and batcher.calls == len(run.calls)


def test_max_rows_caps_a_combined_call_but_never_splits_a_caller():
    run = SlowDouble()
    batcher = Batcher(run, max_rows=4)
    inputs = [np.ones((3, 1))] * 12 + [np.ones((9, 1))]
    with ThreadPoolExecutor(13) as pool:
        list(pool.map(batcher, inputs))
    assert all(rows <= 4 or rows == 9 for rows in run.calls), run.calls
    assert 9 in run.calls


def test_an_error_reaches_only_the_callers_of_that_call():
    run = SlowDouble()
    batcher = Batcher(run)
    good = [np.ones((1, 1))] * 20
    bad = np.array([[np.nan]])

    def ask(x):
        try:
            return batcher(x)
        except ValueError:
            return "error"

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(ask, good + [bad] + good))
    failed = [i for i, r in enumerate(results) if isinstance(r, str)]
    assert 20 in failed                               # the bad one fails...
    assert len(failed) < len(results)                 # ...others, in other calls, do not
    assert all((r == 2).all() for r in results if not isinstance(r, str))
    assert batcher(np.ones((2, 1))).tolist() == [[2.0], [2.0]]   # and it still works


# --- Through the shared predictor ------------------------------------------------------------
@pytest.fixture(scope="module", params=["keras", "litert"])
def any_predictor(request, predictor):
    if request.param == "keras":
        return predictor
    from utils import Predictor
    return Predictor(backend="litert")


def test_batched_answers_equal_unbatched(any_predictor, mnist_test):
    images = list(mnist_test[0][:64])
    alone = [any_predictor.predict_images([image])[0] for image in images]
    calls_before = any_predictor._run.calls
    with ThreadPoolExecutor(16) as pool:
        together = list(pool.map(lambda image: any_predictor.predict_images([image])[0], images))
    assert any_predictor._run.calls - calls_before < len(images)     # some calls were shared
    for a, b in zip(alone, together):
        assert a["prediction"] == b["prediction"]
        assert [t["digit"] for t in a["top_k"]] == [t["digit"] for t in b["top_k"]]
        np.testing.assert_allclose(a["probabilities"], b["probabilities"], atol=2e-6)


def test_a_bad_image_never_touches_another_request(predictor, digit_pngs):
    pngs = [png for png, _ in digit_pngs]
    expected = [predictor.predict_images([png])[0] for png in pngs]
    requests = [(i, pngs[i % len(pngs)]) for i in range(40)]
    requests += [(None, b"\x89PNG\r\n\x1a\n broken"), (None, b"not an image at all")] * 5

    def ask(item):
        index, data = item
        try:
            return index, predictor.predict_images([data])[0]
        except InvalidImage as exc:
            return index, exc

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(ask, requests))
    for index, result in results:
        if index is None:
            assert isinstance(result, InvalidImage)
        else:
            assert result["prediction"] == expected[index % len(pngs)]["prediction"]
            np.testing.assert_allclose(result["probabilities"], expected[index % len(pngs)]["probabilities"],
                                       atol=2e-6)
