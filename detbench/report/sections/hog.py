"""HOG + linear SVM people detector against OpenCV's ``detectMultiScale`` (OpenCV < 5)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from detbench._timing import compare, first_call_time, ratio
from detbench.report.framework import ReportContext, Section, section


def hog_test_image(seed: int, shape: tuple[int, int] = (480, 640)) -> np.ndarray:
    """A deterministic textured uint8 colour image (built-in; no download)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3))
    for c in range(3):
        fx, fy, ph = rng.uniform(0.005, 0.05, 2).tolist() + [rng.uniform(0, 6.28)]
        img[..., c] = 127 + 60 * np.sin(fx * x + ph) * np.cos(fy * y) + rng.normal(0, 20, (h, w))
    for _ in range(12):  # a few upright "figures"
        cx, cy = rng.integers(40, w - 40), rng.integers(80, h - 80)
        img[cy - 60 : cy + 60, cx - 20 : cx + 20] = rng.uniform(0, 255, 3)
    return np.clip(img, 0, 255).astype(np.uint8)


@section("hog", "HOG + linear SVM detector vs OpenCV")
def section_hog(ctx: ReportContext) -> Section:
    """With OpenCV < 5: its trained weights, both detectors timed. Without: detbench alone, seeded weights."""
    import detbench as db

    cv = ctx.peer("opencv", "HOG detectMultiScale and its trained people detector")
    if cv is not None:
        svm = np.asarray(cv.HOGDescriptor_getDefaultPeopleDetector(), np.float32).reshape(-1)
        weights = "OpenCV's trained people detector"
    else:
        svm = np.random.default_rng(ctx.seed).normal(0, 0.05, 3781).astype(np.float32)
        weights = "seeded random SVM weights (OpenCV's trained weights need OpenCV < 5)"
    rows = []
    for shape in ((480, 640),) if ctx.quick else ((480, 640), (960, 1280)):
        ctx.progress(f"HOG: {shape[1]}x{shape[0]}")
        image = hog_test_image(ctx.seed, shape)
        ours = lambda image=image: db.hog_detect_multiscale(  # noqa: E731
            image, svm, win_stride=8, scale=1.05, nms_threshold=None
        )
        first = first_call_time(ours)
        fns: dict[str, Any] = {"detbench": ours}
        if cv is not None:
            hog = cv.HOGDescriptor()
            hog.setSVMDetector(svm)
            fns["opencv"] = lambda image=image, hog=hog: hog.detectMultiScale(
                image, winStride=(8, 8), padding=(0, 0), scale=1.05, groupThreshold=0
            )
        t = compare(fns, rounds=3 if ctx.quick else 7, budget_s=5.0 if ctx.quick else 20.0, warmup=False)
        row = {
            "image": f"{shape[1]}x{shape[0]}",
            "first_call_ms": first * 1e3,
            "detbench_ms": t["detbench"].median * 1e3,
            "detbench_ms_min": t["detbench"].min * 1e3,
            "detbench_ms_max": t["detbench"].max * 1e3,
            "detbench_candidates": len(ours()[0]),
        }
        if cv is not None:
            r = ratio(t["opencv"], t["detbench"])
            row.update(
                opencv_ms=t["opencv"].median * 1e3,
                opencv_ms_min=t["opencv"].min * 1e3,
                opencv_ms_max=t["opencv"].max * 1e3,
                speedup=r.median,
                speedup_min=r.min,
                speedup_max=r.max,
                opencv_candidates=len(fns["opencv"]()[0]),
            )
        rows.append(row)
    text = (
        f"<p>People detector (64x128 window, {weights}), window stride 8, pyramid scale 1.05, "
        "candidates before grouping (OpenCV's <code>groupThreshold=0</code>). Block descriptors are computed "
        "once per pyramid level and the SVM is correlated with them, the convolutional idea again. "
        "Times in ms, interleaved rounds.</p>"
    )
    return Section(
        "hog", "HOG + linear SVM detector vs OpenCV", text=text, tables={"hog": pd.DataFrame(rows)}, data={"rows": rows}
    )
