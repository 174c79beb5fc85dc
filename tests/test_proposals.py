"""Tests for detbench.proposals: Felzenszwalb segmentation, selective search, RPN proposal layer, recall."""

import math

import numpy as np
import pytest
import scipy.ndimage as ndi
import skimage.color
import skimage.segmentation
import torch
from torch import nn
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import AnchorGenerator, RegionProposalNetwork, concat_box_prediction_layers

from detbench import proposals as P
from detbench.boxes import box_iou
from detbench.proposals import (
    felzenszwalb_segmentation,
    filter_proposals,
    proposal_recall,
    rpn_proposals,
    rpn_proposals_from_maps,
    selective_search,
    sliding_windows,
)

# ---------------------------------------------------------------------------
# plain references
# ---------------------------------------------------------------------------


def ref_felzenszwalb(img255, k, min_size):
    """FH on an already smoothed (H, W, 3) image, written from the paper with Python containers."""
    h, w = img255.shape[:2]
    edges = []
    for y in range(h):
        for x in range(w):
            for dy, dx in ((0, 1), (1, 0), (1, 1), (-1, 1)):
                yy, xx = y + dy, x + dx
                if 0 <= yy < h and xx < w and yy >= 0:
                    d = math.sqrt(sum((img255[y, x, c] - img255[yy, xx, c]) ** 2 for c in range(3)))
                    edges.append((d, y * w + x, yy * w + xx))
    edges.sort(key=lambda e: e[0])  # stable
    parent = list(range(h * w))
    size = [1] * (h * w)
    internal = [0.0] * (h * w)

    def find(a):
        while parent[a] != a:
            a = parent[a]
        return a

    for d, a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb and d <= internal[ra] + k / size[ra] and d <= internal[rb] + k / size[rb]:
            parent[rb] = ra
            size[ra] += size[rb]
            internal[ra] = d
    for _d, a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb and (size[ra] < min_size or size[rb] < min_size):
            parent[rb] = ra
            size[ra] += size[rb]
    roots = [find(p) for p in range(h * w)]
    ids = {}
    return np.array([ids.setdefault(r, len(ids)) for r in roots]).reshape(h, w)


def ref_region_features(img255, labels):
    """Colour (25 bins/channel) and texture (8 orientations x 10 bins/channel, scipy derivatives) histograms."""
    n = labels.max() + 1
    cb = np.clip(np.floor(img255 * 25 / 256), 0, 24).astype(int)
    tb = np.zeros(img255.shape[:2] + (3, 8), dtype=int)
    for c in range(3):
        gx = ndi.gaussian_filter(img255[..., c], 1.0, order=(0, 1), mode="reflect")
        gy = ndi.gaussian_filter(img255[..., c], 1.0, order=(1, 0), mode="reflect")
        resp = np.stack([np.maximum(np.cos(o * np.pi / 4) * gx + np.sin(o * np.pi / 4) * gy, 0) for o in range(8)], -1)
        top = resp.max()
        tb[:, :, c, :] = np.minimum((resp * 10 / top).astype(int), 9) if top > 0 else 0
    ch = np.zeros((n, 75))
    th = np.zeros((n, 240))
    for y in range(labels.shape[0]):
        for x in range(labels.shape[1]):
            r = labels[y, x]
            for c in range(3):
                ch[r, c * 25 + cb[y, x, c]] += 1
                for o in range(8):
                    th[r, (c * 8 + o) * 10 + tb[y, x, c, o]] += 1
    ch /= ch.sum(1, keepdims=True)
    th /= th.sum(1, keepdims=True)
    return ch, th


