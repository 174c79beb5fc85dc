"""Mask and keypoint evaluation end to end, and the mask primitives: detbench vs pycocotools (and peers).

``MaskEvalObjectsToStats`` times ``COCOeval(gt, dt, iou_type)``, ``evaluate()``,
``accumulate()``, ``summarize()`` on ``COCO`` objects built beforehand (pycocotools'
for detbench and pycocotools; faster-coco-eval's own), printing suppressed, for
``segm`` and ``keypoints`` on seeded synthetic sets. ``MaskPrimitives`` times
``frPyObjects`` + ``merge`` of polygons and ``iou`` of RLEs against pycocotools.mask.

    python -m benchmarks.bench_masks            # same-run table at 500 images
    python -m benchmarks.bench_masks files 500 5000 --peers detbench,hotcoco,ultrafast_pycocotools

``MaskEvalFilesToStats`` starts from gt.json + results.json on disk (``detbench.synthetic``'s
``make_segm_coco`` / ``make_keypoints_coco``) and ends at ``stats``, with each library's own
``COCO(path)``, ``loadRes(path)`` and ``COCOeval`` (peers: detbench, hotcoco,
ultrafast-pycocotools, faster-coco-eval, pycocotools; one not installed is skipped).
"""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np

from benchmarks.common import peer_available, same_run_timings

SIZES = [500]
PEERS = ["detbench", "pycocotools", "faster_coco_eval"]


def _polygon(rng, cx, cy, r_max, k=8):
    ang = np.sort(rng.uniform(0, 2 * np.pi, k))
    rad = rng.uniform(3, r_max, k)
    return np.column_stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)]).reshape(-1).round(2).tolist()


def make_segm_dataset(n_images: int, seed: int = 0, size: int = 160) -> tuple[dict, list]:
    """Seeded segm set: 6 polygon objects per image (3 categories, 5 % crowd as RLE), 3 shifted copies of each
    as compressed-RLE detections plus 10 random disc detections per image."""
    from pycocotools import mask as M

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images, anns, dets = [], [], []
    aid = 1
    for i in range(1, n_images + 1):
        images.append({"id": i, "height": size, "width": size})
        for _ in range(6):
            c = int(rng.integers(1, 4))
            poly = _polygon(rng, *rng.uniform(10, size - 10, 2), size / 4)
            m = M.decode(M.merge(M.frPyObjects([poly], size, size)))
            crowd = int(rng.random() < 0.05)
            seg = [poly]
            if crowd:
                r = M.encode(np.asfortranarray(m))
                seg = {"size": [size, size], "counts": r["counts"].decode()}
            bb = M.toBbox(M.encode(np.asfortranarray(m))).tolist()
            anns.append(
                {"id": aid, "image_id": i, "category_id": c, "segmentation": seg, "area": float(m.sum())}
                | {"bbox": bb, "iscrowd": crowd}
            )
            aid += 1
            for _ in range(3):
                dm = np.roll(m, tuple(int(v) for v in rng.integers(-4, 5, 2)), axis=(0, 1))
                r = M.encode(np.asfortranarray(dm))
                seg = {"size": [size, size], "counts": r["counts"].decode()}
                dets.append({"image_id": i, "category_id": c, "segmentation": seg, "score": float(rng.random())})
        for _ in range(10):
            cy, cx = rng.uniform(0, size, 2)
            dm = (((yy - cy) ** 2 + (xx - cx) ** 2) < rng.uniform(20, 900)).astype(np.uint8)
            r = M.encode(np.asfortranarray(dm))
            seg = {"size": [size, size], "counts": r["counts"].decode()}
            c = int(rng.integers(1, 4))
            dets.append({"image_id": i, "category_id": c, "segmentation": seg, "score": float(rng.random())})
    cats = [{"id": c, "name": f"c{c}"} for c in (1, 2, 3)]
    return {"images": images, "categories": cats, "annotations": anns}, dets


def make_keypoints_dataset(n_images: int, seed: int = 0, k: int = 17) -> tuple[dict, list]:
    """Seeded person set: 5 people per image (visibility 0/1/2, some with no visible keypoint), 3 noisy
    detections of each."""
    rng = np.random.default_rng(seed)
    images, anns, dets = [], [], []
    aid = 1
    for i in range(1, n_images + 1):
        images.append({"id": i, "height": 480, "width": 640})
        for _ in range(5):
            x, y = rng.uniform(0, 500, 2)
            w, h = rng.uniform(20, 140, 2)
            xs, ys = rng.uniform(x, x + w, k), rng.uniform(y, y + h, k)
            v = rng.choice([0, 1, 2], k, p=[0.3, 0.2, 0.5])
            if rng.random() < 0.05:
                v[:] = 0
            kp = np.column_stack([xs * (v > 0), ys * (v > 0), v]).reshape(-1).tolist()
            anns.append(
                {"id": aid, "image_id": i, "category_id": 1, "keypoints": kp, "num_keypoints": int((v > 0).sum())}
                | {"bbox": [x, y, w, h], "area": w * h, "iscrowd": 0}
            )
            aid += 1
            for _ in range(3):
                dk = np.column_stack([xs + rng.normal(0, 5, k), ys + rng.normal(0, 5, k), np.ones(k)]).reshape(-1)
                dets.append({"image_id": i, "category_id": 1, "keypoints": dk.tolist(), "score": float(rng.random())})
    return {"images": images, "categories": [{"id": 1, "name": "person"}], "annotations": anns}, dets


