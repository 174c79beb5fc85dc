"""``COCO``: a drop-in for ``pycocotools.coco.COCO`` built on detbench's array loader.

::

    from detbench.eval import COCO, COCOeval   # instead of pycocotools' two imports
    gt = COCO("instances_val2017.json")
    dt = gt.loadRes("results.json")            # a path, a list of dicts or an (N, 7) array
    E = COCOeval(gt, dt, "bbox"); E.evaluate(); E.accumulate(); E.summarize()

Loading reads the file once with msgspec straight into arrays (see
:mod:`detbench.eval._json`); :class:`~detbench.eval.COCOeval` evaluates those
arrays directly. The pycocotools index API is there with pycocotools'
semantics (same return values, same order, same quirks such as ``loadAnns``
returning None for an id that is neither an int nor array-like):
``getImgIds``, ``getCatIds``, ``getAnnIds``, ``loadAnns``, ``loadImgs``,
``loadCats``, ``loadRes``, ``createIndex``, ``anns``, ``imgs``, ``cats``,
``imgToAnns``, ``catToImgs`` and ``dataset``. The dicts behind it are built
only when one of these is first used: ``imgs``/``cats`` from the image and
category dicts already read, ``dataset``/``anns``/``imgToAnns``/``catToImgs``
by decoding the file a second time (generically) on first use.

From the moment ``dataset`` exists (built on first use, or assigned, as in
``c = COCO(); c.dataset = d; c.createIndex()``) the annotation dicts are the
source of truth, as in pycocotools: evaluation reads them (with the compiled
dict reader, cached per list like for pycocotools objects; see
:func:`detbench.eval.loader.annotations_of` for what an in-place edit needs).

Where it differs from pycocotools:

* Files are checked when loaded (not JSON, truncated, missing keys, bboxes
  that are not 4 numbers, strings or bools where numbers belong, NaN/inf,
  detections of images not in the ground truth): ValueError naming the file,
  the row and the field, instead of a failure or a wrong number later. What
  pycocotools accepts is accepted (duplicate ids, annotations or detections of
  categories not listed, which are never evaluated; negative sizes).
* ``loadRes`` never modifies its argument: pycocotools adds ``area``, ``id``,
  ``iscrowd`` and ``segmentation`` to the caller's dicts; here the results'
  ``dataset`` holds copies with those keys. It also takes a path-like object, JSON
  bytes, and a COCO-format object ``{"annotations": [...]}``; box, mask (compressed or
  uncompressed RLE, or polygons in the image's size) and keypoint results.
  ``loadRes([])`` gives an empty result (pycocotools raises IndexError).
* Nothing is printed (pycocotools prints progress lines).
* ``COCO(x)`` also takes a path-like object, JSON bytes or an already-parsed dict
  (kept, not copied, and not modified).
* A results ``dataset`` built from a file re-reads the file on first use; the
  file must not have changed since ``loadRes`` (ValueError otherwise).
"""

from __future__ import annotations

import copy
import itertools
import os
from collections import defaultdict
from typing import Any

import numpy as np

from detbench._pages import with_small_pages
from detbench.eval._json import decode_generic, read_source
from detbench.eval.annotations import Annotations, _fingerprint, extract_annotations
from detbench.eval.loader import CocoDataset, load_coco_source, load_results

__all__ = ["COCO"]


def _is_array_like(obj: Any) -> bool:
    return hasattr(obj, "__iter__") and hasattr(obj, "__len__")


def _empty_annotations() -> Annotations:
    z = np.zeros(0, np.float64)
    return Annotations(z, z.copy(), np.zeros((0, 4)), z.copy(), np.zeros(0, bool), None, z.copy())


class _FileRef:
    """A file read once, to be decoded again later only if it is unchanged."""

    def __init__(self, name: str) -> None:
        self.name = name
        st = os.stat(name)
        self.stamp = (st.st_size, st.st_mtime_ns)

    def read(self) -> bytes:
        try:
            st = os.stat(self.name)
            changed = (st.st_size, st.st_mtime_ns) != self.stamp
        except OSError as exc:
            raise ValueError(f"COCO.dataset: cannot re-read {self.name!r} ({exc.strerror or exc})") from None
        if changed:
            raise ValueError(f"COCO.dataset: {self.name!r} changed since it was loaded; load it again")
        raw, _, _ = read_source(self.name, "COCO.dataset")
        return raw