def ref_grouping(labels, ch, th, sims):
    """Greedy grouping with a full rescan of every neighbour pair at each step (Uijlings et al. Alg. 1)."""
    h, w = labels.shape
    im = h * w
    n = labels.max() + 1
    regions = {}
    for r in range(n):
        ys, xs = np.nonzero(labels == r)
        regions[r] = dict(size=len(ys), box=(xs.min(), ys.min(), xs.max(), ys.max()), ch=ch[r], th=th[r])
    nb = set()
    for a, b in zip(labels[:, :-1].ravel(), labels[:, 1:].ravel()):
        if a != b:
            nb.add((min(a, b), max(a, b)))
    for a, b in zip(labels[:-1, :].ravel(), labels[1:, :].ravel()):
        if a != b:
            nb.add((min(a, b), max(a, b)))

    def sim(a, b):
        ra, rb = regions[a], regions[b]
        s = 0.0
        if "c" in sims:
            s += np.minimum(ra["ch"], rb["ch"]).sum()
        if "t" in sims:
            s += np.minimum(ra["th"], rb["th"]).sum()
        if "s" in sims:
            s += 1 - (ra["size"] + rb["size"]) / im
        if "f" in sims:
            bw = max(ra["box"][2], rb["box"][2]) - min(ra["box"][0], rb["box"][0]) + 1
            bh = max(ra["box"][3], rb["box"][3]) - min(ra["box"][1], rb["box"][1]) + 1
            s += 1 - (bw * bh - ra["size"] - rb["size"]) / im
        return s

    S = {p: sim(*p) for p in nb}
    order = [regions[r]["box"] for r in range(n)]
    t = n
    while S:
        a, b = max(S, key=S.get)
        ra, rb = regions[a], regions[b]
        sa, sb = ra["size"], rb["size"]
        regions[t] = dict(
            size=sa + sb,
            box=(
                min(ra["box"][0], rb["box"][0]),
                min(ra["box"][1], rb["box"][1]),
                max(ra["box"][2], rb["box"][2]),
                max(ra["box"][3], rb["box"][3]),
            ),
            ch=(sa * ra["ch"] + sb * rb["ch"]) / (sa + sb),
            th=(sa * ra["th"] + sb * rb["th"]) / (sa + sb),
        )
        neigh = {q for p in S for q in p if a in p or b in p} - {a, b}
        S = {p: v for p, v in S.items() if a not in p and b not in p}
        for q in neigh:
            S[(q, t)] = sim(q, t)
        order.append(regions[t]["box"])
        t += 1
    return np.array(order)


def ref_recall(props, gts, thr, counts):
    rec = np.zeros((len(thr), len(counts)))
    total = sum(len(g) for g in gts)
    for ti, t in enumerate(thr):
        for ci, c in enumerate(counts):
            hit = 0
            for p, g in zip(props, gts):
                for gb in g:
                    ious = [_iou(pb, gb) for pb in p[:c]]
                    hit += bool(ious) and max(ious) >= t
            rec[ti, ci] = hit / total
    return rec