_DATA: dict = {}


def _data(kind: str, n: int) -> tuple[dict, list]:
    if (kind, n) not in _DATA:
        _DATA[kind, n] = (make_segm_dataset if kind == "segm" else make_keypoints_dataset)(n)
    return _DATA[kind, n]


def build(peer: str, gt: dict, dets: list):
    """(run, gt object, results object): ``run()`` evaluates from the objects to ``stats``."""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        if peer == "faster_coco_eval":
            from faster_coco_eval import COCO
            from faster_coco_eval import COCOeval_faster as Eval
        else:
            from pycocotools.coco import COCO

            if peer == "pycocotools":
                from pycocotools.cocoeval import COCOeval as Eval
            else:
                from detbench.eval import COCOeval as Eval
        c_gt = COCO()
        c_gt.dataset = copy.deepcopy(gt)
        c_gt.createIndex()
        c_dt = c_gt.loadRes(copy.deepcopy(dets))
    return c_gt, c_dt, Eval


class MaskEvalObjectsToStats:
    """segm / keypoints: evaluate + accumulate + summarize on COCO objects (500 synthetic images)."""

    params = (SIZES, ["segm", "keypoints"], PEERS)
    param_names = ["n_images", "iou_type", "peer"]
    timeout = 300
    number = 1
    repeat = (1, 5, 30.0)

    def setup(self, n_images, iou_type, peer):
        if not peer_available("pycocotools" if peer == "detbench" else peer):
            raise NotImplementedError(f"{peer} not installed")
        gt, dets = _data(iou_type, n_images)
        c_gt, c_dt, Eval = build(peer, gt, dets)

        def run():
            with contextlib.redirect_stdout(io.StringIO()):
                E = Eval(c_gt, c_dt, iou_type)
                E.evaluate()
                E.accumulate()
                E.summarize()
            return E.stats

        self.run = run
        self.run()  # JIT warm-up

    def time_objects_to_stats(self, n_images, iou_type, peer):
        self.run()


class MaskPrimitives:
    """Polygons -> merged RLE for 3,000 objects, and one 200 x 200 RLE IoU matrix (detbench vs pycocotools.mask)."""

    params = (["detbench", "pycocotools"],)
    param_names = ["impl"]

    def setup(self, impl):
        if not peer_available("pycocotools"):
            raise NotImplementedError("pycocotools not installed")
        from pycocotools import mask as M

        import detbench.masks as D

        self.lib = D if impl == "detbench" else M
        rng = np.random.default_rng(1)
        self.polys = [[_polygon(rng, *rng.uniform(20, 140, 2), 40)] for _ in range(3000)]
        rles = [M.merge(M.frPyObjects(p, 160, 160)) for p in self.polys[:400]]
        self.dt, self.gt = rles[:200], rles[200:]
        self.crowd = np.zeros(200, np.uint8)
        self.time_polygons(impl)
        self.time_iou(impl)

    def time_polygons(self, impl):
        lib = self.lib
        for p in self.polys:
            lib.merge(lib.frPyObjects(p, 160, 160))

    def time_iou(self, impl):
        self.lib.iou(self.dt, self.gt, self.crowd)


# ------------------------------------------------------------ files -> stats

#: peers of the files -> stats suite (each library's own COCO(path), loadRes(path), COCOeval)
FILE_PEERS = ["detbench", "hotcoco", "ultrafast_pycocotools", "faster_coco_eval", "pycocotools"]
FILE_SIZES = [500, 5000]
_FILES: dict = {}


def instance_files(iou_type: str, n_images: int) -> tuple[str, str]:
    """Paths of gt.json and results.json of ``detbench.synthetic.make_segm_coco`` / ``make_keypoints_coco``
    (``n_images``, seed 0; 20 detections per image, masks as compressed RLE, keypoints without boxes),
    written once per process."""
    key = (iou_type, n_images)
    if key not in _FILES:
        import json
        import os
        import tempfile

        from detbench.synthetic import make_keypoints_coco, make_segm_coco

        gen = make_segm_coco if iou_type == "segm" else make_keypoints_coco
        gt, dets = gen(n_images, seed=0)
        folder = tempfile.mkdtemp(prefix=f"detbench_{iou_type}{n_images}_")
        paths = (os.path.join(folder, "gt.json"), os.path.join(folder, "results.json"))
        for path, obj in zip(paths, (gt, dets)):
            with open(path, "w") as f:
                json.dump(obj, f)
        _FILES[key] = paths
    return _FILES[key]


