"""HOG + linear SVM (detbench.hog) against OpenCV's HOGDescriptor (live) and a plain NumPy reference."""

from __future__ import annotations

import multiprocessing

import cv2
import numpy as np
import pytest
import skimage.data
import torch
import torchvision.ops as tvops
from hypothesis import given, settings
from hypothesis import strategies as st

from detbench.hog import (
    DESCRIPTOR_SIZE,
    default_people_detector,
    hog_descriptor,
    hog_descriptors,
    hog_detect_multiscale,
    hog_pyramid_scales,
    hog_window_scores,
    resize_linear_exact,
)
from detbench.hog import _descriptor_kernels as kernels
from tests import reference_hog as ref

REL_TOL = 1e-3  # the bar for descriptor parity (relative to the largest value)


def _images():
    return {
        "astronaut": skimage.data.astronaut(),  # 512x512 RGB
        "coffee": skimage.data.coffee(),  # 400x600 RGB
        "chelsea": skimage.data.chelsea(),  # 300x451 RGB: odd width, exercises OpenCV's scalar tail
        "camera": skimage.data.camera(),  # 512x512 grey
    }


@pytest.fixture(scope="module")
def images():
    return {k: np.ascontiguousarray(v) for k, v in _images().items()}


@pytest.fixture(scope="module")
def cv_hog():
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    return hog


def _rel_err(ours: np.ndarray, theirs: np.ndarray) -> float:
    theirs = np.asarray(theirs, dtype=np.float64)
    return float(np.abs(np.asarray(ours, np.float64) - theirs).max() / max(np.abs(theirs).max(), 1e-12))


# --------------------------------------------------------------------------- descriptors
def test_defaults_match_opencv(cv_hog):
    assert cv_hog.winSize == (64, 128) and cv_hog.blockSize == (16, 16) and cv_hog.cellSize == (8, 8)
    assert cv_hog.blockStride == (8, 8) and cv_hog.nbins == 9 and cv_hog.L2HysThreshold == pytest.approx(0.2)
    assert cv_hog.gammaCorrection and not cv_hog.signedGradient
    assert cv_hog.getDescriptorSize() == DESCRIPTOR_SIZE
    svm = default_people_detector()
    assert svm.shape == (DESCRIPTOR_SIZE + 1,) and svm.dtype == np.float32


def test_window_descriptor_matches_reference(images):
    rng = np.random.default_rng(1)
    windows = [
        images["astronaut"][40:168, 200:264],
        images["camera"][300:428, 100:164],
        rng.integers(0, 256, (128, 64, 3), dtype=np.uint8),
    ]
    for win in windows:
        ours = hog_descriptor(win)
        theirs = ref.window_descriptor(win)
        assert ours.shape == (DESCRIPTOR_SIZE,) and ours.dtype == np.float32
        assert _rel_err(ours, theirs) < REL_TOL
    # gamma off
    win = windows[0]
    assert _rel_err(hog_descriptor(win, gamma_correction=False), ref.window_descriptor(win, gamma=False)) < REL_TOL


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "camera"])
def test_window_descriptor_matches_opencv(images, cv_hog, name):
    img = images[name]
    rng = np.random.default_rng(2)
    for _ in range(4):
        y = int(rng.integers(0, img.shape[0] - 128))
        x = int(rng.integers(0, img.shape[1] - 64))
        win = np.ascontiguousarray(img[y : y + 128, x : x + 64])
        theirs = cv_hog.compute(win).reshape(-1)
        assert _rel_err(hog_descriptor(win), theirs) < REL_TOL
        assert np.abs(hog_descriptor(win) - theirs).max() < 1e-5  # in fact float rounding only