def _iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def rectangles_image(rng, H=240, W=320, noise=4.0):
    img = np.full((H, W, 3), 128.0) + rng.normal(0, noise, (H, W, 3))
    rects = [(20, 30, 100, 120), (150, 20, 300, 90), (60, 140, 180, 220), (220, 130, 300, 230), (120, 100, 160, 130)]
    rects = [(x1 * W // 320, y1 * H // 240, x2 * W // 320, y2 * H // 240) for x1, y1, x2, y2 in rects]
    cols = [(220, 40, 40), (40, 200, 60), (40, 60, 220), (230, 220, 40), (200, 50, 200)]
    for (x1, y1, x2, y2), c in zip(rects, cols):
        img[y1:y2, x1:x2] = np.array(c) + rng.normal(0, noise, (y2 - y1, x2 - x1, 3))
    return np.clip(img, 0, 255).astype(np.uint8), np.array(rects, dtype=np.float64)


# ---------------------------------------------------------------------------
# Felzenszwalb-Huttenlocher
# ---------------------------------------------------------------------------


def test_felzenszwalb_vs_reference(rng):
    for k, ms in ((50.0, 1), (200.0, 5), (20.0, 3)):
        img = rng.random((9, 11, 3))
        got = felzenszwalb_segmentation(img, k, 0.0, ms)
        want = ref_felzenszwalb(img * 255, k, ms)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("scale,sigma,min_size", [(100, 0.8, 20), (300, 0.5, 10), (50, 0.0, 1)])
def test_felzenszwalb_matches_skimage(rng, scale, sigma, min_size):
    for _ in range(2):
        img = ndi.gaussian_filter(rng.random((48, 64, 3)), (2, 2, 0))
        img = (img - img.min()) / (img.max() - img.min())
        want = skimage.segmentation.felzenszwalb(img, scale=scale, sigma=sigma, min_size=min_size)
        got = felzenszwalb_segmentation(img, scale, sigma, min_size)
        # same partition (label numbering differs)
        pairs = np.unique(np.stack([want.ravel(), got.ravel()], 1), axis=0)
        assert len(pairs) == want.max() + 1 == got.max() + 1


def test_gaussian_and_colour_helpers_match_peers(rng):
    img = rng.random((13, 17, 3)) * 255
    for s in (0.8, 3.0):
        np.testing.assert_allclose(
            P._gaussian_blur(img, s), ndi.gaussian_filter(img, (s, s, 0), mode="reflect"), atol=1e-9
        )
    u8 = rng.integers(0, 256, (20, 30, 3)).astype(np.uint8)
    np.testing.assert_allclose(P._rgb_to_hsv(u8.astype(float)) / 255, skimage.color.rgb2hsv(u8), atol=1e-9)
    lab = skimage.color.rgb2lab(u8)
    want = np.clip(np.stack([lab[..., 0] * 2.55, lab[..., 1] + 128, lab[..., 2] + 128], -1), 0, 255)
    np.testing.assert_allclose(P._rgb_to_lab(u8.astype(float)), want, atol=1e-3)


def test_felzenszwalb_edge_cases():
    assert felzenszwalb_segmentation(np.zeros((1, 1, 3), np.uint8)).tolist() == [[0]]
    lab = felzenszwalb_segmentation(np.zeros((5, 7), np.uint8))  # grey, constant -> one segment
    assert lab.shape == (5, 7) and lab.max() == 0
    assert felzenszwalb_segmentation(np.zeros((0, 4, 3), np.uint8)).shape == (0, 4)
    with pytest.raises(ValueError, match="image: float images must lie in"):
        felzenszwalb_segmentation(np.full((4, 4, 3), 2.0))
    with pytest.raises(ValueError, match="image: expected shape"):
        felzenszwalb_segmentation(np.zeros((4, 4, 4)))
    with pytest.raises(ValueError, match="image: expected dtype"):
        felzenszwalb_segmentation(np.zeros((4, 4, 3), np.int32))
    with pytest.raises(ValueError, match="scale"):
        felzenszwalb_segmentation(np.zeros((4, 4, 3)), scale=0)
    with pytest.raises(ValueError, match="NaN"):
        felzenszwalb_segmentation(np.full((4, 4, 3), np.nan))


# ---------------------------------------------------------------------------
# selective search
# ---------------------------------------------------------------------------


def test_region_features_vs_reference(rng):
    img = (ndi.gaussian_filter(rng.random((24, 30, 3)), (1, 1, 0)) * 255).astype(np.uint8).astype(float)
    reg = P._initial_regions(P._prepare(img, 0.8), 100.0, 10)
    labels = felzenszwalb_segmentation(img / 255, 100.0, 0.8, 10)
    ch, th = ref_region_features(img, labels)
    assert reg.n == labels.max() + 1
    np.testing.assert_allclose(reg.chist, ch, atol=1e-12)
    np.testing.assert_allclose(reg.thist, th, atol=1e-12)
    np.testing.assert_array_equal(reg.size[: reg.n], np.bincount(labels.ravel()))


@pytest.mark.parametrize("sims", ["ctsf", "tsf", "cf", "ct"])
def test_grouping_vs_reference(rng, sims):
    img = rng.random((26, 34, 3)) * 255
    img = ndi.gaussian_filter(img, (0.7, 0.7, 0))
    reg = P._initial_regions(P._prepare(img, 0.8), 10.0, 8)
    labels = felzenszwalb_segmentation(img / 255, 10.0, 0.8, 8)
    assert 10 <= reg.n <= 200
    got = P._group(reg, sims, img.shape[0] * img.shape[1])
    want = ref_grouping(labels, reg.chist, reg.thist, sims)
    assert got.shape == (2 * reg.n - 1, 4)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got[-1], [0, 0, img.shape[1] - 1, img.shape[0] - 1])  # last = whole image


def test_selective_search_ranking_matches_paper_rule(rng):
    img = (ndi.gaussian_filter(rng.random((30, 40, 3)), (1, 1, 0)) * 255).astype(np.uint8)
    seed = 3
    got = selective_search(
        img, seed=seed, color_spaces=["rgb", "hsv"], scales=[50], similarities=["ctsf", "s"], min_size=5
    )
    r = np.random.default_rng(seed)
    boxes, vals = [], []
    for cs in ("rgb", "hsv"):
        reg = P._initial_regions(P._prepare(P._to_color_space(img.astype(float), cs), 0.8), 50.0, 5)
        for s in ("ctsf", "s"):
            hb = P._group(reg, s, 1200)
            vals.append(r.random(len(hb)) * np.arange(len(hb), 0, -1))
            boxes.append(hb)
    b, v = np.concatenate(boxes), np.concatenate(vals)
    want, seen = [], set()
    for i in np.argsort(v, kind="stable"):
        t = (b[i, 0], b[i, 1], b[i, 2] + 1, b[i, 3] + 1)
        if t not in seen:
            seen.add(t)
            want.append(t)
    np.testing.assert_array_equal(got, np.array(want, dtype=float))


@pytest.mark.parametrize("mode", ["single", "fast"])
def test_selective_search_recovers_rectangles(rng, mode):
    img, rects = rectangles_image(rng)
    boxes = selective_search(img, mode=mode, seed=0)
    assert boxes.dtype == np.float64 and boxes.ndim == 2 and boxes.shape[1] == 4
    assert len(np.unique(boxes, axis=0)) == len(boxes)  # duplicates removed
    iou = box_iou(boxes, rects)
    assert (iou.max(0) > 0.9).all(), iou.max(0)
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 320).all() and (boxes[:, 3] <= 240).all()


