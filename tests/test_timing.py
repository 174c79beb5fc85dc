"""detbench._timing.steady_allocator: the allocator setup the CLI and the benchmarks apply."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_PROBE = """
import ctypes, sys
from detbench._timing import steady_allocator
print(steady_allocator(), steady_allocator())
"""


def _run(env_extra: dict[str, str]) -> str:
    env = {**os.environ, **env_extra}
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")
def test_steady_allocator_applies_once_on_glibc():
    assert _run({"DETBENCH_MALLOC": ""}) == "True True"


def test_steady_allocator_can_be_turned_off():
    assert _run({"DETBENCH_MALLOC": "default"}) == "False False"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")
def test_cli_applies_it():
    probe = (
        "import detbench.cli as c, detbench._timing as t\nc._polite_threads()\nprint(t._allocator_state.get('applied'))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
