"""The quantization study (seed §6) and the empirical error study."""

from __future__ import annotations

import numpy as np
import pytest

from detbench.roi import STUDY_METHODS, roi_error_study, roi_quantization_error
from detbench.roi import study as roi_mod


def test_seed_example_numbers():
    """800x800 image, 665x665 box, stride 32, 7x7 output (the seed's §6 worked example)."""
    r = roi_quantization_error([0, 0, 665, 665], 32, 7, image_size=800)
    assert r.feature_map_size == (25.0, 25.0)  # 800 / 32
    pool, align = r.roi_pool, r.roi_align
    # first quantization: 665 / 32 = 20.78 -> 20, 0.78 * 32 ~= 25 px
    assert pool.feature_extent == (20.78125, 20.78125)
    assert round(pool.feature_extent[0], 2) == 20.78
    assert pool.map_extent == (20.0, 20.0)
    assert pool.map_error_px == (25.0, 25.0)
    # second quantization: 20 / 7 = 2.86 -> 2, 0.86 * 32 = 27.52 px (the seed rounds 0.857 to 0.86 first)
    assert round(pool.bin_extent[0], 2) == 2.86
    assert pool.bin_used == (2.0, 2.0)
    frac = pool.bin_extent[0] - pool.bin_used[0]
    assert round(frac, 2) == 0.86 and round(round(frac, 2) * 32, 2) == 27.52
    assert pool.bin_error_px[0] == pytest.approx(27.428571428571, abs=1e-9)  # 6/7 * 32 exactly
    assert pool.covered_px == (448.0, 448.0) and pool.lost_px == (217.0, 217.0)
    # ROI Align keeps 20.78 and 20.78 / 7 = 2.97: nothing lost
    assert align.map_error_px == (0.0, 0.0) and align.bin_error_px == (0.0, 0.0) and align.lost_px == (0.0, 0.0)
    assert round(align.bin_extent[0], 2) == 2.97
    assert align.covered_px == (665.0, 665.0)


def test_quantization_per_axis_and_exact_fit():
    r = roi_quantization_error([10, 20, 10 + 448, 20 + 100], 16, (5, 7))
    # x: 448 / 16 = 28 cells exactly, 28 / 7 = 4 -> nothing lost; y: 100 / 16 = 6.25 -> 6, 6 / 5 = 1.2 -> 1
    assert r.roi_pool.map_error_px == (0.0, 4.0)
    assert r.roi_pool.bin_error_px[0] == 0.0 and r.roi_pool.bin_error_px[1] == pytest.approx(3.2)
    assert r.roi_pool.covered_px == (448.0, 80.0)
    assert r.image_size is None and r.feature_map_size is None
    # the per-axis losses add up: lost = map error + output * bin error
    for a in range(2):
        p = r.roi_pool
        bins = (7, 5)[a]
        assert p.lost_px[a] == pytest.approx(p.map_error_px[a] + bins * p.bin_error_px[a])


@pytest.mark.parametrize(
    "args, message",
    [
        (([0, 0, 10], 32), "box"),
        (([5, 0, 1, 10], 32), "x2 < x1"),
        (([0, 0, 10, 10], 0), "stride: must be > 0"),
        (([0, 0, 10, 10], 32, 0), "output_size"),
        (([0, 0, 900, 10], 32, 7, 800), "not inside"),
        (([0, 0, np.nan, 10], 32), "non-finite"),
    ],
)
def test_quantization_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        roi_quantization_error(*args)


def test_error_study_distribution():
    res = roi_error_study(60, seed=1)
    n = 60
    assert set(res) == {"boxes", "exact_rms", *STUDY_METHODS}
    assert res["boxes"].shape == (n, 4)
    assert (res["boxes"][:, :2] >= 0).all() and (res["boxes"][:, 2] <= 800).all() and (res["boxes"][:, 3] <= 800).all()
    for name in STUDY_METHODS:
        assert res[name].shape == (n,) and np.isfinite(res[name]).all() and (res[name] >= 0).all()
    med = {k: float(np.median(v)) for k, v in res.items() if k != "boxes"}
    # ROI Align (half-pixel correct) tracks the exact bin average far better than both quantized
    # pooling and the legacy half-cell-shifted align
    assert med["roi_align"] < 0.25 * med["roi_pool_avg"]
    assert med["roi_align"] < 0.25 * med["roi_align_legacy"]
    assert med["roi_align_sr2"] < 0.25 * med["roi_pool_avg"]
    assert med["roi_pool"] > med["roi_pool_avg"]  # max adds its bias on top of the quantization
    # deterministic for a seed, different for another
    again = roi_error_study(60, seed=1)
    np.testing.assert_array_equal(again["roi_align"], res["roi_align"])
    assert not np.array_equal(roi_error_study(60, seed=2)["boxes"], res["boxes"])


def test_error_study_exact_bin_average():
    """The closed-form bin mean equals a dense numerical mean, and on a very smooth map (long
    wavelengths) aligned ROI Align is nearly exact while the quantized pipelines are not."""
    rng = np.random.default_rng(0)
    freq, phase = rng.uniform(0.1, 2.0, 5), rng.uniform(0, 6.0, 5)
    t0, t1 = rng.uniform(-3, 3, 5), rng.uniform(3.5, 9, 5)
    dense = [np.mean(np.sin(f * np.linspace(a, b, 200001) + p)) for f, p, a, b in zip(freq, phase, t0, t1)]
    np.testing.assert_allclose(roi_mod._mean_sin(freq, phase, t0, t1), dense, atol=1e-5)
    np.testing.assert_allclose(roi_mod._mean_sin(freq, phase, t0, t0), np.sin(freq * t0 + phase))  # zero width
    smooth = roi_error_study(40, stride=8, wavelengths=(40.0, 80.0), seed=3)
    assert np.median(smooth["roi_align"]) < 2e-3
    assert np.median(smooth["roi_pool_avg"]) > 10 * np.median(smooth["roi_align"])
    assert np.median(smooth["roi_align_legacy"]) > 10 * np.median(smooth["roi_align"])


def test_error_study_bad_input():
    with pytest.raises(ValueError, match="n_boxes"):
        roi_error_study(0)
    with pytest.raises(ValueError, match="size_range"):
        roi_error_study(5, size_range=(100, 10))
    with pytest.raises(ValueError, match="stride"):
        roi_error_study(5, stride=-1)