def test_selective_search_deterministic_and_seeded(rng):
    img, _ = rectangles_image(rng, 120, 160)
    a = selective_search(img, seed=1)
    np.testing.assert_array_equal(a, selective_search(img, seed=1))
    b = selective_search(img, seed=2)
    # same proposals, different (randomised) ranking
    assert {tuple(x) for x in a} == {tuple(x) for x in b}
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(selective_search(img.astype(np.float64) / 255, seed=1), a)


def test_selective_search_downscale_policy(rng):
    # a 1200 x 800 image is shrunk by 3 to 400 x 267 (max_side=500); boxes come back in full-size pixels
    img, rects = rectangles_image(rng, 200, 300)
    big = np.repeat(np.repeat(img, 4, axis=0), 4, axis=1)  # 800 x 1200
    boxes = selective_search(big, max_side=500)
    iou = box_iou(boxes, rects * 4)
    assert (iou.max(0) > 0.9).all()
    assert boxes[:, 2].max() <= 1200 and boxes[:, 3].max() <= 800
    small, f = P._downscale(big.astype(float), 500)
    assert f == 3 and small.shape == (267, 400, 3)
    np.testing.assert_allclose(small[10, 10], big[30:33, 30:33].mean(axis=(0, 1)))


def test_selective_search_max_regions_policy(rng):
    # pure noise with min_size=1 gives thousands of segments; max_regions bounds them (and the grouping cost)
    noise = rng.integers(0, 256, (96, 128, 3)).astype(np.uint8)
    prep = P._prepare(noise.astype(float), 0.8)
    assert P._initial_regions(prep, 100.0, 1).n > 400
    reg = P._initial_regions(prep, 100.0, 1, max_regions=150)
    assert reg.n <= 150 and reg.size[: reg.n].min() >= math.ceil(96 * 128 / 150)
    boxes = selective_search(noise, min_size=1, max_regions=150)
    assert 0 < len(boxes) <= 2 * 150 - 1


def test_sort_edges_is_stable_argsort(rng):
    from detbench._kernels.segmentation import sort_edges

    w = rng.uniform(0, 400, 20000)
    w[::3] = np.round(w[::3])  # many exact ties
    w[1::7] = np.inf  # out-of-image edges
    w[2::11] = np.nextafter(w[5::11][: len(w[2::11])], np.inf)  # equal as float32, different as float64
    order, sw = np.empty(w.size, np.int64), np.empty(w.size)
    n = sort_edges(w, order, sw)
    want = np.argsort(w, kind="stable")
    np.testing.assert_array_equal(order, want)
    np.testing.assert_array_equal(sw, w[want])
    assert n == np.isfinite(w).sum()