@pytest.mark.parametrize(
    ("name", "stride", "padding"),
    [
        ("astronaut", (8, 8), (0, 0)),
        ("astronaut", (8, 8), (16, 16)),
        ("chelsea", (16, 8), (8, 0)),
        ("camera", (8, 16), (24, 8)),
        ("coffee", (4, 4), (0, 0)),  # window step finer than the block stride: blocks on a 4-pixel grid
    ],
)
def test_descriptor_grid_matches_opencv_compute(images, cv_hog, name, stride, padding):
    img = images[name]
    if stride == (4, 4):
        img = np.ascontiguousarray(img[:200, :300])
    ours = hog_descriptors(img, win_stride=stride, padding=padding)
    theirs = cv_hog.compute(img, winStride=stride, padding=padding).reshape(ours.shape)
    sx, sy = stride
    px, py = padding
    assert ours.shape[:2] == ((img.shape[0] + 2 * py - 128) // sy + 1, (img.shape[1] + 2 * px - 64) // sx + 1)
    assert _rel_err(ours, theirs) < REL_TOL
    assert np.abs(ours - theirs).max() < 1e-5


def test_gamma_off_matches_opencv(images):
    hog = cv2.HOGDescriptor((64, 128), (16, 16), (8, 8), (8, 8), 9, 1, -1, 0, 0.2, False)
    img = np.ascontiguousarray(images["coffee"][100:300, 200:400])
    ours = hog_descriptors(img, gamma_correction=False)
    theirs = hog.compute(img, winStride=(8, 8)).reshape(ours.shape)
    assert np.abs(ours - theirs).max() < 1e-5


def test_float_image_equals_uint8(images):
    img = np.ascontiguousarray(images["astronaut"][:200, :150])
    a = hog_descriptors(img)
    b = hog_descriptors(img.astype(np.float32))
    c = hog_descriptors(img.astype(np.float64) / 1.0)
    np.testing.assert_allclose(b, a, atol=1e-6)
    np.testing.assert_allclose(c, a, atol=1e-6)


def test_gradient_votes_match_reference(images):
    """Per pixel: the two votes add up to the magnitude and sit at the reference orientation."""
    img = np.ascontiguousarray(images["astronaut"][100:180, 150:250])
    h, w, cn = img.shape
    planes = np.empty((cn, h + 2, w + 2), np.float32)
    xmap = np.r_[1, np.arange(w), w - 2]  # reflect-101 border of one pixel
    ymap = np.r_[1, np.arange(h), h - 2]
    lut = np.sqrt(np.arange(256, dtype=np.float32))
    kernels.pad_planar(img, lut, True, True, xmap, ymap, planes)
    g0, g1 = np.empty((h, w), np.float32), np.empty((h, w), np.float32)
    bins = np.empty((h, w), np.uint8)
    kernels.gradient_level(planes, g0, g1, bins)
    mag, ang, gap = ref.gradients(img, margin=True)
    clear = gap > 1e-5  # float32 (OpenCV's arithmetic) may break near-ties between channels differently
    assert clear.mean() > 0.9
    np.testing.assert_allclose((g0 + g1)[clear], mag[clear], rtol=1e-5, atol=1e-5)
    strong = (mag > 1.0) & clear
    # vote-weighted bin position (bin centres at 10 + 20 k degrees) recovers the angle
    pos = (bins + g1 / np.maximum(g0 + g1, 1e-12)) * 20.0 + 10.0
    diff = np.abs((pos - ang + 90.0) % 180.0 - 90.0)
    assert diff[strong].max() < 0.02  # OpenCV's polynomial atan2 is good to ~0.01 degree


def test_flat_image_has_zero_descriptor():
    assert not hog_descriptor(np.full((128, 64, 3), 77, np.uint8)).any()
    scores = hog_window_scores(np.full((200, 100), 5, np.uint8), svm=np.arange(3781, dtype=np.float32))
    np.testing.assert_allclose(scores, 3780.0)  # only the bias is left


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), h=st.integers(128, 160), w=st.integers(64, 100), grey=st.booleans())
def test_blocks_are_l2hys_normalised(seed, h, w, grey):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w) if grey else (h, w, 3), dtype=np.uint8)
    d = hog_descriptors(img).reshape(-1, 36)
    norms = np.linalg.norm(d, axis=1)
    assert (d >= 0).all()
    assert np.all(norms <= 1.0 + 1e-6) and np.all(norms > 0.9)  # renormalised after clipping at 0.2


