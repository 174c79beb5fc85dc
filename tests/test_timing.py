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


# --------------------------------------------------------------------------- several processes (issue 20)


def _t(*times, inner=1):
    from detbench._timing import Timing

    return Timing(tuple(float(x) for x in times), inner)


def test_merge_processes_takes_the_median_of_process_medians():
    from detbench._timing import merge_processes

    # one process with many fast rounds, two slower ones: the pooled median would be 1, the processes say 5
    per_process = [{"a": _t(1, 1, 1, 1, 1, 1, 1)}, {"a": _t(5, 5)}, {"a": _t(6, 7)}]
    t = merge_processes(per_process)["a"]
    assert t.process_rounds == (7, 2, 2) and t.processes == 3 and t.rounds == 11
    assert t.median == 5.0  # median of (1, 5, 6.5)
    assert (t.min, t.max) == (1.0, 7.0)  # min-max over every round of every process
    assert t.spread == pytest.approx((7 - 1) / 5) and t.noisy
    assert [len(g) for g in t.groups] == [7, 2, 2]


def test_merge_processes_keeps_common_names_and_nested_splits():
    from detbench._timing import merge_processes

    first = merge_processes([{"a": _t(1, 2), "b": _t(3, 4)}, {"a": _t(5, 6), "b": _t(7, 8)}])
    both = merge_processes([first, {"a": _t(9, 9, 9)}])
    assert list(both) == ["a"]  # "b" is missing from the last process
    assert both["a"].process_rounds == (2, 2, 3) and both["a"].median == 5.5
    assert merge_processes([]) == {}


def test_one_process_timing_is_unchanged():
    t = _t(3, 1, 2)
    assert t.processes == 1 and t.groups == [(3.0, 1.0, 2.0)] and t.median == 2.0
    with pytest.raises(ValueError, match="process_rounds"):
        type(t)((1.0, 2.0), 1, (1, 2)).median  # noqa: B018 - counts must add up to the samples


def test_ratio_pairs_rounds_within_each_process():
    from detbench._timing import merge_processes, ratio

    den = merge_processes([{"x": _t(1, 1, 1)}, {"x": _t(1, 1)}, {"x": _t(2, 2, 2)}])["x"]
    num = merge_processes([{"x": _t(2, 2, 2)}, {"x": _t(4, 4)}, {"x": _t(2, 2, 20)}])["x"]
    r = ratio(num, den)
    assert r.process_rounds == (3, 2, 3)
    assert r.values == (2, 2, 2, 4, 4, 1, 1, 10)
    assert r.median == 2.0  # median of the per-process medians (2, 4, 1)
    assert (r.min, r.max) == (1.0, 10.0) and r.noisy
    one = ratio(_t(2, 4), _t(1, 2))  # one process: as before
    assert one.values == (2.0, 2.0) and one.process_rounds == ()
    with pytest.raises(ValueError, match="different processes"):
        ratio(num, _t(1, 1, 1))


def test_workers_in_this_process_and_bad_counts():
    from detbench._timing import Workers

    with Workers(1) as w:
        assert w.run(os.getpid) == [os.getpid()]
    for bad in (0, -1, 2.0, "3", True):
        with pytest.raises(ValueError, match="processes"):
            Workers(bad)


def test_workers_are_fresh_spawned_processes():
    from detbench._timing import Workers, steady_allocator

    with Workers(2, setup=os.getpid) as w:
        pids = w.run(os.getpid)
        assert w.run(os.getpid) == pids  # the same processes serve every call
        # set up as the detbench command is: passive OpenMP threads, the steady allocator
        assert w.run(os.getenv, "OMP_WAIT_POLICY") == [os.environ.get("OMP_WAIT_POLICY", "passive")] * 2
        if sys.platform.startswith("linux") and os.environ.get("DETBENCH_MALLOC") != "default":
            assert w.run(steady_allocator) == [True, True]
    assert len(set(pids)) == 2 and os.getpid() not in pids


def test_slow_calls_skip_the_untimed_opener():
    from detbench._timing import compare

    counts = {"fast": 0, "slow": 0}

    def call(name):
        counts[name] += 1

    compare({"fast": lambda: call("fast")}, rounds=3, max_inner=1)
    compare({"slow": lambda: call("slow")}, rounds=3, max_inner=1, slow_call_s=0.0)  # every call counts as slow
    assert counts == {"fast": 2 + 3 * 2, "slow": 2 + 3}  # warm-up and sizing, then each round: (opener +) 1