def test_selective_search_edge_cases_and_bad_input():
    np.testing.assert_array_equal(selective_search(np.zeros((1, 1, 3), np.uint8)), [[0, 0, 1, 1]])
    assert selective_search(np.zeros((0, 5, 3), np.uint8)).shape == (0, 4)
    assert selective_search(np.zeros((8, 9), np.uint8)).tolist() == [[0, 0, 9, 8]]
    with pytest.raises(ValueError, match="mode"):
        selective_search(np.zeros((4, 4, 3)), mode="quality")
    with pytest.raises(ValueError, match="color_spaces"):
        selective_search(np.zeros((4, 4, 3)), color_spaces=["xyz"])
    with pytest.raises(ValueError, match="similarities"):
        selective_search(np.zeros((4, 4, 3)), similarities=["cx"])
    with pytest.raises(ValueError, match="max_side"):
        selective_search(np.zeros((4, 4, 3)), max_side=2)
    with pytest.raises(ValueError, match="image"):
        selective_search("picture.png")


def test_sliding_windows():
    w = sliding_windows((10, 20), [[10, 10], [20, 5]], 5)
    want = [[0, 0, 10, 10], [5, 0, 15, 10], [10, 0, 20, 10], [0, 0, 20, 5], [0, 5, 20, 10]]
    np.testing.assert_array_equal(w, want)
    assert sliding_windows((10, 10), [[20, 20]], 4).shape == (0, 4)
    with pytest.raises(ValueError, match="window_sizes"):
        sliding_windows((10, 10), [[0, 2]], 4)


# ---------------------------------------------------------------------------
# RPN proposal layer vs torchvision
# ---------------------------------------------------------------------------


class _FixedHead(nn.Module):
    def __init__(self, logits, deltas):
        super().__init__()
        self.logits, self.deltas = logits, deltas

    def forward(self, x):
        return self.logits, self.deltas


def _tv_rpn(head, sizes, ratios, pre, post, nms_thresh, score_thresh):
    ag = AnchorGenerator(sizes=sizes, aspect_ratios=ratios)
    rpn = RegionProposalNetwork(
        ag,
        head,
        0.7,
        0.3,
        256,
        0.5,
        dict(training=pre, testing=pre),
        dict(training=post, testing=post),
        nms_thresh,
        score_thresh,
    )
    return rpn.eval(), ag