# --------------------------------------------------------------------------- scores
@pytest.mark.parametrize(
    ("name", "stride", "padding"),
    [("astronaut", (8, 8), (0, 0)), ("chelsea", (8, 8), (16, 16)), ("camera", (16, 8), (8, 8))],
)
def test_window_scores_match_opencv_detect(images, cv_hog, name, stride, padding):
    img = images[name]
    ours = hog_window_scores(img, win_stride=stride, padding=padding)
    locations, weights = cv_hog.detect(img, hitThreshold=-1e9, winStride=stride, padding=padding)
    assert ours.size == len(weights)
    loc = np.asarray(locations).reshape(-1, 2)
    rows = (loc[:, 1] + padding[1]) // stride[1]
    cols = (loc[:, 0] + padding[0]) // stride[0]
    np.testing.assert_allclose(ours[rows, cols], np.asarray(weights).reshape(-1), rtol=0, atol=1e-5)
    # the same scores from the descriptors and the SVM (the window-by-window definition)
    svm = default_people_detector().astype(np.float64)
    desc = hog_descriptors(img, win_stride=stride, padding=padding).astype(np.float64)
    np.testing.assert_allclose(ours, desc @ svm[:-1] + svm[-1], rtol=0, atol=1e-5)


# --------------------------------------------------------------------------- pyramid
@pytest.mark.parametrize("name", ["astronaut", "camera", "chelsea"])
def test_multiscale_candidates_match_opencv(images, cv_hog, name):
    """With grouping off (OpenCV's groupThreshold=0) every candidate box and score must match.

    OpenCV runs on one thread here: its levels push boxes and weights to two lists in
    separate critical sections, so with several threads the pairs can be interleaved.
    """
    img = images[name]
    thr = -1.0
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        rects, weights = cv_hog.detectMultiScale(
            img, hitThreshold=thr, winStride=(8, 8), padding=(0, 0), scale=1.05, groupThreshold=0
        )
    finally:
        cv2.setNumThreads(threads)
    boxes, scores = hog_detect_multiscale(img, hit_threshold=thr, scale=1.05, nms_threshold=None)
    theirs = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
    theirs[:, 2:] += theirs[:, :2]
    theirs_w = np.asarray(weights, dtype=np.float64).reshape(-1)
    assert len(theirs) > 5  # the comparison must see some candidates
    ours_set = {tuple(b): s for b, s in zip(boxes.tolist(), scores.tolist())}
    theirs_set = {tuple(b): s for b, s in zip(theirs.tolist(), theirs_w.tolist())}
    assert len(ours_set) == len(boxes) and len(theirs_set) == len(theirs)
    for key in set(ours_set) ^ set(theirs_set):  # only candidates at the threshold may differ
        score = ours_set.get(key, theirs_set.get(key))
        assert abs(score - thr) < 1e-5, key
    common = set(ours_set) & set(theirs_set)
    assert max(abs(ours_set[k] - theirs_set[k]) for k in common) < 1e-5


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_multiscale_is_single_scale_on_the_pyramid(images, dtype):
    """Each level's candidates are the single-scale scores of the resized image, boxes scaled back."""
    img = np.ascontiguousarray(images["chelsea"]).astype(dtype)
    thr, stride, pad = -1.2, (8, 16), (8, 0)  # win_stride / padding as (x, y)
    boxes, scores = hog_detect_multiscale(
        img, hit_threshold=thr, win_stride=stride, padding=pad, scale=1.1, nms_threshold=None
    )
    expected_b, expected_s = [], []
    for s, h, w in hog_pyramid_scales(img.shape[:2], scale=1.1):
        grid = hog_window_scores(resize_linear_exact(img, (w, h)), win_stride=stride, padding=pad)
        for r, c in zip(*np.nonzero(grid >= thr)):
            x, y = np.rint((c * stride[0] - pad[0]) * s), np.rint((r * stride[1] - pad[1]) * s)
            box = [
                max(x, 0),
                max(y, 0),
                min(x + np.rint(64 * s), img.shape[1]),
                min(y + np.rint(128 * s), img.shape[0]),
            ]
            expected_b.append(box)
            expected_s.append(grid[r, c])
    assert len(expected_b) > 3
    np.testing.assert_array_equal(boxes, np.array(expected_b))
    np.testing.assert_allclose(scores, expected_s, rtol=0, atol=1e-9)