def files_to_stats(peer: str, iou_type: str, gt_path: str, dt_path: str) -> np.ndarray:
    """What a user runs: gt.json + results.json on disk -> stats, with ``peer``'s own classes."""
    from benchmarks.bench_eval import _peer_module

    m = _peer_module(peer)
    with contextlib.redirect_stdout(io.StringIO()):
        c_gt = m.COCO(gt_path)
        c_dt = c_gt.loadRes(dt_path)
        if peer == "faster_coco_eval":
            E = m.COCOeval_faster(c_gt, c_dt, iou_type, print_function=lambda *a, **k: None)
        else:
            E = m.COCOeval(c_gt, c_dt, iou_type)
        E.evaluate()
        E.accumulate()
        E.summarize()
    return np.asarray(E.stats, dtype=np.float64)


class MaskEvalFilesToStats:
    """segm / keypoints from files on disk to stats (synthetic, ~7 objects / 4 people and 20 results per image)."""

    params = (FILE_SIZES, ["segm", "keypoints"], FILE_PEERS)
    param_names = ["n_images", "iou_type", "peer"]
    timeout = 600
    number = 1
    repeat = (3, 7, 60.0)

    def setup(self, n_images, iou_type, peer):
        if peer == "pycocotools" and n_images > 500:
            raise NotImplementedError("pycocotools takes minutes at 5,000 images; run this file directly for it")
        if not peer_available("msgspec" if peer == "detbench" else peer):
            raise NotImplementedError(f"{peer} not installed")
        self.paths = instance_files(iou_type, n_images)
        files_to_stats(peer, iou_type, *self.paths)  # imports, JIT cache load, OS file cache

    def time_files_to_stats(self, n_images, iou_type, peer):
        files_to_stats(peer, iou_type, *self.paths)


def files_table(sizes: list, peers: list, rounds: int = 5) -> None:
    """Same-run table of files -> stats: peers interleaved, median and min-max per call, ratio to detbench."""
    for n in sizes:
        for iou_type in ("segm", "keypoints"):
            paths = instance_files(iou_type, n)
            fns, ref = {}, None
            for peer in peers:
                if not peer_available("msgspec" if peer == "detbench" else peer):
                    continue
                stats = files_to_stats(peer, iou_type, *paths)
                ref = stats if ref is None else ref
                same = np.array_equal(stats, ref)
                fns[peer] = lambda peer=peer: files_to_stats(peer, iou_type, *paths)
                if not same:
                    print(f"{iou_type} {n} {peer}: stats differ from {peers[0]}'s")
            res = same_run_timings(fns, rounds=rounds, budget_s=600.0)
            base = res["detbench"].median
            for name, t in res.items():
                print(
                    f"{iou_type:9s} {n:5d} images {name:22s} {t.median * 1e3:9.1f} ms "
                    f"(min {t.min * 1e3:8.1f}, max {t.max * 1e3:8.1f})  x{t.median / base:6.2f}",
                    flush=True,
                )


def main() -> None:
    for iou_type in ("segm", "keypoints"):
        fns = {}
        for peer in PEERS:
            b = MaskEvalObjectsToStats()
            try:
                b.setup(500, iou_type, peer)
            except Exception as exc:  # a peer that cannot run this protocol is reported, not fatal
                print(f"{iou_type} {peer}: skipped ({type(exc).__name__}: {str(exc)[:80]})")
                continue
            fns[peer] = b.run
        res = same_run_timings(fns, rounds=5, budget_s=60.0)
        base = res["detbench"].median
        for name, t in res.items():
            print(f"{iou_type:9s} 500 images {name:17s} {t.median * 1e3:9.1f} ms  x{t.median / base:6.1f}")


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 1 and sys.argv[1] == "files":
        # python -m benchmarks.bench_masks files 500 5000 [--peers a,b] [--rounds 5]
        argv = sys.argv[2:]
        peers = FILE_PEERS
        rounds = 5
        if "--peers" in argv:
            i = argv.index("--peers")
            peers = argv[i + 1].split(",")
            del argv[i : i + 2]
        if "--rounds" in argv:
            i = argv.index("--rounds")
            rounds = int(argv[i + 1])
            del argv[i : i + 2]
        files_table([int(a) for a in argv] or [500], peers, rounds)
    else:
        main()
