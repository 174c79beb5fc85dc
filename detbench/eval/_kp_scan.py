"""A keypoint results file read in one Numba pass: ids, scores and every keypoint number straight to arrays.

The common keypoint results file (Detectron-style: a JSON list of objects with
``image_id``, ``category_id``, ``keypoints`` and ``score``) spends most of its
reading time on the keypoint numbers. :func:`scan_keypoint_results` reads such a
file byte by byte: keys are plain strings, ids are integers, the score and
the keypoints are numbers converted where one IEEE operation is provably exact
(see :mod:`detbench.eval._numparse`). Anything else (another key such as
``bbox`` or ``segmentation``, a string or object value, escapes, a number the
fast conversion does not take, a repeated key, a COCO-format object around the
list) makes it return None and the caller reads the file with msgspec.
"""

from __future__ import annotations

import numpy as np

from detbench._jit import jit
from detbench.eval._numparse import _MANT_MAX, _POW10, _ws

__all__ = ["scan_keypoint_results"]

# key codes
_K_OTHER, _K_IMAGE, _K_CAT, _K_SCORE, _K_KP = 0, 1, 2, 3, 4


@jit(inline="always")
def _key_is(buf, p, e, word):
    # buf[p:e] == word (bytes of the key between the quotes)
    if e - p != word.shape[0]:
        return False
    for i in range(word.shape[0]):
        if buf[p + i] != word[i]:
            return False
    return True


@jit
def _number(buf, p, e, pow10, want_int):
    # (value, new p, ok) of the JSON number at p; want_int: an integer literal only
    neg = False
    if p < e and buf[p] == 45:
        neg = True
        p += 1
    if p >= e or buf[p] < 48 or buf[p] > 57:
        return 0.0, p, False
    if buf[p] == 48 and p + 1 < e and 48 <= buf[p + 1] <= 57:
        return 0.0, p, False
    mant = np.int64(0)
    p0 = p
    while p < e and 48 <= buf[p] <= 57:
        mant = mant * 10 + (buf[p] - 48)
        p += 1
    nd = p - p0
    exp10 = 0
    is_int = True
    if p < e and buf[p] == 46:
        is_int = False
        p += 1
        f0 = p
        while p < e and 48 <= buf[p] <= 57:
            mant = mant * 10 + (buf[p] - 48)
            p += 1
        if p == f0:
            return 0.0, p, False
        exp10 = f0 - p
        nd += p - f0
    if p < e and (buf[p] == 101 or buf[p] == 69):
        return 0.0, p, False  # exponents: left to msgspec (rare in results files)
    if nd > 18 or mant > _MANT_MAX or (want_int and not is_int):
        return 0.0, p, False
    if mant == 0:
        v = 0.0
        if is_int:
            neg = False
    elif exp10 == 0:
        v = np.float64(mant)
    elif -22 <= exp10 < 0:
        v = np.float64(mant) / pow10[-exp10]
    else:
        return 0.0, p, False
    return (-v if neg else v), p, True