@pytest.mark.parametrize("size", [(480, 640), (300, 451), (129, 64), (1000, 90)])
@pytest.mark.parametrize("scale", [1.05, 1.2, 1.0, 2.0])
def test_pyramid_scales(size, scale):
    levels = hog_pyramid_scales(size, scale=scale)
    assert levels == ref.pyramid_ref(*size, scale)
    assert all(h >= 128 and w >= 64 for _, h, w in levels)
    assert len(hog_pyramid_scales(size, scale=1.01, nlevels=3)) <= 3


def test_resize_matches_opencv_linear_exact():
    rng = np.random.default_rng(3)
    cases = [(480, 640, 457, 610), (480, 640, 240, 320), (257, 300, 256, 290), (259, 261, 256, 256)]
    cases += [(100, 100, 37, 91), (128, 64, 128, 63), (50, 60, 70, 80), (1, 5, 3, 2), (7, 1, 3, 4)]
    for sh, sw, dh, dw in cases:
        for shape in [(sh, sw), (sh, sw, 3)]:
            src = rng.integers(0, 256, shape, dtype=np.uint8)
            ours = resize_linear_exact(src, (dw, dh))
            theirs = cv2.resize(src, (dw, dh), interpolation=cv2.INTER_LINEAR_EXACT)
            assert ours.dtype == np.uint8
            np.testing.assert_array_equal(ours, theirs)
    src = rng.random((40, 50)).astype(np.float32)
    np.testing.assert_allclose(
        resize_linear_exact(src, (31, 27)), cv2.resize(src, (31, 27), interpolation=cv2.INTER_LINEAR), atol=1e-5
    )


@settings(max_examples=25, deadline=None)
@given(
    sh=st.integers(1, 80),
    sw=st.integers(1, 80),
    dh=st.integers(1, 80),
    dw=st.integers(1, 80),
    cn=st.sampled_from([1, 3]),
    seed=st.integers(0, 2**16),
)
def test_resize_property(sh, sw, dh, dw, cn, seed):
    src = np.random.default_rng(seed).integers(0, 256, (sh, sw, cn), dtype=np.uint8)
    theirs = cv2.resize(src, (dw, dh), interpolation=cv2.INTER_LINEAR_EXACT).reshape(dh, dw, cn)
    np.testing.assert_array_equal(resize_linear_exact(src, (dw, dh)), theirs)


def test_nms_grouping(images):
    """Grouping = detbench.nms.nms (torchvision semantics) on the raw candidates."""
    img = images["astronaut"]
    raw_b, raw_s = hog_detect_multiscale(img, hit_threshold=-0.5, nms_threshold=None)
    boxes, scores = hog_detect_multiscale(img, hit_threshold=-0.5, nms_threshold=0.3)
    keep = tvops.nms(torch.from_numpy(raw_b), torch.from_numpy(raw_s), 0.3).numpy()
    assert 0 < len(boxes) < len(raw_b)
    np.testing.assert_array_equal(boxes, raw_b[keep])
    np.testing.assert_array_equal(scores, raw_s[keep])
    assert (np.diff(scores) <= 0).all()


def test_threads_do_not_change_results(images):
    img = images["chelsea"]
    one = hog_detect_multiscale(img, hit_threshold=-0.5, nms_threshold=None, n_threads=1)
    two = hog_detect_multiscale(img, hit_threshold=-0.5, nms_threshold=None, n_threads=3)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])


