"""The layering rules of ARCHITECTURE.md, checked on the source tree (ast, no imports)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "detbench"
MODULES = sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)

PEERS = {"torch", "torchvision", "cv2", "ensemble_boxes", "faster_coco_eval", "skimage", "pycocotools"}
PEERS |= {"hotcoco", "ultrafast_pycocotools", "tidecv", "lvis", "cupy"}
SHARED = {"_jit", "_validate", "_sort", "_parallel", "_compat"}
NUMBA_INTERNALS = ("numba.core", "numba.cpython", "numba.np.unsafe", "numba.misc", "numba.typed.typedobjectutils")

# The few places allowed to import a peer, each for a documented reason.
PEER_IMPORT_ALLOWED = {
    "report/peers.py": PEERS,  # the report's one adapter
    "hog/detector.py": {"cv2"},  # default_people_detector reads OpenCV's trained weights (documented)
    "hog/__init__.py": {"cv2"},
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def _rel(path: Path) -> str:
    return path.relative_to(PKG).as_posix()


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_peers_imported_only_by_the_adapter(path):
    allowed = PEER_IMPORT_ALLOWED.get(_rel(path), set())
    bad = {m for m in _imports(path) if m.split(".")[0] in PEERS - allowed}
    assert not bad, f"{_rel(path)} imports peers {sorted(bad)}: go through detbench/report/peers.py"


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_numba_internals_only_in_compat(path):
    if _rel(path) == "_compat.py":
        return
    bad = [m for m in _imports(path) if m.startswith(NUMBA_INTERNALS)]
    assert not bad, f"{_rel(path)} imports Numba internals {bad}: import them from detbench._compat"


@pytest.mark.parametrize("name", sorted(SHARED))
def test_shared_modules_import_no_family(name):
    for m in _imports(PKG / f"{name}.py"):
        if m.startswith("detbench"):
            assert m.split(".")[1] in SHARED, f"shared module {name} imports {m}"


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_modules_stay_small(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 600, f"{_rel(path)} has {lines} lines: split it by idea (ARCHITECTURE.md)"


def test_no_kernels_folder_left():
    assert not (PKG / "_kernels").exists(), "kernels live beside their family, not in detbench/_kernels"
