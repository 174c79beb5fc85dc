"""Reading VOC XML, YOLO txt and text files into evaluable datasets: detbench.eval.formats vs globox.

Data: :func:`benchmarks.bench_eval.make_coco_dataset` (20 categories, ~7 ground truths and 100
detections per image, boxes clipped to the 640x480 image) written out once per size to each format:
``voc`` (Annotations/*.xml and the devkit's per-class results files), ``yolo`` (normalised labels and
predictions with scores last, plus blank 640x480 PNGs: globox reads image sizes from image files) and
``text`` (``class x1 y1 x2 y2`` / ``class score x1 y1 x2 y2``). Timed: the ground truth
(``time_read_gt``) and the detections (``time_read_dt``) from files to what the evaluator takes:
detbench's :func:`~detbench.eval.formats.read_ground_truth` / ``read_detections``, globox's
``AnnotationSet.from_*`` (globox has no reader of the devkit's results files: skipped). globox is
the peer when installed (``pip install globox``); ``track_max_box_difference`` checks both read the same
boxes. ``python -m benchmarks.bench_eval_formats [N ...]`` prints a same-run table.
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np

from benchmarks.bench_eval import make_coco_dataset
from benchmarks.common import peer_available

FORMATS = ["voc", "yolo", "text"]
PEERS = ["detbench", "globox"]
SIZES = [100, 1000]
_DIRS: dict = {}


def _clip(b: list, W: float = 640.0, H: float = 480.0) -> tuple:
    x1, y1 = min(max(b[0], 0.0), W), min(max(b[1], 0.0), H)
    x2, y2 = min(max(b[0] + b[2], 0.0), W), min(max(b[1] + b[3], 0.0), H)
    return x1, y1, x2, y2


def write_all(n_images: int) -> str:
    """Write the size-``n_images`` data set in every format (cached per process); returns the folder."""
    if n_images in _DIRS:
        return _DIRS[n_images]
    gt, dets = make_coco_dataset(n_images, seed=0, n_categories=20)
    root = tempfile.mkdtemp(prefix=f"detbench_formats_{n_images}_")
    names = {c["id"]: c["name"] for c in gt["categories"]}
    key = {im["id"]: os.path.splitext(im["file_name"])[0] for im in gt["images"]}
    g_by, d_by = {i: [] for i in key}, {i: [] for i in key}
    for a in gt["annotations"]:
        if not a["iscrowd"]:
            g_by[a["image_id"]].append((names[a["category_id"]], a["category_id"] - 1, _clip(a["bbox"]), None))
    for d in dets:
        d_by[d["image_id"]].append((names[d["category_id"]], d["category_id"] - 1, _clip(d["bbox"]), d["score"]))
    for sub in ("Annotations", "voc_dt", "labels", "preds", "images", "text_gt", "text_dt"):
        os.makedirs(os.path.join(root, sub))
    with open(os.path.join(root, "names.txt"), "w") as f:
        f.write("\n".join(names.values()) + "\n")
    voc_dt: dict = {n: [] for n in names.values()}
    from PIL import Image

    blank = Image.new("L", (640, 480))
    for i, k in key.items():
        blank.save(os.path.join(root, "images", k + ".png"))
        objs = "".join(
            f"<object><name>{n}</name><difficult>0</difficult><bndbox><xmin>{b[0] + 1:.2f}</xmin>"
            f"<ymin>{b[1] + 1:.2f}</ymin><xmax>{b[2]:.2f}</xmax><ymax>{b[3]:.2f}</ymax></bndbox></object>"
            for n, _, b, _ in g_by[i]
        )
        with open(os.path.join(root, "Annotations", k + ".xml"), "w") as f:
            f.write(
                f"<annotation><filename>{k}.png</filename><size><width>640</width><height>480</height>"
                f"<depth>1</depth></size>{objs}</annotation>"
            )
        for n, _, b, s in d_by[i]:
            voc_dt[n].append(f"{k} {s} {b[0] + 1:.2f} {b[1] + 1:.2f} {b[2]:.2f} {b[3]:.2f}")

        def yolo(c, b, s=None):
            v = ((b[0] + b[2]) / 1280, (b[1] + b[3]) / 960, (b[2] - b[0]) / 640, (b[3] - b[1]) / 480)
            return f"{c} " + " ".join(f"{t:.6f}" for t in v) + (f" {s}" if s is not None else "")

        for sub, rows, fn in (
            ("labels", g_by[i], lambda r: yolo(r[1], r[2])),
            ("preds", d_by[i], lambda r: yolo(r[1], r[2], r[3])),
            ("text_gt", g_by[i], lambda r: f"{r[0]} " + " ".join(f"{t:.2f}" for t in r[2])),
            ("text_dt", d_by[i], lambda r: f"{r[0]} {r[3]} " + " ".join(f"{t:.2f}" for t in r[2])),
        ):
            with open(os.path.join(root, sub, k + ".txt"), "w") as f:
                f.write("".join(fn(r) + "\n" for r in rows))
    for n, lines in voc_dt.items():
        with open(os.path.join(root, "voc_dt", f"comp4_det_test_{n}.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
    _DIRS[n_images] = root
    return root


def read_detbench(root: str, fmt: str, side: str, gt=None):
    from detbench.eval.formats import read_detections, read_ground_truth

    names = os.path.join(root, "names.txt")
    sizes = os.path.join(root, "images")
    if side == "gt":
        path = {"voc": "Annotations", "yolo": "labels", "text": "text_gt"}[fmt]
        return read_ground_truth(
            os.path.join(root, path), fmt, names=names, image_sizes=sizes if fmt == "yolo" else None
        )
    path = {"voc": "voc_dt", "yolo": "preds", "text": "text_dt"}[fmt]
    return read_detections(os.path.join(root, path), fmt, gt, names=names if fmt == "yolo" else None)


def read_globox(root: str, fmt: str, side: str):
    from globox import AnnotationSet, BoxFormat

    img = os.path.join(root, "images")
    if fmt == "voc":
        if side == "dt":
            raise NotImplementedError("globox reads no VOC devkit results files")
        return AnnotationSet.from_pascal_voc(os.path.join(root, "Annotations"))
    if fmt == "yolo":
        folder = os.path.join(root, "labels" if side == "gt" else "preds")
        if side == "gt":
            return AnnotationSet.from_yolo_darknet(folder, image_folder=img, image_extension=".png")
        return AnnotationSet.from_yolo_v5(folder, image_folder=img, image_extension=".png")
    folder = os.path.join(root, "text_gt" if side == "gt" else "text_dt")
    return AnnotationSet.from_txt(folder, box_format=BoxFormat.LTRB, image_extension=".png")


def _globox_boxes(aset, names: list | None = None) -> np.ndarray:
    """(image, class, x, y, w, h[, score]) rows of a globox set, sorted, for comparison."""
    rows = []
    for ann in aset:
        k = os.path.splitext(ann.image_id)[0]
        for b in ann.boxes:
            label = names[int(b.label)] if names is not None else b.label
            rows.append((k, label, *b.ltwh, b.confidence if b.confidence is not None else 0.0))
    rows.sort()
    return np.array([r[2:] for r in rows], np.float64)


def _detbench_boxes(ds, gt) -> np.ndarray:
    key = {im["id"]: im["file_name"] for im in gt.images}
    names = gt.category_names
    a = ds.annotations
    score = a.score if a.score is not None else np.zeros(len(a))
    rows = sorted(
        (key[i], names[c], *b, s)
        for i, c, b, s in zip(a.image_id.tolist(), a.category_id.tolist(), a.bbox.tolist(), score.tolist())
    )
    return np.array([r[2:] for r in rows], np.float64)


class ReadGroundTruth:
    """Ground-truth files -> dataset, per format and reader."""

    params = (FORMATS, PEERS, SIZES)
    param_names = ["format", "reader", "images"]
    timeout = 300

    def setup(self, fmt, peer, n):
        if peer == "globox" and not peer_available("globox"):
            raise NotImplementedError("globox is not installed")
        self.root = write_all(n)
        self.gt = read_detbench(self.root, fmt, "gt")

    def time_read_gt(self, fmt, peer, n):
        if peer == "detbench":
            read_detbench(self.root, fmt, "gt")
        else:
            read_globox(self.root, fmt, "gt")

    def track_max_box_difference(self, fmt, peer, n):
        """Largest |difference| of the ground-truth boxes detbench and globox read (pixels)."""
        if peer == "detbench":
            return 0.0
        ours = _detbench_boxes(self.gt, self.gt)
        theirs = _globox_boxes(read_globox(self.root, fmt, "gt"), self.gt.category_names if fmt == "yolo" else None)
        if fmt == "voc":  # globox keeps the 1-based numbers: x = xmin, w = xmax - xmin
            theirs = theirs + np.array([-1.0, -1.0, 1.0, 1.0, 0.0])
        return float(np.abs(ours - theirs).max()) if ours.shape == theirs.shape else float("inf")


class ReadDetections:
    """Detection files -> results dataset (detbench: against the ground truth read beforehand)."""

    params = (FORMATS, PEERS, SIZES)
    param_names = ["format", "reader", "images"]
    timeout = 300

    def setup(self, fmt, peer, n):
        if peer == "globox" and (fmt == "voc" or not peer_available("globox")):
            raise NotImplementedError("globox is not installed or reads no VOC devkit results files")
        self.root = write_all(n)
        self.gt = read_detbench(self.root, fmt, "gt")

    def time_read_dt(self, fmt, peer, n):
        if peer == "detbench":
            read_detbench(self.root, fmt, "dt", self.gt)
        else:
            read_globox(self.root, fmt, "dt")


def main(argv: list[str]) -> None:
    import time

    sizes = [int(a) for a in argv if a.isdigit()] or SIZES
    have_globox = peer_available("globox")
    print(f"{'format':6s} {'images':>6s} {'side':4s} {'detbench ms':>12s} {'globox ms':>10s} {'ratio':>6s}")
    for n in sizes:
        root = write_all(n)
        for fmt in FORMATS:
            gt = read_detbench(root, fmt, "gt")  # warm
            for side in ("gt", "dt"):
                runs = {"detbench": lambda: read_detbench(root, fmt, side, gt)}
                if have_globox and not (fmt == "voc" and side == "dt"):
                    runs["globox"] = lambda: read_globox(root, fmt, side)
                best = {}
                for _ in range(3):  # interleaved rounds, best of 3
                    for name, fn in runs.items():
                        t = time.perf_counter()
                        fn()
                        best[name] = min(best.get(name, 1e9), time.perf_counter() - t)
                g = best.get("globox")
                ratio = f"{g / best['detbench']:6.1f}" if g else "     -"
                gms = f"{g * 1e3:10.1f}" if g else "         -"
                print(f"{fmt:6s} {n:6d} {side:4s} {best['detbench'] * 1e3:12.1f} {gms} {ratio}")


if __name__ == "__main__":
    main(sys.argv[1:])