def test_no_candidates_and_boxes_in_image(images):
    img = images["coffee"]
    boxes, scores = hog_detect_multiscale(img, hit_threshold=50.0, nms_threshold=None)
    assert boxes.shape == (0, 4) and scores.shape == (0,)
    boxes, _ = hog_detect_multiscale(img, hit_threshold=-1.0, padding=16, nms_threshold=None)
    assert len(boxes) > 0
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= img.shape[1]).all() and (boxes[:, 3] <= img.shape[0]).all()


# --------------------------------------------------------------------------- bad input
def test_bad_input():
    img = np.zeros((200, 100, 3), np.uint8)
    with pytest.raises(ValueError, match="image: expected an \\(H, W\\) grey or \\(H, W, 3\\)"):
        hog_descriptors(np.zeros((2, 200, 100, 3), np.uint8))
    with pytest.raises(ValueError, match="image: expected an \\(H, W\\) grey or \\(H, W, 3\\)"):
        hog_window_scores(np.zeros((200, 100, 4), np.uint8))
    with pytest.raises(ValueError, match="window \\(width x height\\) is larger than the 100x100 image"):
        hog_detect_multiscale(np.zeros((100, 100), np.uint8))
    with pytest.raises(ValueError, match="larger than"):
        hog_descriptors(np.zeros((128, 60), np.uint8))
    with pytest.raises(ValueError, match="win_stride: must be >= 1"):
        hog_window_scores(img, win_stride=0)
    with pytest.raises(ValueError, match="win_stride"):
        hog_detect_multiscale(img, win_stride=(8, 0))
    with pytest.raises(ValueError, match="padding: must be >= 0"):
        hog_descriptors(img, padding=-8)
    bad = img.astype(np.float32)
    bad[5, 6, 1] = np.nan
    with pytest.raises(ValueError, match="image: 1 non-finite value"):
        hog_detect_multiscale(bad)
    with pytest.raises(ValueError, match="negative pixel values"):
        hog_descriptors(img.astype(np.float32) - 1)
    with pytest.raises(ValueError, match="svm: expected 3780 weights"):
        hog_window_scores(img, svm=np.zeros(100))
    with pytest.raises(ValueError, match="scale: must be >= 1.0"):
        hog_detect_multiscale(img, scale=0.9)
    with pytest.raises(ValueError, match="nlevels: must be >= 1"):
        hog_detect_multiscale(img, nlevels=0)
    with pytest.raises(ValueError, match="nms_threshold: must be <= 1.0"):
        hog_detect_multiscale(img, nms_threshold=1.5)
    with pytest.raises(ValueError, match="hit_threshold: expected a finite number"):
        hog_detect_multiscale(img, hit_threshold=float("nan"))
    with pytest.raises(ValueError, match="window: expected a 128x64"):
        hog_descriptor(img)
    with pytest.raises(ValueError, match="size"):
        resize_linear_exact(img, (0, 10))


# --------------------------------------------------------------------------- issue 19: bad input is named
@pytest.mark.parametrize("flag", ["no", None, 1, np.array([True])])
def test_gamma_flag_must_be_a_bool(flag):
    img = np.zeros((130, 70), np.uint8)
    with pytest.raises(ValueError, match="gamma_correction: expected True or False"):
        hog_descriptors(img, gamma_correction=flag)
    with pytest.raises(ValueError, match="gamma_correction: expected True or False"):
        hog_descriptor(img[:128, :64], gamma_correction=flag)
    with pytest.raises(ValueError, match="gamma_correction: expected True or False"):
        hog_window_scores(img, svm=np.zeros(3780), gamma_correction=flag)
    with pytest.raises(ValueError, match="gamma_correction: expected True or False"):
        hog_detect_multiscale(img, svm=np.zeros(3780), gamma_correction=flag)
    assert hog_descriptors(img, gamma_correction=np.bool_(False)).shape == (1, 1, DESCRIPTOR_SIZE)


@pytest.mark.parametrize("size", [(-160, 96), (160, -96), (0, 100), (160.5, 96), 160, (1, 2, 3)])
def test_pyramid_refuses_bad_sizes(size):
    with pytest.raises(ValueError, match="image_size"):
        hog_pyramid_scales(size)