@jit
def _scan(buf, pow10, words, img, cat, score, kp_len, vals):
    # returns (number of objects, number of keypoint values); (-1, 0): declined; (-2, 0): out of room
    e = buf.shape[0]
    p = _ws(buf, 0, e)
    if p >= e or buf[p] != 91:
        return -1, 0
    p = _ws(buf, p + 1, e)
    n = 0
    q = 0
    if p < e and buf[p] == 93:
        p = _ws(buf, p + 1, e)
        return (0, 0) if p == e else (-1, 0)
    while True:
        if n >= img.shape[0]:
            return -2, 0
        if p >= e or buf[p] != 123:
            return -1, 0
        p = _ws(buf, p + 1, e)
        seen = 0
        q0 = q
        if p < e and buf[p] == 125:
            return -1, 0  # an empty object: msgspec names what is missing
        while True:
            # "key"
            if p >= e or buf[p] != 34:
                return -1, 0
            k0 = p + 1
            p = k0
            while p < e and buf[p] != 34:
                if buf[p] == 92:
                    return -1, 0
                p += 1
            if p >= e:
                return -1, 0
            k1 = p
            p = _ws(buf, p + 1, e)
            if p >= e or buf[p] != 58:
                return -1, 0
            p = _ws(buf, p + 1, e)
            key = _K_OTHER
            for w in range(4):
                if _key_is(buf, k0, k1, words[w, 1 : 1 + words[w, 0]]):
                    key = w + 1
            if key == _K_OTHER or (seen >> key) & 1:
                return -1, 0
            seen |= 1 << key
            if key == _K_KP:
                if p >= e or buf[p] != 91:
                    return -1, 0
                p = _ws(buf, p + 1, e)
                if p < e and buf[p] == 93:
                    p += 1
                else:
                    while True:
                        if q >= vals.shape[0]:
                            return -2, 0
                        v, p, ok = _number(buf, p, e, pow10, False)
                        if not ok:
                            return -1, 0
                        vals[q] = v
                        q += 1
                        if p + 2 < e and buf[p] == 44 and buf[p + 1] == 32 and buf[p + 2] > 32:
                            p += 2
                            continue
                        p = _ws(buf, p, e)
                        if p < e and buf[p] == 44:
                            p = _ws(buf, p + 1, e)
                            continue
                        if p < e and buf[p] == 93:
                            p += 1
                            break
                        return -1, 0
            else:
                v, p, ok = _number(buf, p, e, pow10, key != _K_SCORE)
                if not ok:
                    return -1, 0
                if key == _K_IMAGE:
                    img[n] = v
                elif key == _K_CAT:
                    cat[n] = v
                else:
                    score[n] = v
            p = _ws(buf, p, e)
            if p < e and buf[p] == 44:
                p = _ws(buf, p + 1, e)
                continue
            if p < e and buf[p] == 125:
                p += 1
                break
            return -1, 0
        if seen != 0b11110:
            return -1, 0
        kp_len[n] = q - q0
        n += 1
        p = _ws(buf, p, e)
        if p < e and buf[p] == 44:
            p = _ws(buf, p + 1, e)
            continue
        if p < e and buf[p] == 93:
            p = _ws(buf, p + 1, e)
            return (n, q) if p == e else (-1, 0)
        return -1, 0


_WORDS = np.zeros((4, 16), np.uint8)
for _i, _w in enumerate((b"image_id", b"category_id", b"score", b"keypoints")):
    _WORDS[_i, 0] = len(_w)
    _WORDS[_i, 1 : 1 + len(_w)] = np.frombuffer(_w, np.uint8)


def scan_keypoint_results(raw: bytes) -> dict | None:
    """``{"image_id", "category_id", "score", "kp_vals", "kp_off"}`` of a keypoint results file, or None.

    ``kp_vals``: every keypoint number, file order; the keypoints of detection
    ``i`` are ``kp_vals[kp_off[i]:kp_off[i + 1]]``. None: not the plain case
    (see the module docstring).
    """
    buf = np.frombuffer(raw, np.uint8)
    head = bytes(buf[:64]).lstrip()
    if not head.startswith(b"[") or b'"keypoints"' not in raw[:4096]:
        return None
    cap_obj = buf.size // 40 + 1
    img = np.empty(cap_obj, np.float64)
    cat = np.empty(cap_obj, np.float64)
    score = np.empty(cap_obj, np.float64)
    kp_len = np.empty(cap_obj, np.int64)
    vals = np.empty(buf.size // 4 + 1, np.float64)
    n, q = _scan(buf, _POW10, _WORDS, img, cat, score, kp_len, vals)
    if n == -2:  # denser than assumed: once more with room for anything
        cap = buf.size // 2 + 1
        img, cat, score, kp_len = (np.empty(cap, a.dtype) for a in (img, cat, score, kp_len))
        vals = np.empty(cap, np.float64)
        n, q = _scan(buf, _POW10, _WORDS, img, cat, score, kp_len, vals)
    if n < 0:
        return None
    if n == 0:
        return None
    kp_off = np.zeros(n + 1, np.int64)
    np.cumsum(kp_len[:n], out=kp_off[1:])
    return {
        "image_id": img[:n].copy(),
        "category_id": cat[:n].copy(),
        "score": score[:n].copy(),
        "kp_vals": vals[:q],
        "kp_off": kp_off,
    }
