"""Helpers shared by the target encoders: box-format round trips and the image size."""

from __future__ import annotations

from typing import Any

import numpy as np

from detbench._validate import check_pair


def to_xyxy(b: np.ndarray, fmt: str) -> np.ndarray:
    if fmt == "xyxy":
        return b
    out = np.empty_like(b)
    if fmt == "xywh":
        out[:, :2] = b[:, :2]
        out[:, 2:] = b[:, :2] + b[:, 2:]
    else:  # cxcywh
        out[:, :2] = b[:, :2] - 0.5 * b[:, 2:]
        out[:, 2:] = b[:, :2] + 0.5 * b[:, 2:]
    return out


def from_xyxy(b: np.ndarray, fmt: str) -> np.ndarray:
    if fmt == "xyxy":
        return b
    out = np.empty_like(b)
    wh = b[:, 2:] - b[:, :2]
    if fmt == "xywh":
        out[:, :2] = b[:, :2]
    else:
        out[:, :2] = b[:, :2] + 0.5 * wh
    out[:, 2:] = wh
    return out


def image_size(image_size: Any) -> tuple[int, int]:
    return check_pair(image_size, "image_size")
