"""detbench._pages: NumPy's huge-page advice off inside detbench's loading and evaluation, restored after."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from detbench import _pages
from detbench.eval import COCOeval, load_coco, load_results, loader

pytestmark = pytest.mark.skipif(_pages._set_madvise_hugepage is None, reason="this NumPy has no huge-page switch")


def _advice() -> bool:
    # NumPy's current setting (its switch returns the previous one)
    previous = _pages._set_madvise_hugepage(True)
    _pages._set_madvise_hugepage(previous)
    return bool(previous)


@pytest.fixture
def advice_on(monkeypatch):
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    previous = _pages._set_madvise_hugepage(True)
    yield
    _pages._set_madvise_hugepage(previous)


def test_off_inside_restored_after(advice_on):
    with _pages.small_pages():
        assert _advice() is False
        with _pages.small_pages():  # nested
            assert _advice() is False
        assert _advice() is False
    assert _advice() is True


def test_restored_after_an_error(advice_on):
    @_pages.with_small_pages
    def fails():
        assert _advice() is False
        raise KeyError("x")

    with pytest.raises(KeyError):
        fails()
    assert _advice() is True


def test_overlapping_threads_restore_the_users_setting(advice_on):
    # thread A enters, B enters, A leaves while B is inside: still off for B; on once both are out
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def a():
        with _pages.small_pages():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b():
        a_in.wait(5)
        with _pages.small_pages():
            b_in.set()
            a_out.wait(5)
            seen["b after a left"] = _advice()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"b after a left": False}
    assert _advice() is True


def test_users_choice_is_kept(advice_on, monkeypatch):
    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
    with _pages.small_pages():
        assert _advice() is True


def test_loading_and_evaluation_run_without_the_advice(advice_on, monkeypatch):
    seen = []
    real = loader.results_arrays

    def spy(raw):
        seen.append(_advice())
        return real(raw)

    monkeypatch.setattr(loader, "results_arrays", spy)
    gt = {
        "images": [{"id": 1}],
        "categories": [{"id": 1}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100}],
    }

    raw = json.dumps([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9}]).encode()
    ds = load_coco(gt)
    dt = load_results(raw, ds)
    assert seen == [False]
    ev = COCOeval(ds, dt, "bbox")
    ev.evaluate()
    ev.accumulate()
    assert _advice() is True
    assert np.isclose(ev.eval["precision"].max(), 1.0)