@pytest.mark.parametrize("padding", [10**6, (8, 10**8), (10**30, 0)])
def test_huge_padding_is_refused_before_allocating(padding):
    img = np.zeros((130, 70), np.uint8)
    for call in (
        lambda: hog_descriptors(img, padding=padding),
        lambda: hog_window_scores(img, svm=np.zeros(3780), padding=padding),
        lambda: hog_detect_multiscale(img, svm=np.zeros(3780), padding=padding),
    ):
        with pytest.raises(ValueError, match="padding: .* would need .* more than this machine"):
            call()


def test_window_errors_name_window():
    with pytest.raises(ValueError, match="^window: expected an \\(H, W\\) grey"):
        hog_descriptor(np.zeros((5, 5, 5)))
    with pytest.raises(ValueError, match="^window: 1 non-finite value"):
        bad = np.zeros((128, 64), np.float32)
        bad[3, 4] = np.inf
        hog_descriptor(bad)
    with pytest.raises(ValueError, match="^window: negative pixel values"):
        hog_descriptor(np.full((128, 64), -1.0))
    with pytest.raises(ValueError, match="^window: expected a 128x64"):
        hog_descriptor(np.zeros((100, 64)))


_DTYPES = ["u1", "<f4", ">f4", "<f2", ">f2", "<f8", ">f8", ">i2", "<u2"]


def _native(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.astype(a.dtype.newbyteorder("=")))


def _layout(a: np.ndarray, kind: str) -> np.ndarray:
    if kind == "fortran":
        return np.asfortranarray(a)
    if kind == "strided":
        big = np.zeros((a.shape[0], 2 * a.shape[1]) + a.shape[2:], a.dtype)
        big[:, ::2] = a
        return big[:, ::2]
    return a


@settings(max_examples=30, deadline=None)
@given(
    dtype=st.sampled_from(_DTYPES),
    layout=st.sampled_from(["c", "fortran", "strided"]),
    scale=st.sampled_from([1.0, 1 / 255, 1e-30, 1e30, 1e300]),
    grey=st.booleans(),
    h=st.integers(128, 140),
    w=st.integers(64, 76),
    seed=st.integers(0, 2**16),
)
def test_property_dtypes_byte_orders_layouts_scales(dtype, layout, scale, grey, h, w, seed):
    """A named error, or exactly the descriptors of the native-order copy (and close to the reference)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h, w) if grey else (h, w, 3)).astype(np.float64) * scale
    with np.errstate(over="ignore", invalid="ignore"):
        img = _layout(base.astype(dtype), layout)
    try:
        got = hog_descriptors(img)
    except ValueError as exc:
        assert str(exc).startswith("image: "), exc
        with pytest.raises(ValueError, match="^image: "):
            hog_descriptors(_native(img))
        return
    want = hog_descriptors(_native(img))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    # one window of the same (odd) array against the float64 reference on its native-order copy
    window = img[:128, :64]
    ours = hog_descriptor(window)
    np.testing.assert_array_equal(ours, hog_descriptor(_native(window)))
    if scale in (1.0, 1 / 255) and not dtype.endswith("f2"):  # float16 holds 0..255 (x 1/255) only roughly
        assert _rel_err(ours, ref.window_descriptor(_native(window).astype(np.float64))) < REL_TOL


def _detect_in_child(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return hog_detect_multiscale(img, hit_threshold=-0.5, nms_threshold=None, n_threads=2)


def test_pyramid_threads_survive_fork(images):
    """The levels run on detbench's shared pool, which a forked child rebuilds (a copied pool has no workers)."""
    img = np.ascontiguousarray(images["chelsea"][:200, :300])
    parent = _detect_in_child(img)  # the parent's pool now exists
    with multiprocessing.get_context("fork").Pool(1) as pool:
        child = pool.apply_async(_detect_in_child, (img,)).get(timeout=120)
    np.testing.assert_array_equal(child[0], parent[0])
    np.testing.assert_array_equal(child[1], parent[1])
