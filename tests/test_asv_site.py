"""The published asv site works offline (browser test: headless Chromium, no network).

A tiny results set (two commits of a throwaway git repository, results written by hand: no benchmark
runs) is published with ``asv publish``, made offline with ``scripts/asv_offline.py``, served from
127.0.0.1 and loaded in headless Chromium with every other host unresolvable. The page must render
the benchmark grid with its flot plots, and every file it loads must come from the local server.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BROWSER = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
ASV = shutil.which("asv", path=str(Path(sys.executable).parent)) or shutil.which("asv")

pytestmark = [
    pytest.mark.skipif(BROWSER is None, reason="needs Chromium (Debian package chromium)"),
    pytest.mark.skipif(ASV is None, reason="needs asv (the bench extra)"),
]

BENCH = "bench_demo.Demo.time_demo"


def _git(repo: Path, *args: str) -> str:
    cmd = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args]
    return subprocess.run(cmd, cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def _results_set(root: Path) -> Path:
    """A git repository with two commits, an asv.conf.json and hand-written asv 0.6 results for both."""
    _git(root, "init", "-q", "-b", "main")
    conf = {
        "version": 1,
        "project": "demo",
        "repo": ".",
        "branches": ["main"],
        "dvcs": "git",
        "environment_type": "virtualenv",
        "pythons": ["3.11"],
        "benchmark_dir": "benchmarks",
        "results_dir": "results",
        "html_dir": "html",
    }
    (root / "asv.conf.json").write_text(json.dumps(conf))
    machine = {"arch": "x86_64", "cpu": "test cpu", "machine": "vm", "num_cpu": "2", "os": "Linux", "ram": "1"}
    hashes = []
    for i in range(2):
        (root / "f.txt").write_text(str(i))
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "-m", f"c{i}")
        hashes.append(_git(root, "rev-parse", "HEAD"))
    results = root / "results"
    (results / "vm").mkdir(parents=True)
    (results / "vm" / "machine.json").write_text(json.dumps({**machine, "version": 1}))
    version = "0" * 64
    benchmarks = {
        BENCH: {
            "code": "def time_demo(self, n): pass",
            "name": BENCH,
            "param_names": ["n"],
            "params": [["10", "100"]],
            "type": "time",
            "unit": "seconds",
            "version": version,
            "number": 0,
            "repeat": 0,
            "rounds": 2,
            "min_run_count": 2,
            "sample_time": 0.01,
            "warmup_time": -1,
        },
        "version": 2,
    }
    (results / "benchmarks.json").write_text(json.dumps(benchmarks))
    for i, commit in enumerate(hashes):
        values = [0.001 * (1 + i), 0.01 * (1 + i)]
        result = {
            "commit_hash": commit,
            "env_name": "virtualenv-py3.11",
            "date": 1_700_000_000_000 + i * 86_400_000,
            "params": {**machine, "python": "3.11"},
            "python": "3.11",
            "requirements": {},
            "env_vars": {},
            "result_columns": ["result", "params", "version", "started_at", "duration"],
            "results": {BENCH: [values, [["10", "100"]], version, 1_700_000_000_000, 1.0]},
            "durations": {},
            "version": 2,
        }
        (results / "vm" / f"{commit[:8]}-virtualenv-py3.11.json").write_text(json.dumps(result))
    return root


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002  (the base class's name)
        self.server.requested.append(self.path)


def test_published_asv_site_renders_offline(tmp_path):
    (tmp_path / "proj").mkdir()
    root = _results_set(tmp_path / "proj")
    subprocess.run([ASV, "publish", "--config", "asv.conf.json"], cwd=root, check=True, capture_output=True)
    html = root / "html"
    cdn_tags = re.findall(r"<(?:script|link)[^>]+(?:src|href)=\"https?://[^\"]+\"", (html / "index.html").read_text())
    assert cdn_tags, "asv's page no longer loads from CDNs: check scripts/asv_offline.py still applies"

    subprocess.run([sys.executable, str(ROOT / "scripts" / "asv_offline.py"), str(html)], check=True)
    page = (html / "index.html").read_text()
    assert not re.findall(r"<(?:script|link)[^>]+(?:src|href)=\"(?:https?:)?//", page)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(html)))
    server.requested = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
        cmd = [
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chrome'}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # no other host can be reached
            "--virtual-time-budget=8000",
            "--dump-dom",
            url,
        ]
        dom = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout
    finally:
        server.shutdown()
        server.server_close()

    assert "Can not determine continental origin" not in dom  # asv's error.html (a script failed to load)
    assert "Demo.time_demo" in dom  # the benchmark grid was built from index.json by asv.js
    assert 'class="flot-base"' in dom  # flot drew the summary plot (two commits)
    requested = {p.split("?")[0] for p in server.requested}
    assert {"/vendor/jquery-3.3.1.min.js", "/vendor/jquery.flot-0.8.3.js", "/index.json"} <= requested
    assert any(p.startswith("/graphs/") for p in requested)
