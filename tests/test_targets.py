"""Tests for detbench.targets: localisation targets/loss and YOLO grid encode/decode."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from detbench.targets import (
    YoloCollisionWarning,
    decode_localization,
    decode_yolo_outputs,
    encode_localization,
    encode_yolo_targets,
    localization_loss,
)

# ---------------------------------------------------------------------------
# plain references, written from the rules in the seed / docstrings
# ---------------------------------------------------------------------------


def ref_encode_localization(boxes, labels, k, image_size, point="center"):
    H, W = image_size
    out = []
    for (x1, y1, x2, y2), lab in zip(boxes.tolist(), labels.tolist()):
        y = [0.0] * (5 + k)
        if lab >= 0:
            w, h = x2 - x1, y2 - y1
            px, py = ((x1 + x2) / 2, (y1 + y2) / 2) if point == "center" else (x1, y1)
            y[:5] = [1.0, px / W, py / H, h / H, w / W]
            y[5 + lab] = 1.0
        out.append(y)
    return np.array(out).reshape(len(out), 5 + k)


def ref_squared_loss(yp, yt):
    out = []
    for p, t in zip(yp.reshape(-1, yp.shape[-1]), yt.reshape(-1, yt.shape[-1])):
        if t[0] == 1:
            out.append(sum((a - b) ** 2 for a, b in zip(p, t)))
        else:
            out.append((p[0] - t[0]) ** 2)
    return np.array(out).reshape(yt.shape[:-1])


def ref_shape_iou(w1, h1, w2, h2):
    inter = min(w1, w2) * min(h1, h2)
    return inter / (w1 * h1 + w2 * h2 - inter)


def ref_encode_yolo(boxes, labels, image_size, S, anchors, k):
    """Slot-by-slot reference; returns targets and the list of (kept, dropped)."""
    H, W = image_size
    t = np.zeros((S, S, len(anchors), 5 + k))
    owner = {}
    coll = []
    for i, ((x1, y1, x2, y2), lab) in enumerate(zip(boxes.tolist(), labels.tolist())):
        cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
        c = min(int(cx // (W / S)), S - 1)
        r = min(int(cy // (H / S)), S - 1)
        ious = [ref_shape_iou(w, h, aw, ah) for aw, ah in anchors]
        a = int(np.argmax(ious))
        if (r, c, a) in owner:
            coll.append((owner[(r, c, a)], i))
            continue
        owner[(r, c, a)] = i
        t[r, c, a, :5] = [1, cx / (W / S) - c, cy / (H / S) - r, h / H, w / W]
        t[r, c, a, 5 + lab] = 1
    return t, coll


def random_boxes(rng, n, H, W, min_size=2.0):
    x1 = rng.uniform(0, W - min_size, n)
    y1 = rng.uniform(0, H - min_size, n)
    x2 = x1 + rng.uniform(min_size, W - x1 + 1e-9)
    y2 = y1 + rng.uniform(min_size, H - y1 + 1e-9)
    return np.stack([x1, y1, np.minimum(x2, W), np.minimum(y2, H)], 1)


# ---------------------------------------------------------------------------
# localisation targets
# ---------------------------------------------------------------------------


def test_localization_hand_example():
    # seed §1: 3 classes (pedestrian, car, motorcycle); a car in a 200 x 100 (h x w) image
    y = encode_localization(np.array([[10.0, 20.0, 50.0, 100.0]]), [1], 3, (200, 100))
    np.testing.assert_allclose(y, [[1, 0.3, 0.3, 0.4, 0.4, 0, 1, 0]])
    # background image: pc = 0, everything else "don't care" (zeros)
    y = encode_localization(np.array([[10.0, 20.0, 50.0, 100.0]]), [-1], 3, (200, 100))
    np.testing.assert_array_equal(y, np.zeros((1, 8)))


@pytest.mark.parametrize("point", ["center", "top_left"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_localization_vs_reference_and_roundtrip(rng, point, dtype):
    H, W = 240, 320
    b = random_boxes(rng, 50, H, W).astype(dtype)
    lab = rng.integers(-1, 4, 50)
    y = encode_localization(b, lab, 4, (H, W), point=point)
    assert y.dtype == dtype and y.shape == (50, 9)
    np.testing.assert_allclose(y, ref_encode_localization(b.astype(np.float64), lab, 4, (H, W), point), rtol=1e-6)
    boxes, labels = decode_localization(y, (H, W), point=point)
    np.testing.assert_array_equal(labels, lab)
    obj = lab >= 0
    np.testing.assert_allclose(boxes[obj], b[obj], rtol=1e-5, atol=1e-3)


def test_localization_formats():
    xyxy = np.array([[10.0, 20.0, 50.0, 100.0]])
    xywh = np.array([[10.0, 20.0, 40.0, 80.0]])
    cxcywh = np.array([[30.0, 60.0, 40.0, 80.0]])
    y0 = encode_localization(xyxy, [0], 1, (200, 100))
    np.testing.assert_allclose(encode_localization(xywh, [0], 1, (200, 100), fmt="xywh"), y0)
    np.testing.assert_allclose(encode_localization(cxcywh, [0], 1, (200, 100), fmt="cxcywh"), y0)
    np.testing.assert_allclose(decode_localization(y0, (200, 100), fmt="xywh")[0], xywh)


def test_localization_empty_and_no_classes():
    y = encode_localization(np.zeros((0, 4)), np.zeros(0, int), 3, (10, 10))
    assert y.shape == (0, 8)
    y = encode_localization(np.array([[0.0, 0.0, 5.0, 5.0]]), [-1], 0, (10, 10))
    assert y.shape == (1, 5) and y[0, 0] == 0
    b, lab = decode_localization(np.zeros((0, 6)), (10, 10))
    assert b.shape == (0, 4) and lab.shape == (0,)


def test_localization_bad_input():
    b = np.array([[0.0, 0.0, 5.0, 5.0]])
    with pytest.raises(ValueError, match="labels"):
        encode_localization(b, [3], 3, (10, 10))
    with pytest.raises(ValueError, match="labels"):
        encode_localization(b, [-2], 3, (10, 10))
    with pytest.raises(ValueError, match="labels: length"):
        encode_localization(b, [0, 1], 3, (10, 10))
    with pytest.raises(ValueError, match="x2 < x1"):
        encode_localization(np.array([[5.0, 0.0, 1.0, 5.0]]), [0], 3, (10, 10))
    with pytest.raises(ValueError, match="image_size"):
        encode_localization(b, [0], 3, (0, 10))
    with pytest.raises(ValueError, match="num_classes"):
        encode_localization(b, [0], -1, (10, 10))
    with pytest.raises(ValueError, match="point"):
        encode_localization(b, [0], 3, (10, 10), point="corner")
    with pytest.raises(ValueError, match="y: expected shape"):
        decode_localization(np.zeros((2, 4)), (10, 10))


# ---------------------------------------------------------------------------
# losses
# ---------------------------------------------------------------------------


def test_squared_loss_vs_reference(rng):
    yt = encode_localization(random_boxes(rng, 40, 100, 100), rng.integers(-1, 3, 40), 3, (100, 100))
    yp = rng.normal(size=yt.shape)
    got = localization_loss(yp, yt, reduction="none")
    np.testing.assert_allclose(got, ref_squared_loss(yp, yt))
    assert localization_loss(yp, yt, reduction="sum") == pytest.approx(got.sum())
    assert localization_loss(yp, yt) == pytest.approx(got.mean())
    # don't-care entries of a pc=0 slot do not change the loss
    bg = yt[:, 0] == 0
    yp2 = yp.copy()
    yp2[bg, 1:] += 100.0
    np.testing.assert_allclose(localization_loss(yp2, yt, reduction="none"), got)


def test_squared_loss_hand_values():
    yt = np.array([[1.0, 0.5, 0.5, 0.2, 0.2, 0, 1], [0.0, 0, 0, 0, 0, 0, 0]])
    yp = np.array([[0.5, 0.5, 0.4, 0.2, 0.2, 0.1, 0.8], [0.3, 9, 9, 9, 9, 9, 9]])
    np.testing.assert_allclose(localization_loss(yp, yt, reduction="none"), [0.25 + 0.01 + 0.01 + 0.04, 0.09])


def test_mixed_loss_vs_torch(rng):
    k = 4
    yt = encode_localization(random_boxes(rng, 64, 50, 80), rng.integers(-1, k, 64), k, (50, 80))
    yp = rng.normal(size=yt.shape) * 3
    got = localization_loss(yp, yt, kind="mixed", reduction="none")
    tp, tt = torch.from_numpy(yp), torch.from_numpy(yt)
    l_pc = F.binary_cross_entropy_with_logits(tp[:, 0], tt[:, 0], reduction="none")
    l_box = F.mse_loss(tp[:, 1:5], tt[:, 1:5], reduction="none").sum(1)
    l_cls = F.cross_entropy(tp[:, 5:], tt[:, 5:].argmax(1), reduction="none")
    want = l_pc + tt[:, 0] * (l_box + l_cls)
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-10, atol=1e-12)
    # probabilities instead of logits give the same numbers
    pp = yp.copy()
    pp[:, 0] = 1 / (1 + np.exp(-yp[:, 0]))
    e = np.exp(yp[:, 5:] - yp[:, 5:].max(1, keepdims=True))
    pp[:, 5:] = e / e.sum(1, keepdims=True)
    np.testing.assert_allclose(
        localization_loss(pp, yt, kind="mixed", from_logits=False, reduction="none"), got, rtol=1e-6
    )


def test_mixed_loss_extreme_logits_finite():
    yt = np.array([[1.0, 0.5, 0.5, 0.2, 0.2, 1, 0], [0, 0, 0, 0, 0, 0, 0]])
    yp = np.array([[-800.0, 0.5, 0.5, 0.2, 0.2, -900, 900], [800.0, 0, 0, 0, 0, 0, 0]])
    got = localization_loss(yp, yt, kind="mixed", reduction="none")
    np.testing.assert_allclose(got, [800 + 1800, 800])


def test_loss_on_yolo_grid_shape(rng):
    t = encode_yolo_targets(
        random_boxes(rng, 5, 64, 64),
        rng.integers(0, 2, 5),
        (64, 64),
        4,
        [[10, 10], [30, 30]],
        2,
        on_collision="keep_first",
    ).targets
    yp = rng.normal(size=t.shape)
    got = localization_loss(yp, t, reduction="none")
    assert got.shape == (4, 4, 2)
    np.testing.assert_allclose(got, ref_squared_loss(yp, t))


def test_loss_bad_input():
    yt = np.zeros((2, 7))
    with pytest.raises(ValueError, match="does not match"):
        localization_loss(np.zeros((2, 6)), yt)
    with pytest.raises(ValueError, match="pc"):
        localization_loss(yt, yt + 0.5)
    with pytest.raises(ValueError, match="kind"):
        localization_loss(yt, yt, kind="l1")
    with pytest.raises(ValueError, match="y_true: expected shape"):
        localization_loss(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        localization_loss(np.full((2, 7), np.nan), yt)
    assert localization_loss(np.zeros((0, 7)), np.zeros((0, 7))) == 0.0


# ---------------------------------------------------------------------------
# YOLO grid targets
# ---------------------------------------------------------------------------

ANCHORS = np.array([[20.0, 60.0], [60.0, 20.0]])  # anchor 1 tall (pedestrian-like), anchor 2 wide (car-like)


def test_yolo_seed_car_pedestrian_cell():
    # seed §4: 3x3 grid, a pedestrian and a car with midpoints in the same cell
    # (third row, second column); classes (pedestrian, car, motorcycle).
    H, W = 180, 90
    pedestrian = [40.0, 120.0, 60.0, 180.0]  # tall, midpoint (50, 150)
    car = [25.0, 140.0, 75.0, 160.0]  # wide, midpoint (50, 150)
    res = encode_yolo_targets(np.array([pedestrian, car]), [0, 1], (H, W), 3, ANCHORS, 3)
    assert res.targets.shape == (3, 3, 2, 8)
    np.testing.assert_array_equal(res.slots, [[2, 1, 0], [2, 1, 1]])
    assert res.collisions.shape == (0, 2)
    # bx, by relative to the 30 x 60 cell; bh, bw relative to the image
    np.testing.assert_allclose(res.targets[2, 1, 0], [1, 20 / 30, 30 / 60, 60 / 180, 20 / 90, 1, 0, 0])
    np.testing.assert_allclose(res.targets[2, 1, 1], [1, 20 / 30, 30 / 60, 20 / 180, 50 / 90, 0, 1, 0])
    assert res.targets[..., 0].sum() == 2  # every other slot is pc = 0
    boxes, scores, labels = decode_yolo_outputs(res.targets, (H, W), ANCHORS)
    np.testing.assert_allclose(boxes, [pedestrian, car])
    np.testing.assert_array_equal(labels, [0, 1])
    np.testing.assert_array_equal(scores, [1, 1])


def test_yolo_collisions_seed_failure_cases():
    H, W = 180, 90
    ped1 = [40.0, 120.0, 60.0, 180.0]
    ped2 = [42.0, 122.0, 58.0, 178.0]  # same cell, same anchor shape
    car = [25.0, 140.0, 75.0, 160.0]
    boxes = np.array([ped1, car, ped2])  # 3 objects in a cell with 2 anchors
    with pytest.raises(ValueError, match="collision.*object 2.*object 0"):
        encode_yolo_targets(boxes, [0, 1, 0], (H, W), 3, ANCHORS, 3, on_collision="raise")
    with pytest.warns(YoloCollisionWarning, match="1 YOLO target collision"):
        res = encode_yolo_targets(boxes, [0, 1, 0], (H, W), 3, ANCHORS, 3)
    np.testing.assert_array_equal(res.collisions, [[0, 2]])
    np.testing.assert_array_equal(res.slots[2], [2, 1, 0])
    # the first object keeps the slot; the dropped one is not written
    np.testing.assert_allclose(res.targets[2, 1, 0, 1:5], [20 / 30, 30 / 60, 60 / 180, 20 / 90])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res2 = encode_yolo_targets(boxes, [0, 1, 0], (H, W), 3, ANCHORS, 3, on_collision="keep_first")
    np.testing.assert_array_equal(res2.targets, res.targets)
    np.testing.assert_array_equal(res2.collisions, [[0, 2]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_yolo_vs_reference(rng, dtype):
    H, W, S = 160, 224, 5
    anchors = np.array([[16.0, 16.0], [40.0, 80.0], [90.0, 45.0]])
    for _trial in range(5):
        b = random_boxes(rng, 30, H, W).astype(dtype)
        lab = rng.integers(0, 3, 30)
        res = encode_yolo_targets(b, lab, (H, W), S, anchors, 3, on_collision="keep_first")
        want, coll = ref_encode_yolo(b.astype(np.float64), lab, (H, W), S, anchors, 3)
        assert res.targets.dtype == dtype
        np.testing.assert_allclose(res.targets, want, rtol=1e-5, atol=1e-5)
        assert [tuple(c) for c in res.collisions.tolist()] == coll


def test_yolo_roundtrip_random(rng):
    # one object per cell -> no collisions, decode returns every box
    H, W, S = 300, 400, 6
    anchors = np.array([[30.0, 30.0], [60.0, 120.0], [120.0, 60.0]])
    boxes, labels = [], []
    for r in range(S):
        for c in range(S):
            if rng.random() < 0.6:
                cx = (c + rng.uniform(0.01, 0.99)) * W / S
                cy = (r + rng.uniform(0.01, 0.99)) * H / S
                w, h = rng.uniform(5, 150, 2)
                boxes.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
                labels.append(int(rng.integers(0, 5)))
    boxes, labels = np.array(boxes), np.array(labels)
    res = encode_yolo_targets(boxes, labels, (H, W), S, anchors, 5, on_collision="raise")
    out_b, out_s, out_l = decode_yolo_outputs(res.targets, (H, W), anchors)
    # decode returns grid order (row, col, anchor) on equal scores -> same order as the row-major input
    np.testing.assert_allclose(out_b, boxes, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(out_l, labels)
    assert (out_s == 1).all()


def test_yolo_decode_raw_parameterisation(rng):
    H, W, S = 128, 128, 4
    anchors = np.array([[20.0, 40.0], [50.0, 25.0]])
    boxes = np.array([[10.0, 10.0, 30.0, 50.0], [70.0, 70.0, 120.0, 95.0]])
    t = encode_yolo_targets(boxes, [1, 0], (H, W), S, anchors, 2).targets
    raw = np.full(t.shape, -30.0)  # sigmoid(-30) ~ 1e-13: no object
    obj = t[..., 0] == 1
    a_idx = np.broadcast_to(np.arange(2), t.shape[:3])[obj]
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    raw[obj, 0] = 10.0
    raw[obj, 1] = logit(t[obj, 1])
    raw[obj, 2] = logit(t[obj, 2])
    raw[obj, 3] = np.log(t[obj, 3] * H / anchors[a_idx, 1])
    raw[obj, 4] = np.log(t[obj, 4] * W / anchors[a_idx, 0])
    raw[obj, 5:] = np.where(t[obj, 5:] == 1, 5.0, -5.0)
    b, s, lab = decode_yolo_outputs(raw, (H, W), anchors, raw=True)
    np.testing.assert_allclose(b, boxes, atol=1e-9)
    np.testing.assert_array_equal(lab, [1, 0])
    np.testing.assert_allclose(s, 1 / (1 + np.exp(-10.0)))
    # class-specific confidence = pc * max softmax prob
    _, s2, _ = decode_yolo_outputs(raw, (H, W), anchors, raw=True, score="class")
    np.testing.assert_allclose(s2, s / (1 + np.exp(-10.0)))


def test_yolo_decode_threshold_is_strict_and_sorted():
    g = np.zeros((2, 2, 1, 6))
    g[0, 0, 0] = [0.5, 0.5, 0.5, 0.5, 0.5, 1]
    g[1, 1, 0] = [0.9, 0.5, 0.5, 0.5, 0.5, 1]
    g[0, 1, 0] = [0.7, 0.5, 0.5, 0.5, 0.5, 1]
    b, s, _ = decode_yolo_outputs(g, (10, 10), [[5, 5]], score_threshold=0.5)
    np.testing.assert_allclose(s, [0.9, 0.7])  # pc == threshold is discarded (seed: "pc <= 0.6 discarded")
    np.testing.assert_allclose(b, [[5, 5, 10, 10], [5, 0, 10, 5]], atol=1e-12)
    b, s, lab = decode_yolo_outputs(np.zeros((3, 3, 2, 7)), (10, 10), [[5, 5], [2, 2]])
    assert b.shape == (0, 4) and s.shape == (0,) and lab.shape == (0,)


def test_yolo_edges_and_empty():
    # midpoint exactly on the right/bottom image edge goes to the last cell
    res = encode_yolo_targets(np.array([[90.0, 90.0, 110.0, 110.0]]), [0], (100, 100), 4, [[20, 20]], 1)
    np.testing.assert_array_equal(res.slots, [[3, 3, 0]])
    np.testing.assert_allclose(res.targets[3, 3, 0, 1:3], [1.0, 1.0])
    res = encode_yolo_targets(np.zeros((0, 4)), np.zeros(0, int), (100, 100), (2, 3), [[20, 20]], 2)
    assert res.targets.shape == (2, 3, 1, 7) and not res.targets.any()
    assert res.slots.shape == (0, 3) and res.collisions.shape == (0, 2)
    # non-square grid: rows follow y, cols follow x
    res = encode_yolo_targets(np.array([[70.0, 10.0, 80.0, 20.0]]), [1], (100, 100), (2, 4), [[10, 10]], 2)
    np.testing.assert_array_equal(res.slots, [[0, 3, 0]])
    b, _, lab = decode_yolo_outputs(res.targets, (100, 100), [[10, 10]])
    np.testing.assert_allclose(b, [[70, 10, 80, 20]])
    assert lab.tolist() == [1]


def test_yolo_bad_input():
    b = np.array([[10.0, 10.0, 20.0, 20.0]])
    with pytest.raises(ValueError, match="outside the image"):
        encode_yolo_targets(np.array([[95.0, 10.0, 120.0, 20.0]]), [0], (100, 100), 3, ANCHORS, 1)
    with pytest.raises(ValueError, match="labels"):
        encode_yolo_targets(b, [1], (100, 100), 3, ANCHORS, 1)
    with pytest.raises(ValueError, match="anchors"):
        encode_yolo_targets(b, [0], (100, 100), 3, [[10, 0]], 1)
    with pytest.raises(ValueError, match="anchors"):
        encode_yolo_targets(b, [0], (100, 100), 3, [10, 10], 1)
    with pytest.raises(ValueError, match="grid"):
        encode_yolo_targets(b, [0], (100, 100), 0, ANCHORS, 1)
    with pytest.raises(ValueError, match="on_collision"):
        encode_yolo_targets(b, [0], (100, 100), 3, ANCHORS, 1, on_collision="overwrite")
    with pytest.raises(ValueError, match="anchors: 2 anchors do not match"):
        decode_yolo_outputs(np.zeros((3, 3, 1, 6)), (100, 100), ANCHORS)
    with pytest.raises(ValueError, match="grid_output"):
        decode_yolo_outputs(np.zeros((3, 3, 6)), (100, 100), ANCHORS)
    with pytest.raises(ValueError, match="non-finite"):
        decode_yolo_outputs(np.full((3, 3, 2, 6), np.inf), (100, 100), ANCHORS)


@settings(max_examples=40, deadline=None)
@given(
    cx=st.floats(0.0, 1.0),
    cy=st.floats(0.0, 1.0),
    w=st.floats(0.01, 2.0),
    h=st.floats(0.01, 2.0),
    S=st.integers(1, 9),
)
def test_yolo_roundtrip_property(cx, cy, w, h, S):
    H, W = 90.0, 120.0
    box = np.array([[cx * W - w * W / 2, cy * H - h * H / 2, cx * W + w * W / 2, cy * H + h * H / 2]])
    res = encode_yolo_targets(box, [0], (90, 120), S, ANCHORS, 1)
    r, c, _ = res.slots[0]
    assert 0 <= r < S and 0 <= c < S
    assert 0.0 <= res.targets[r, c, :, 1].max() <= 1.0
    b, _, _ = decode_yolo_outputs(res.targets, (90, 120), ANCHORS)
    np.testing.assert_allclose(b, box, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------------
# issue 19: dtypes, sizes, flags
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [">f4", np.float16])
def test_targets_keep_float32(dtype):
    b = np.array([[10.0, 10.0, 20.0, 30.0], [40.0, 8.0, 60.0, 24.0]], dtype=dtype)
    res = encode_yolo_targets(b, [0, 1], (64, 64), 4, ANCHORS, 2)
    assert res.targets.dtype == np.float32
    np.testing.assert_array_equal(
        res.targets, encode_yolo_targets(b.astype(np.float32), [0, 1], (64, 64), 4, ANCHORS, 2).targets
    )
    y = encode_localization(b, [0, 1], 2, (64, 64))
    assert y.dtype == np.float32


def test_targets_sizes_that_cannot_fit_are_refused():
    b = np.array([[10.0, 10.0, 20.0, 20.0]])
    with pytest.raises(ValueError, match=r"num_classes: the .* targets would need .*TiB"):
        encode_yolo_targets(b, [0], (100, 100), 3, ANCHORS, 2**40)
    with pytest.raises(ValueError, match=r"grid: the .* targets would need"):
        encode_yolo_targets(b, [0], (100, 100), 2**20, ANCHORS, 1)
    with pytest.raises(ValueError, match=r"num_classes: the .* targets would need .*TiB"):
        encode_localization(b, [0], 2**40, (100, 100))


def test_target_flags_are_bools():
    y = np.zeros((2, 6))
    y[0, 0] = 1
    for bad in ("no", None, 1):
        with pytest.raises(ValueError, match="from_logits: expected True or False"):
            localization_loss(y, y, kind="mixed", from_logits=bad)
        with pytest.raises(ValueError, match="raw: expected True or False"):
            decode_yolo_outputs(np.zeros((2, 2, 2, 6)), (64, 64), ANCHORS, raw=bad)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 2**12),
    st.integers(1, 2**12),
    st.integers(1, 6),
    st.lists(st.tuples(st.integers(0, 63), st.integers(0, 63), st.integers(1, 64), st.integers(1, 64)), max_size=6),
    st.sampled_from(["<f4", ">f4", "<f8", ">f8", "<f2"]),
    st.sampled_from(["c", "fortran", "strided"]),
)
def test_yolo_targets_property_any_dtype_layout_scale(h0, w0, S, cells, dtype, layout):
    """A named error, or the float64 run on the native-order copy (exactly the same slots, targets to rounding).

    Image sizes range over four orders of magnitude; corners sit on a grid of 1/64 of the image, so every
    midpoint is exact in float32 and both runs see the same cells."""
    H, W = 64 * h0, 64 * w0
    boxes = np.array(
        [[x * w0, y * h0, min(x + dx, 64) * w0, min(y + dy, 64) * h0] for x, y, dx, dy in cells], dtype=np.float64
    ).reshape(-1, 4)
    with np.errstate(over="ignore"):
        b = boxes.astype(dtype)
    if layout == "fortran":
        b = np.asfortranarray(b)
    elif layout == "strided":
        b = np.repeat(b, 2, axis=0)[::2]
    labels = np.arange(len(b)) % 3
    anchors = np.array([[0.1 * W, 0.1 * H], [0.4 * W, 0.2 * H], [0.2 * W, 0.5 * H]])
    kw = dict(on_collision="keep_first")
    try:
        res = encode_yolo_targets(b, labels, (H, W), S, anchors, 3, **kw)
    except ValueError as err:
        assert str(err).split(":")[0] == "boxes"
        return
    native = np.asarray(b, dtype=b.dtype.newbyteorder("=")).astype(np.float64)
    want = encode_yolo_targets(native, labels, (H, W), S, anchors, 3, **kw)
    assert res.targets.dtype == (np.float64 if np.dtype(dtype).itemsize == 8 else np.float32)
    np.testing.assert_array_equal(res.slots, want.slots)
    np.testing.assert_array_equal(res.collisions, want.collisions)
    np.testing.assert_allclose(res.targets, want.targets, rtol=1e-6, atol=1e-6)