def assert_same_proposals(b1, s1, b2, s2, post):
    """Same proposals up to the order of equal scores.

    torchvision orders the NMS survivors of several levels with an unstable sort, so boxes with equal
    (float32) scores may come in any order, and when ``post`` cuts through such a tie the boxes kept
    from it may differ. Scores must match in sequence; boxes as multisets, except the tie at the cut.
    """
    assert b1.shape == b2.shape and s1.shape == s2.shape
    np.testing.assert_allclose(s1, s2, rtol=1e-6)
    assert np.all(np.diff(s1) <= 0) and np.all(np.diff(s2) <= 0)
    keep1 = np.ones(len(s1), bool)
    keep2 = np.ones(len(s2), bool)
    if len(s1) == post and post > 0:
        keep1 = s1 > s1[-1] * (1 + 1e-6)
        keep2 = s2 > s2[-1] * (1 + 1e-6)
    r1, r2 = b1[keep1], b2[keep2]
    assert len(r1) == len(r2)
    r1 = r1[np.lexsort(r1.T[::-1])]
    r2 = r2[np.lexsort(r2.T[::-1])]
    np.testing.assert_allclose(r1, r2, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize(
    "pre,post,nms_thresh,score_thresh",
    [(1000, 1000, 0.7, 0.0), (300, 100, 0.5, 0.0), (50, 20, 0.7, 0.55), (5000, 2000, 0.3, 0.0)],
)
def test_rpn_matches_torchvision_forward(rng, pre, post, nms_thresh, score_thresh):
    H, W = 256, 320
    image_sizes = [(250, 300), (256, 320)]
    levels = [(32, 40), (16, 20), (8, 10)]
    sizes, ratios = ((16, 32), (64,), (128, 256)), ((0.5, 1.0, 2.0),) * 3
    A = [len(s) * 3 for s in sizes]
    logits = [torch.from_numpy(rng.normal(0, 2, (2, a, h, w)).astype(np.float32)) for a, (h, w) in zip(A, levels)]
    deltas = [torch.from_numpy(rng.normal(0, 0.4, (2, 4 * a, h, w)).astype(np.float32)) for a, (h, w) in zip(A, levels)]
    rpn, ag = _tv_rpn(_FixedHead(logits, deltas), sizes, ratios, pre, post, nms_thresh, score_thresh)
    feats = {str(i): torch.zeros(2, 1, h, w) for i, (h, w) in enumerate(levels)}
    images = ImageList(torch.zeros(2, 3, H, W), image_sizes)
    with torch.no_grad():
        tv_boxes, _ = rpn(images, feats)
        # the same pipeline step by step, to get torchvision's scores too
        anchors = rpn.anchor_generator(images, list(feats.values()))
        obj, pred = concat_box_prediction_layers(logits, deltas)
        props = rpn.box_coder.decode(pred, anchors).view(2, -1, 4)
        counts = [a * h * w for a, (h, w) in zip(A, levels)]
        fb, fs = rpn.filter_proposals(props, obj, image_sizes, counts)
    cell = [c.numpy() for c in ag.cell_anchors]
    strides = [(H // h, W // w) for h, w in levels]
    for i in range(2):
        res = rpn_proposals_from_maps(
            [lg[i].numpy() for lg in logits],
            [d[i].numpy() for d in deltas],
            cell,
            strides,
            image_sizes[i],
            pre_nms_top_n=pre,
            post_nms_top_n=post,
            nms_thresh=nms_thresh,
            score_thresh=score_thresh,
        )
        assert res.boxes.dtype == np.float32 and len(res.boxes) <= post
        assert_same_proposals(res.boxes, res.scores, fb[i].numpy(), fs[i].numpy(), post)
        assert_same_proposals(res.boxes, res.scores, tv_boxes[i].numpy(), fs[i].numpy(), post)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rpn_from_maps_equals_flat_pipeline(rng, dtype):
    from detbench.anchors import grid_anchors

    levels, strides = [(12, 16), (6, 8)], [8, (16, 16)]
    cells = [np.array([[-8, -4, 8, 4], [-6, -6, 6, 6]], dtype), np.array([[-20, -10, 20, 10]], dtype)]
    o = [rng.normal(size=(c.shape[0], h, w)).astype(dtype) for c, (h, w) in zip(cells, levels)]
    d = [rng.normal(0, 0.5, (4 * c.shape[0], h, w)).astype(dtype) for c, (h, w) in zip(cells, levels)]
    kw = dict(pre_nms_top_n=60, post_nms_top_n=50, nms_thresh=0.6)
    got = rpn_proposals_from_maps(o, d, cells, strides, (96, 128), **kw)
    anchors = np.concatenate([grid_anchors(c, lv, s) for c, lv, s in zip(cells, levels, strides)])
    flat_o = np.concatenate([m.transpose(1, 2, 0).reshape(-1) for m in o])
    flat_d = np.concatenate([m.reshape(-1, 4, m.shape[1], m.shape[2]).transpose(2, 3, 0, 1).reshape(-1, 4) for m in d])
    counts = [h * w * c.shape[0] for c, (h, w) in zip(cells, levels)]
    want = rpn_proposals(anchors, flat_o, flat_d, (96, 128), num_anchors_per_level=counts, **kw)
    np.testing.assert_array_equal(got.boxes, want.boxes)
    np.testing.assert_array_equal(got.scores, want.scores)
    np.testing.assert_array_equal(got.indices, want.indices)
    assert got.boxes.dtype == dtype and len(got.boxes) == 50


def test_filter_proposals_matches_torchvision(rng):
    n_levels = [600, 300, 100]
    N = sum(n_levels)
    props = rng.uniform(-20, 220, (2, N, 2)).astype(np.float32)
    wh = rng.uniform(0, 60, (2, N, 2)).astype(np.float32)
    wh[:, :20] = 0.0005  # tiny boxes are dropped
    proposals = np.concatenate([props, props + wh], -1)
    obj = rng.normal(0, 3, (2, N)).astype(np.float32)
    head = _FixedHead(None, None)
    rpn, _ = _tv_rpn(head, ((32,),), ((1.0,),), 250, 120, 0.6, 0.2)
    sizes = [(200, 180), (210, 210)]
    tv_b, tv_s = rpn.filter_proposals(torch.from_numpy(proposals), torch.from_numpy(obj), sizes, n_levels)
    for i in range(2):
        res = filter_proposals(
            proposals[i],
            obj[i],
            sizes[i],
            num_anchors_per_level=n_levels,
            pre_nms_top_n=250,
            post_nms_top_n=120,
            nms_thresh=0.6,
            score_thresh=0.2,
        )
        assert_same_proposals(res.boxes, res.scores, tv_b[i].numpy(), tv_s[i].numpy(), 120)
        # indices point at the proposals that were kept (before clipping)
        clipped = proposals[i][res.indices].copy()
        clipped[:, 0::2] = np.clip(clipped[:, 0::2], 0, sizes[i][1])
        clipped[:, 1::2] = np.clip(clipped[:, 1::2], 0, sizes[i][0])
        np.testing.assert_array_equal(clipped, res.boxes)


def test_rpn_reference_pipeline(rng):
    """rpn_proposals against a plain NumPy pipeline written from the steps (float64, one level)."""
    from detbench.anchors import decode_boxes

    anchors = np.concatenate([rng.uniform(0, 100, (400, 2)), rng.uniform(0, 100, (400, 2)) + 120], 1) / 2
    anchors[:, 2:] += 5
    obj = rng.normal(size=400)
    deltas = rng.normal(0, 0.3, (400, 4))
    res = rpn_proposals(
        anchors, obj, deltas, (90, 100), pre_nms_top_n=150, post_nms_top_n=40, nms_thresh=0.5, min_size=3.0
    )
    top = np.argsort(-obj, kind="stable")[:150]
    b = decode_boxes(anchors[top], deltas[top])
    b[:, 0::2] = b[:, 0::2].clip(0, 100)
    b[:, 1::2] = b[:, 1::2].clip(0, 90)
    s = 1 / (1 + np.exp(-obj[top]))
    ok = ((b[:, 2] - b[:, 0]) >= 3) & ((b[:, 3] - b[:, 1]) >= 3)
    b, s, top = b[ok], s[ok], top[ok]
    keep = []
    for i in np.argsort(-s, kind="stable"):
        if all(_iou(b[i], b[j]) <= 0.5 for j in keep):
            keep.append(i)
    keep = keep[:40]
    np.testing.assert_allclose(res.boxes, b[keep], rtol=1e-12)
    np.testing.assert_allclose(res.scores, s[keep], rtol=1e-12)
    np.testing.assert_array_equal(res.indices, top[keep])


def test_rpn_edge_cases_and_bad_input(rng):
    empty = rpn_proposals(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 4)), (10, 10))
    assert empty.boxes.shape == (0, 4) and empty.scores.shape == (0,) and empty.indices.shape == (0,)
    a = np.array([[0.0, 0, 10, 10], [20, 20, 30, 30]])
    # everything outside the image -> clipped to zero size -> dropped
    out = rpn_proposals(a + 100, np.zeros(2), np.zeros((2, 4)), (50, 50))
    assert out.boxes.shape == (0, 4)
    # ties in objectness: lower index first
    res = rpn_proposals(a, np.zeros(2), np.zeros((2, 4)), (50, 50), pre_nms_top_n=1)
    np.testing.assert_array_equal(res.indices, [0])
    with pytest.raises(ValueError, match="num_anchors_per_level"):
        rpn_proposals(a, np.zeros(2), np.zeros((2, 4)), (50, 50), num_anchors_per_level=[1, 2])
    with pytest.raises(ValueError, match="deltas"):
        rpn_proposals(a, np.zeros(2), np.zeros((3, 4)), (50, 50))
    with pytest.raises(ValueError, match="objectness"):
        rpn_proposals(a, np.zeros(3), np.zeros((2, 4)), (50, 50))
    with pytest.raises(ValueError, match="nms_thresh"):
        rpn_proposals(a, np.zeros(2), np.zeros((2, 4)), (50, 50), nms_thresh=1.5)
    with pytest.raises(ValueError, match="image_size"):
        rpn_proposals(a, np.zeros(2), np.zeros((2, 4)), 50)
    with pytest.raises(ValueError, match="delta_maps"):
        rpn_proposals_from_maps([np.zeros((3, 2, 2))], [np.zeros((8, 2, 2))], [np.zeros((3, 4))], [16], (32, 32))
    with pytest.raises(ValueError, match="same non-zero number of levels"):
        rpn_proposals_from_maps([], [], [], [], (32, 32))


# ---------------------------------------------------------------------------
# proposal recall
# ---------------------------------------------------------------------------


def test_proposal_recall_hand_example():
    gt = np.array([[0.0, 0, 10, 10], [20, 20, 40, 40]])
    props = np.array([[0.0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 40, 30], [20, 20, 40, 40]])
    r = proposal_recall(props, gt, iou_thresholds=[0.5, 0.9], counts=[0, 1, 2, 3, 4, 10])
    np.testing.assert_allclose(r.recall, [[0, 0.5, 0.5, 1, 1, 1], [0, 0.5, 0.5, 0.5, 1, 1]])
    np.testing.assert_allclose(r.average_recall, r.recall.mean(0))
    assert r.num_gt == 2


def test_proposal_recall_vs_reference_multi_image(rng):
    props, gts = [], []
    for n_p, n_g in ((40, 5), (0, 3), (25, 0), (60, 8)):
        # sorting the two corners per coordinate gives (x1, y1), (x2, y2)
        props.append(np.sort(rng.uniform(0, 100, (n_p, 2, 2)), axis=1).reshape(n_p, 4))
        gts.append(np.sort(rng.uniform(0, 100, (n_g, 2, 2)), axis=1).reshape(n_g, 4))
    thr = [0.3, 0.5, 0.7]
    counts = [1, 5, 10, 30, 60, 100]
    r = proposal_recall(props, gts, thr, counts)
    np.testing.assert_allclose(r.recall, ref_recall(props, gts, thr, counts))
    assert r.num_gt == 16
    d = proposal_recall(props, gts)
    assert d.counts[0] == 1 and d.counts[-1] == 60 and len(d.iou_thresholds) == 10
    assert np.all(np.diff(d.recall, axis=1) >= 0)


def test_proposal_recall_compares_methods(rng):
    """The use the issue names: selective search vs sliding windows vs anchors on the same image."""
    img, rects = rectangles_image(rng)
    from detbench.anchors import generate_anchors, grid_anchors

    ss = selective_search(img)
    sw = sliding_windows((240, 320), [[64, 64], [128, 64], [64, 128]], 16)
    anc = grid_anchors(generate_anchors(16, (0.5, 1, 2), (2, 4, 8)), (15, 20), 16)
    r_ss = proposal_recall(ss, rects, [0.7], [100])
    r_sw = proposal_recall(sw[rng.permutation(len(sw))], rects, [0.7], [100])
    r_an = proposal_recall(anc[rng.permutation(len(anc))], rects, [0.7], [100])
    assert r_ss.recall[0, 0] == 1.0
    assert r_ss.recall[0, 0] >= r_sw.recall[0, 0] and r_ss.recall[0, 0] >= r_an.recall[0, 0]


def test_proposal_recall_edge_and_bad_input():
    r = proposal_recall(np.zeros((0, 4)), np.zeros((0, 4)), [0.5], [1])
    assert np.isnan(r.recall).all() and r.num_gt == 0
    with pytest.raises(ValueError, match="gt: expected a list"):
        proposal_recall([np.zeros((1, 4))], np.zeros((1, 4)))
    with pytest.raises(ValueError, match="iou_thresholds"):
        proposal_recall(np.zeros((1, 4)), np.zeros((1, 4)), [1.5])
    with pytest.raises(ValueError, match="x2 < x1"):
        proposal_recall(np.array([[5.0, 0, 1, 1]]), np.zeros((1, 4)))
