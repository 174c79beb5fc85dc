"""The one-pass polygon rasteriser (``polys_to_rles``) against the step-by-step one and pycocotools (live)."""

from __future__ import annotations

import numpy as np
from pycocotools import mask as M

from detbench.masks import _rle_kernels as K


def _polygons(seed: int, n: int):
    rng = np.random.default_rng(seed)
    for it in range(n):
        h, w = (int(v) for v in rng.integers(1, 60, 2))
        k = int(rng.integers(3, 12))
        mode = it % 6
        if mode == 0:
            xy = rng.uniform(-5, w + 5, 2 * k)
        elif mode == 1:
            xy = rng.integers(-2, max(w, h) + 2, 2 * k).astype(float)
        elif mode == 2:
            xy = np.round(rng.uniform(0, w, 2 * k), 1)
        elif mode == 3:
            xy = rng.uniform(0, w, 2 * k)
            xy[2:4] = xy[0:2]  # a repeated vertex: a zero-length edge
        elif mode == 4:
            xy = np.repeat(rng.uniform(0, w, 1), 2 * k)  # every vertex the same point
        else:
            xy = rng.uniform(-1e3, 1e3, 2 * k)
        yield xy, h, w


def test_one_pass_equals_step_by_step():
    for xy, h, w in _polygons(0, 6000):
        k = xy.size // 2
        ref = K.poly_to_rle(xy, 0, k, h, w)
        a = np.empty(2 * K.poly_bound(xy, 0, k), np.int64)
        bucket = np.zeros(w + 2, np.int64)
        got = K.poly_to_rle_fast(xy, 0, k, h, w, a, bucket)
        assert np.array_equal(ref, got), (xy.tolist(), h, w)
        assert not bucket.any()
    for h, w in ((0, 5), (5, 0), (0, 0)):
        xy = np.array([0.0, 0, 3, 0, 3, 3])
        a = np.empty(2 * K.poly_bound(xy, 0, 3), np.int64)
        got = K.poly_to_rle_fast(xy, 0, 3, h, w, a, np.zeros(w + 2, np.int64))
        assert np.array_equal(K.poly_to_rle(xy, 0, 3, h, w), got)


def test_batch_equals_pycocotools():
    polys = list(_polygons(1, 600))
    for size in (17, 41):
        sel = [(xy, h, w) for xy, h, w in polys if abs(xy).max() < 1e3][:300]
        xy = np.concatenate([p[0] for p in sel])
        p_off = np.zeros(len(sel) + 1, np.int64)
        np.cumsum([p[0].size for p in sel], out=p_off[1:])
        hs = np.full(len(sel), size)
        ws = np.full(len(sel), size + 3)
        cnts, off = K.polys_to_rles(xy, p_off, hs, ws)
        for i, (p, _, _) in enumerate(sel):
            ref = M.frPyObjects([p.tolist()], size, size + 3)[0]
            buf, s_off = K.rles_to_strings(cnts[off[i] : off[i + 1]], np.array([0, off[i + 1] - off[i]]))
            assert buf.tobytes() == ref["counts"], i


def test_one_pass_equals_step_by_step_large_images():
    # steep edges many columns long, images wider than the points' spread, far-out and rounded vertices
    rng = np.random.default_rng(7)
    polys, sizes = [], []
    for it in range(3000):
        h, w = (int(v) for v in rng.integers(1, 700, 2))
        k = int(rng.integers(3, 20))
        scale = (1.0, 10.0, 1e3, 1e4)[it % 4]
        xy = rng.uniform(-0.1 * scale, scale, 2 * k)
        if it % 3 == 0:
            xy = np.round(xy, 2)
        ref = K.poly_to_rle(xy, 0, k, h, w)
        a = np.empty(K.poly_bound(xy, 0, k), np.int64)
        bucket = np.zeros(w + 2, np.int64)
        assert np.array_equal(ref, K.poly_to_rle_fast(xy, 0, k, h, w, a, bucket)), (xy.tolist(), h, w)
        assert not bucket.any()
        polys.append((xy, ref))
        sizes.append((h, w))
    # the batch kernel (runs written in place, buffer grown) gives the same runs
    xy = np.concatenate([p[0] for p in polys])
    p_off = np.zeros(len(polys) + 1, np.int64)
    np.cumsum([p[0].size for p in polys], out=p_off[1:])
    hw = np.array(sizes, np.int64)
    cnts, off = K.polys_to_rles(xy, p_off, hw[:, 0].copy(), hw[:, 1].copy())
    for i, (_, ref) in enumerate(polys):
        assert np.array_equal(cnts[off[i] : off[i + 1]], ref), i
