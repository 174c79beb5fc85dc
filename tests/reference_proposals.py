"""Plain references for the proposals family (Python containers and NumPy, written from the papers).

Felzenszwalb–Huttenlocher with a list of edges, region descriptors with scipy derivatives,
selective search's grouping by full rescans, proposal recall by brute force, and a synthetic
image of coloured rectangles.
"""

import math

import numpy as np
import scipy.ndimage as ndi


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
                    ious = [iou(pb, gb) for pb in p[:c]]
                    hit += bool(ious) and max(ious) >= t
            rec[ti, ci] = hit / total
    return rec


def iou(a, b):
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
