"""COCO summaries: the 12 standard numbers (``stats``), their names, the printed table, per-class AP.

:data:`STAT_NAMES` is detbench's one table of the names of ``COCOeval.stats``
(the CLI's JSON keys and the report's rows use it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench.eval._summary_kernels import valid_precision

__all__ = [
    "STAT_NAMES",
    "KPS_STAT_NAMES",
    "stat_spec",
    "stat_spec_keypoints",
    "summarize_one",
    "compute_stats",
    "per_class_table",
]

#: names of the 12 entries of ``COCOeval.stats``, in order
STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")

#: names of the 10 entries of ``COCOeval.stats`` for ``iouType="keypoints"``
KPS_STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def stat_spec(max_dets: list, compat: bool) -> list[tuple[int, float | None, str, int]]:
    """(is AP, IoU threshold or None for all, area label, maxDets) of each of the 12 stats.

    ``compat``: pycocotools' choice (``stats[0]`` at maxDets=100, the others at
    ``maxDets[2]``); otherwise ``maxDets[2]`` (or the last when fewer than 3).
    """
    md = list(max_dets)
    if compat:
        main, first, m0, m1 = md[2], 100, md[0], md[1]
    else:
        main = md[min(2, len(md) - 1)]
        first, m0, m1 = main, md[0], md[min(1, len(md) - 1)]
    return [
        (1, None, "all", first),
        (1, 0.5, "all", main),
        (1, 0.75, "all", main),
        (1, None, "small", main),
        (1, None, "medium", main),
        (1, None, "large", main),
        (0, None, "all", m0),
        (0, None, "all", m1),
        (0, None, "all", main),
        (0, None, "small", main),
        (0, None, "medium", main),
        (0, None, "large", main),
    ]


def stat_spec_keypoints(max_dets: list, compat: bool) -> list[tuple[int, float | None, str, int]]:
    """(is AP, IoU threshold, area label, maxDets) of the 10 keypoint stats.

    ``compat``: pycocotools' maxDets=20 for all (-1 where 20 is absent); otherwise the last maxDets.
    """
    m = 20 if compat else list(max_dets)[-1]
    return [
        (ap, thr, area, m)
        for ap in (1, 0)
        for thr, area in ((None, "all"), (0.5, "all"), (0.75, "all"), (None, "medium"), (None, "large"))
    ]


def summarize_one(ev: dict, p: Any, ap: int, iou_thr: float | None, area_lbl: str, max_dets: int) -> tuple[float, str]:
    """One stat (mean of the entries > -1, or -1) and its line of pycocotools' table."""
    title = "Average Precision" if ap == 1 else "Average Recall"
    kind = "(AP)" if ap == 1 else "(AR)"
    iou_str = f"{p.iouThrs[0]:0.2f}:{p.iouThrs[-1]:0.2f}" if iou_thr is None else f"{iou_thr:0.2f}"
    aind = [i for i, lbl in enumerate(p.areaRngLbl) if lbl == area_lbl]
    mind = [i for i, m in enumerate(p.maxDets) if m == max_dets]
    s = ev["precision"] if ap == 1 else ev["recall"]
    valid = _valid_fast(s, ap, iou_thr, p.iouThrs, aind, mind)
    if valid is None:
        if iou_thr is not None:
            s = s[np.where(iou_thr == np.asarray(p.iouThrs))[0]]
        s = s[:, :, :, aind, mind] if ap == 1 else s[:, :, aind, mind]
        valid = s[s > -1]
    mean_s = -1 if len(valid) == 0 else np.mean(valid)
    line = f" {title:<18} {kind} @[ IoU={iou_str:<9} | area={area_lbl:>6s} | maxDets={max_dets:>3d} ] = {mean_s:0.3f}"
    return mean_s, line


def _valid_fast(s: Any, ap: int, iou_thr: float | None, iou_thrs: Any, aind: list, mind: list) -> np.ndarray | None:
    # the entries > -1 of one stat's selection by one compiled pass (no strided copy, no mask),
    # in NumPy's order; None where the general path is needed (several matching labels or
    # maxDets, or an eval array that is not pycocotools' float64 layout)
    if len(aind) != 1 or len(mind) != 1 or not isinstance(s, np.ndarray) or s.dtype != np.float64:
        return None
    if s.ndim != (5 if ap == 1 else 4):
        return None
    n_t = s.shape[0]
    if aind[0] >= s.shape[-2] or mind[0] >= s.shape[-1]:
        return None  # NumPy raises IndexError there
    if iou_thr is None:
        t_idx = np.arange(n_t, dtype=np.int64)
    else:
        t_idx = np.flatnonzero(iou_thr == np.asarray(iou_thrs)).astype(np.int64)
        if t_idx.size and t_idx[-1] >= n_t:
            return None
    out = np.empty(t_idx.size * int(np.prod(s.shape[1:-2])), np.float64)
    if out.size == 0:
        return out
    n = valid_precision(s if ap == 1 else s[:, np.newaxis], t_idx, aind[0], mind[0], out)
    return out[:n]


def compute_stats(ev: dict, p: Any, compat: bool) -> tuple[np.ndarray, list[str]]:
    """The 12 stats (10 for keypoints) of an accumulated ``eval`` dict and the lines of the printed table."""
    if getattr(p, "iouType", "bbox") == "keypoints":
        spec = stat_spec_keypoints(p.maxDets, compat)
    else:
        spec = stat_spec(p.maxDets, compat)
    stats = np.zeros((len(spec),))
    lines = []
    for k, (ap, thr, lbl, m) in enumerate(spec):
        stats[k], line = summarize_one(ev, p, ap, thr, lbl, int(m))
        lines.append(line)
    return stats, lines


def per_class_table(ev: dict, p_eval: Any, area_lbls: list, cat_ids: list, names: dict) -> Any:
    """Per-category AP table (pandas DataFrame): AP, AP50, AP75, APs, APm, APl, AR at the largest maxDets.

    Each entry is the mean of the entries > -1 like ``summarize()`` (NaN where there is none).
    """
    import pandas as pd

    prec = ev["precision"]
    rec = ev["recall"]
    iou = np.asarray(p_eval.iouThrs)
    lbl = list(area_lbls)
    m = prec.shape[4] - 1

    def mean(x: np.ndarray) -> float:
        v = x[x > -1]
        return float(np.mean(v)) if v.size else float("nan")

    rows = []
    for k, cid in enumerate(cat_ids):
        row: dict[str, Any] = {"category_id": cid, "name": names.get(cid, str(cid))}
        a_all = lbl.index("all") if "all" in lbl else 0
        row["AP"] = mean(prec[:, :, k, a_all, m])
        for name, t in (("AP50", 0.5), ("AP75", 0.75)):
            w = np.where(iou == t)[0]
            row[name] = mean(prec[w][:, :, k, a_all, m]) if w.size else float("nan")
        for name, a in (("APs", "small"), ("APm", "medium"), ("APl", "large")):
            row[name] = mean(prec[:, :, k, lbl.index(a), m]) if a in lbl else float("nan")
        row["AR"] = mean(rec[:, k, a_all, m])
        rows.append(row)
    return pd.DataFrame(rows)