class COCO(CocoDataset):
    """Drop-in for ``pycocotools.coco.COCO`` (see the module docstring).

    Parameters
    ----------
    annotation_file:
        a COCO ground-truth JSON file (path), its bytes, a parsed ``dict``, or
        None for an empty object (fill ``dataset`` and call ``createIndex()``).
    """

    @with_small_pages
    def __init__(self, annotation_file: Any = None) -> None:
        self._dicts: dict | None = None
        self._pending: Any = None  # how to build the dicts: bytes, a _FileRef, or a callable
        self._index: dict = {}
        self._dict_cache: tuple | None = None
        if annotation_file is None:
            CocoDataset.__init__(self, [], [], _empty_annotations(), is_results=False, source="<empty>", images=[])
            self._dicts = {}
            return
        raw, data, name = read_source(annotation_file, "COCO")
        if raw is None and not isinstance(data, dict):
            raise ValueError(
                f"annotation_file: expected a path, JSON bytes or a dict, got {type(annotation_file).__name__}"
            )
        ds = load_coco_source(raw, data, name, strict=False)
        CocoDataset.__init__(
            self, ds.image_ids, ds.categories, ds.annotations, is_results=False, source=name, images=ds.images
        )
        if raw is None:
            self._dicts = data
        elif isinstance(annotation_file, (str, os.PathLike)):
            self._pending = _FileRef(name)
        else:
            self._pending = raw

    # ---------------------------------------------------------------- dicts
    def _build_dicts(self) -> dict:
        pending = self._pending
        if callable(pending):
            return pending()
        raw = pending.read() if isinstance(pending, _FileRef) else pending
        data = decode_generic(raw, self.source)
        # the image and category dicts read at load time stay the same objects
        data["images"] = self._images
        data["categories"] = self._categories
        return data

    @property
    def dataset(self) -> dict:
        """The JSON document as Python dicts (built on first use)."""
        if self._dicts is None:
            self._dicts = self._build_dicts()
            self._pending = None
        return self._dicts

    @dataset.setter
    def dataset(self, value: dict) -> None:
        self._dicts = value
        self._pending = None
        self._index = {}
        self._dict_cache = None

    # CocoDataset's fields follow the dicts once they exist
    @property
    def image_ids(self) -> list:  # type: ignore[override]
        if self._dicts is not None:
            return [im["id"] for im in self._dicts.get("images", [])]
        return self._image_ids

    @image_ids.setter
    def image_ids(self, value: list) -> None:
        self._image_ids = value

    @property
    def categories(self) -> list:  # type: ignore[override]
        if self._dicts is not None:
            return list(self._dicts.get("categories", []))
        return self._categories

    @categories.setter
    def categories(self, value: list) -> None:
        self._categories = value

    @property
    def images(self) -> list | None:  # type: ignore[override]
        if self._dicts is not None:
            return self._dicts.get("images")
        return self._images

    @images.setter
    def images(self, value: list | None) -> None:
        self._images = value

    @property
    def annotations(self) -> Annotations:  # type: ignore[override]
        """Flat arrays for evaluation: those read at load time, or from the dicts once they exist."""
        if self._dicts is None:
            return self._arrays
        anns = self._dicts.get("annotations", [])
        kind = "dt" if self.is_results else "gt"
        fp = (kind, *_fingerprint(anns)) if isinstance(anns, list) else None
        if self._dict_cache is not None and fp is not None and self._dict_cache[0] == fp:
            return self._dict_cache[1]
        out = extract_annotations(anns, kind, self.source, strict=False)
        self._dict_cache = (fp, out)
        return out

    @annotations.setter
    def annotations(self, value: Annotations) -> None:
        self._arrays = value

    # ---------------------------------------------------------------- index
    def createIndex(self) -> None:  # noqa: N802 - pycocotools' name
        """Build ``anns``, ``imgs``, ``cats``, ``imgToAnns`` and ``catToImgs`` from ``dataset`` (like pycocotools)."""
        ds = self.dataset
        anns, cats, imgs = {}, {}, {}
        img_to_anns, cat_to_imgs = defaultdict(list), defaultdict(list)
        if "annotations" in ds:
            for ann in ds["annotations"]:
                img_to_anns[ann["image_id"]].append(ann)
                anns[ann["id"]] = ann
        if "images" in ds:
            for img in ds["images"]:
                imgs[img["id"]] = img
        if "categories" in ds:
            for cat in ds["categories"]:
                cats[cat["id"]] = cat
        if "annotations" in ds and "categories" in ds:
            for ann in ds["annotations"]:
                cat_to_imgs[ann["category_id"]].append(ann["image_id"])
        self._index = {"anns": anns, "imgs": imgs, "cats": cats, "imgToAnns": img_to_anns, "catToImgs": cat_to_imgs}

    def _index_part(self, key: str) -> Any:
        if key not in self._index:
            if key in ("imgs", "cats") and self._dicts is None:
                # from the image/category dicts read at load time: no need to decode the annotations
                src = self._images if key == "imgs" else self._categories
                self._index[key] = {d["id"]: d for d in (src or [])}
            else:
                self.createIndex()
        return self._index[key]

    def _set_index_part(self, key: str, value: Any) -> None:
        self._index[key] = value

    anns = property(lambda self: self._index_part("anns"), lambda self, v: self._set_index_part("anns", v))
    imgs = property(lambda self: self._index_part("imgs"), lambda self, v: self._set_index_part("imgs", v))
    cats = property(lambda self: self._index_part("cats"), lambda self, v: self._set_index_part("cats", v))
    imgToAnns = property(  # noqa: N815 - pycocotools' name
        lambda self: self._index_part("imgToAnns"), lambda self, v: self._set_index_part("imgToAnns", v)
    )
    catToImgs = property(  # noqa: N815 - pycocotools' name
        lambda self: self._index_part("catToImgs"), lambda self, v: self._set_index_part("catToImgs", v)
    )

    def info(self) -> None:
        """Print the file's ``info`` entries (pycocotools' ``COCO.info``)."""
        for key, value in self.dataset["info"].items():
            print(f"{key}: {value}")

    # -------------------------------------------------------------- queries
    def getAnnIds(self, imgIds=[], catIds=[], areaRng=[], iscrowd=None) -> list:  # noqa: B006, N802, N803
        """Ids of the annotations of the given images, categories, area range (open) and crowd flag."""
        imgIds = imgIds if _is_array_like(imgIds) else [imgIds]  # noqa: N806
        catIds = catIds if _is_array_like(catIds) else [catIds]  # noqa: N806
        if len(imgIds) == len(catIds) == len(areaRng) == 0:
            anns = self.dataset["annotations"]
        else:
            if len(imgIds) != 0:
                index = self.imgToAnns
                anns = list(itertools.chain.from_iterable(index[i] for i in imgIds if i in index))
            else:
                anns = self.dataset["annotations"]
            if len(catIds) != 0:
                anns = [a for a in anns if a["category_id"] in catIds]
            if len(areaRng) != 0:
                anns = [a for a in anns if a["area"] > areaRng[0] and a["area"] < areaRng[1]]
        if iscrowd is not None:
            return [a["id"] for a in anns if a["iscrowd"] == iscrowd]
        return [a["id"] for a in anns]

    def getCatIds(self, catNms=[], supNms=[], catIds=[]) -> list:  # noqa: B006, N802, N803
        """Ids of the categories with the given names, supercategory names and ids (file order)."""
        catNms = catNms if _is_array_like(catNms) else [catNms]  # noqa: N806
        supNms = supNms if _is_array_like(supNms) else [supNms]  # noqa: N806
        catIds = catIds if _is_array_like(catIds) else [catIds]  # noqa: N806
        cats = self._dicts["categories"] if self._dicts is not None else self._categories
        if len(catNms) != 0:
            cats = [c for c in cats if c["name"] in catNms]
        if len(supNms) != 0:
            cats = [c for c in cats if c["supercategory"] in supNms]
        if len(catIds) != 0:
            cats = [c for c in cats if c["id"] in catIds]
        return [c["id"] for c in cats]

    def getImgIds(self, imgIds=[], catIds=[]) -> list:  # noqa: B006, N802, N803
        """Ids of the given images that hold every given category (all images without filters)."""
        imgIds = imgIds if _is_array_like(imgIds) else [imgIds]  # noqa: N806
        catIds = catIds if _is_array_like(catIds) else [catIds]  # noqa: N806
        if len(imgIds) == len(catIds) == 0:
            return list(self.imgs.keys())
        ids = set(imgIds)
        for i, cat_id in enumerate(catIds):
            if i == 0 and len(ids) == 0:
                ids = set(self.catToImgs[cat_id])
            else:
                ids &= set(self.catToImgs[cat_id])
        return list(ids)

    def _load(self, table: dict, ids: Any) -> list | None:
        if _is_array_like(ids):
            return [table[i] for i in ids]
        if type(ids) is int:
            return [table[ids]]
        return None  # pycocotools returns None here too

    def loadAnns(self, ids=[]) -> list | None:  # noqa: B006, N802
        """The annotation dicts with the given ids."""
        return self._load(self.anns, ids)

    def loadCats(self, ids=[]) -> list | None:  # noqa: B006, N802
        """The category dicts with the given ids."""
        return self._load(self.cats, ids)

    def loadImgs(self, ids=[]) -> list | None:  # noqa: B006, N802
        """The image dicts with the given ids."""
        return self._load(self.imgs, ids)

    # -------------------------------------------------------------- results
    @with_small_pages
    def loadRes(self, resFile: Any) -> COCO:  # noqa: N802, N803 - pycocotools' names
        """Detection results against this ground truth: a path, JSON bytes, a list of dicts or an (N, 7) array.

        Each detection needs ``image_id``, ``category_id``, ``score`` and, like
        pycocotools (which decides from the first detection), a ``bbox`` (box
        results: area ``w*h``, ``iscrowd`` 0, a detection without
        ``segmentation`` gets the bbox's polygon in ``dataset``, built on first
        use), else a ``segmentation`` (mask results: area = mask area, bbox = the
        mask's box unless given, ``iscrowd`` 0), else ``keypoints`` (bbox of all
        keypoints, area its product). Ids are ``1..N`` in order. An ``(N, 7)``
        array holds ``[image_id, x, y, w, h, score, category_id]`` rows.
        """
        ds = load_results(resFile, self, _any_category=True)
        res = COCO.__new__(COCO)
        res._dicts = None
        res._index = {}
        res._dict_cache = None
        cats = copy.deepcopy(self.categories)  # pycocotools deep-copies them into the results
        CocoDataset.__init__(res, self.image_ids, cats, ds.annotations, is_results=True, source=ds.source)
        res._images = self.images
        gt = self
        if isinstance(resFile, np.ndarray):
            rows = np.asarray(resFile)

            def source_dicts() -> list:
                return [
                    {"image_id": int(r[0]), "bbox": [r[1], r[2], r[3], r[4]], "score": r[5], "category_id": int(r[6])}
                    for r in rows
                ]
        elif isinstance(resFile, (str, os.PathLike, bytes, bytearray, memoryview)):
            ref = _FileRef(os.fspath(resFile)) if isinstance(resFile, (str, os.PathLike)) else bytes(resFile)
            name = ds.source

            def source_dicts() -> list:
                data = decode_generic(ref.read() if isinstance(ref, _FileRef) else ref, name)
                return data["annotations"] if isinstance(data, dict) else data
        else:
            given = resFile["annotations"] if isinstance(resFile, dict) else resFile
            items = list(given)

            def source_dicts() -> list:
                return [dict(a) for a in items]

        arrays = ds.annotations
        kind = arrays.extra.get("results_kind", "bbox")

        def build() -> dict:
            anns = source_dicts()
            if kind == "bbox":
                for k, ann in enumerate(anns):
                    bb = ann["bbox"]
                    x1, x2, y1, y2 = bb[0], bb[0] + bb[2], bb[1], bb[1] + bb[3]
                    if "segmentation" not in ann:
                        ann["segmentation"] = [[x1, y1, x1, y2, x2, y2, x2, y1]]
                    ann["area"] = bb[2] * bb[3]
                    ann["id"] = k + 1
                    ann["iscrowd"] = 0
            else:  # segm / keypoints: the fields derived when the results were read
                boxes = arrays.bbox.tolist()
                areas = arrays.area.tolist()
                for k, ann in enumerate(anns):
                    if kind == "segm":
                        ann["area"] = int(areas[k])
                        if "bbox" not in ann or ann["bbox"] == []:
                            ann["bbox"] = boxes[k]
                        ann["iscrowd"] = 0
                    else:
                        ann["area"] = areas[k]
                        ann["bbox"] = boxes[k]
                    ann["id"] = k + 1
            gt_ds = gt.dataset
            return {
                "info": copy.deepcopy(gt_ds.get("info", {})),
                "images": list(gt_ds["images"]),
                "categories": res._categories,
                "annotations": anns,
            }

        res._pending = build
        return res

    def loadNumpyAnnotations(self, data: np.ndarray) -> list:  # noqa: N802 - pycocotools' name
        """``(N, 7)`` rows ``[image_id, x, y, w, h, score, category_id]`` as result dicts (like pycocotools)."""
        if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 7:
            raise ValueError(f"data: expected an (N, 7) ndarray, got {getattr(data, 'shape', type(data).__name__)}")
        return [
            {"image_id": int(r[0]), "bbox": [r[1], r[2], r[3], r[4]], "score": r[5], "category_id": int(r[6])}
            for r in data
        ]

    def __repr__(self) -> str:
        kind = "results" if self.is_results else "ground truth"
        return f"COCO({kind}, {len(self.image_ids)} images, source={self.source!r})"
