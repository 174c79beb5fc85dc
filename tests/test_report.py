"""The report: runs on built-in data, writes every artefact, and every figure loads in a real browser."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from detbench.report import SECTIONS, run_report

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    index = run_report(out, quick=True, progress=False)
    return out, index


def test_report_writes_every_artifact(quick_report):
    out, index = quick_report
    assert index.name == "index.html" and index.exists()
    results = json.loads((out / "results.json").read_text())
    assert set(results["sections"]) == {k for k, _ in SECTIONS}
    page = index.read_text()
    for section in results["sections"].values():
        for fig in section["figures"]:
            assert (out / fig).stat().st_size > 1000, fig
            assert f"src='{fig}'" in page
        for table in section["tables"]:
            assert (out / f"{table}.csv").exists()
    speed = results["sections"]["speed"]["tables"]["speed"]
    assert speed and all(r["detbench_s"] > 0 for r in speed)


def test_report_rejects_unknown_section(tmp_path):
    with pytest.raises(ValueError, match="sections: unknown"):
        run_report(tmp_path, sections=["nope"], progress=False)


def test_every_figure_loads_in_headless_chromium(quick_report):
    out, index = quick_report
    chromium = find_chromium()
    assert chromium, "Chromium is needed for this test (Debian package 'chromium'; .ci/run installs it)"
    ARTIFACTS.mkdir(exist_ok=True)
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={out / 'chrome-profile'}",
        "--virtual-time-budget=5000",
        "--allow-file-access-from-files",
    ]
    url = index.resolve().as_uri()
    dom = subprocess.run([chromium, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    n_figures = sum(len(s["figures"]) for s in json.loads((out / "results.json").read_text())["sections"].values())
    assert n_figures >= 1
    assert f'data-loaded="{n_figures}" data-total="{n_figures}"' in dom.stdout, dom.stdout[:3000]
    shot = ARTIFACTS / "report-screenshot.png"
    subprocess.run(
        [chromium, *flags, "--window-size=1200,2400", f"--screenshot={shot}", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.exists() and shot.stat().st_size > 10_000
    print(f"report screenshot: {shot}")
