"""The report: runs on built-in data, writes every artefact, and every figure loads in a real browser."""

import io
import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import detbench.report
from detbench import _timing
from detbench.report import SECTIONS, ReportContext, Section, peers, run_report, section, speed_cases
from detbench.report.figures import pareto_front, spread_positions
from detbench.report.framework import Progress
from detbench.report.writer import table_html

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


def assert_artifacts(out, results: dict, page: str) -> None:
    """Every section's figures are non-trivial PNGs shown in the page, and every table has its CSV."""
    for sec in results["sections"].values():
        for fig in sec["figures"]:
            assert (out / fig).stat().st_size > 1000, fig
            assert f"src='{fig}'" in page
        for table in sec["tables"]:
            assert (out / f"{table}.csv").exists()


def test_report_writes_every_artifact(quick_report):
    out, index = quick_report
    assert index.name == "index.html" and index.exists()
    results = json.loads((out / "results.json").read_text())
    assert set(results["sections"]) == {k for k, _ in SECTIONS}
    page = index.read_text()
    assert_artifacts(out, results, page)
    speed = results["sections"]["speed"]["tables"]["speed"]
    assert speed and all(r["detbench_ms"] > 0 for r in speed)
    assert all(r["detbench_ms_min"] <= r["detbench_ms"] <= r["detbench_ms_max"] for r in speed)
    assert all(s["status"] == "ok" for s in results["sections"].values()), results["sections"].keys()
    assert results["summary"] and "Summary." in page
    env = dict(results["sections"]["environment"]["data"])
    assert env["cpu_model"] != "unknown" and env["cpu_count"] >= 1 and env["commit"]
    assert "numba_threads" in env and "torch_threads" in env and "dirty" in env


def test_report_rejects_unknown_section(tmp_path):
    with pytest.raises(ValueError, match="sections: unknown"):
        run_report(tmp_path, sections=["nope"], progress=False)


def check_in_chromium(out, index, shot_name):
    """Every figure of the report in ``out`` loads in headless Chromium; a screenshot goes to test-artifacts/."""
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
    shot = ARTIFACTS / shot_name
    subprocess.run(
        [chromium, *flags, "--window-size=1200,2400", f"--screenshot={shot}", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.exists() and shot.stat().st_size > 10_000
    print(f"report screenshot: {shot}")


def test_every_figure_loads_in_headless_chromium(quick_report):
    out, index = quick_report
    check_in_chromium(out, index, "report-screenshot.png")


def test_user_data_report_loads_in_headless_chromium(user_files, tmp_path):
    f = user_files
    index = run_report(tmp_path, gt=f / "gt.json", dt={"raw": f / "raw.json", "nms": f / "nms.json"}, progress=False)
    check_in_chromium(tmp_path, index, "report-user-data-screenshot.png")


# --------------------------------------------------------------------------- the report degrades, never dies

#: modules to hide so that each peer's import fails
HIDE = {
    "torchvision": ("torch", "torchvision", "torchvision.ops"),
    "pycocotools": ("pycocotools", "pycocotools.coco", "pycocotools.cocoeval"),
    "faster-coco-eval": ("faster_coco_eval",),
    "opencv": ("cv2",),
    "ensemble-boxes": ("ensemble_boxes",),
    "scikit-image": ("skimage", "skimage.segmentation"),
}


def hide(monkeypatch, name):
    for module in HIDE[name]:
        monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError


def test_hide_covers_every_peer():
    assert set(HIDE) == set(peers.PEERS)


@pytest.mark.parametrize("name", sorted(HIDE))
def test_hidden_peer_is_a_note_not_an_error(name, monkeypatch, tmp_path):
    hide(monkeypatch, name)
    with pytest.raises(peers.PeerUnavailable, match="not installed"):
        peers.load(name)
    assert not peers.available(name)
    warnings = []
    ctx = ReportContext(tmp_path, warn=warnings.append, section_key="x")
    assert ctx.peer(name, "a comparison") is None
    assert ctx.peer(name) is None  # asked twice, noted once
    assert len(ctx.notes) == 1 and name in ctx.notes[0] and "skipped" in ctx.notes[0]
    assert warnings and name in warnings[0]


def test_opencv5_without_hogdescriptor_still_writes_the_hog_section(monkeypatch, tmp_path):
    cv2_stub = types.ModuleType("cv2")
    cv2_stub.__version__ = "5.0.0"  # OpenCV 5 removed HOGDescriptor
    monkeypatch.setitem(sys.modules, "cv2", cv2_stub)
    with pytest.raises(peers.PeerUnavailable, match="incompatible"):
        peers.load("opencv")
    err = io.StringIO()
    index = run_report(tmp_path, sections=["hog"], progress=False, stream=err)
    results = json.loads((tmp_path / "results.json").read_text())
    hog = results["sections"]["hog"]
    assert hog["status"] == "ok" and hog["tables"]["hog"][0]["detbench_ms"] > 0
    assert "opencv_ms" not in hog["tables"]["hog"][0]
    assert any("opencv unavailable" in n and "HOGDescriptor" in n for n in hog["notes"])
    assert "opencv unavailable" in index.read_text() and "opencv unavailable" in err.getvalue()


def test_no_pycocotools_eval_parity_keeps_detbench_stats(monkeypatch, tmp_path):
    hide(monkeypatch, "pycocotools")
    err = io.StringIO()
    index = run_report(tmp_path, sections=["eval_parity"], progress=False, stream=err)
    section_ = json.loads((tmp_path / "results.json").read_text())["sections"]["eval_parity"]
    rows = section_["tables"]["coco_subset_stats"]
    assert len(rows) == 12 and "pycocotools" not in rows[0]
    assert max(r["abs_diff_vs_published"] for r in rows) < 1e-12
    assert "pycocotools unavailable" in index.read_text() and "pycocotools unavailable" in err.getvalue()


@pytest.mark.parametrize("name", ["torchvision", "ensemble-boxes", "faster-coco-eval", "pycocotools"])
def test_speed_cases_without_a_peer(name, monkeypatch, tmp_path):
    hide(monkeypatch, name)
    ctx = ReportContext(tmp_path, warn=lambda m: None)
    cases = speed_cases(quick=True, ctx=ctx)
    assert cases and not any(name in c.peers for c in cases)
    assert any(name in n for n in ctx.notes)


def test_a_failing_section_becomes_a_note(monkeypatch, tmp_path):
    @section("boom", "A section that fails")
    def boom(ctx):
        raise RuntimeError("kaput")

    @section("fine", "A section that works")
    def fine(ctx):
        return Section("fine", "A section that works", text="<p>still here</p>")

    monkeypatch.setattr(detbench.report, "SECTIONS", [("boom", boom), ("fine", fine)])
    err = io.StringIO()
    index = run_report(tmp_path, progress=False, stream=err)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["sections"]["boom"]["status"] == "error"
    assert "kaput" in results["sections"]["boom"]["notes"][0]
    assert results["sections"]["fine"]["status"] == "ok" and "still here" in index.read_text()
    assert "Traceback" in err.getvalue()


# --------------------------------------------------------------------------- pieces


def test_pareto_front_points_are_not_dominated():
    rng = np.random.default_rng(0)
    for _ in range(20):
        cost, value = rng.random(30), rng.random(30)
        cost[5], value[5] = cost[4], value[4]  # a tie: both or neither on the front
        cost[7], value[7] = cost[6] * 1.5, value[6]  # as accurate, slower: dominated
        front = pareto_front(cost, value)
        for i in range(30):
            dominated = np.any((cost <= cost[i]) & (value >= value[i]) & ((cost < cost[i]) | (value > value[i])))
            assert front[i] == (not dominated)
        assert front[4] == front[5] and not front[7]


def test_labels_never_overlap():
    y = spread_positions([0.5, 0.5, 0.51, 0.9, 0.1, 0.5], gap=0.05)
    s = np.sort(y)
    assert np.all(np.diff(s) >= 0.05 - 1e-12) and s[0] >= 0 and s[-1] <= 1
    many = spread_positions(np.full(40, 0.5), gap=0.05)  # more than fit: the gap shrinks, order kept
    assert np.all(np.diff(np.sort(many)) > 0) and many.min() >= 0 and many.max() <= 1


def test_timing_interleaved_rounds():
    calls = []
    t = _timing.compare({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=4, max_inner=1)
    assert t["a"].rounds == t["b"].rounds == 4
    assert t["a"].min <= t["a"].median <= t["a"].max
    timed = calls[4:]  # after warm-up and sizing calls (2 each)
    assert timed[:4] == ["a", "a", "b", "b"] and timed[4:8] == ["b", "b", "a", "a"]  # order alternates
    r = _timing.ratio(t["b"], t["a"])
    assert len(r.values) == 4 and r.min <= r.median <= r.max


def test_a_worker_process_rebuilds_and_times_a_case_by_its_key():
    from detbench.report.sections import speed

    with _timing.Workers(2, setup=speed.build_cases, setup_args=(True, 0)) as w:
        results = w.run(speed.measure_case_by_key, True, 0, "nms (dense)", "1000", 2)
        with pytest.raises(ValueError, match="no speed case"):
            w.run(speed.measure_case_by_key, True, 0, "nms (dense)", "7", 2)
    assert len(results) == 2
    case = speed.SpeedCase("nms (dense)", "1000", lambda: None, order=1000)
    rows = speed.case_rows(case, results)
    assert rows and all(r["processes"] == 2 and r["detbench_ms"] > 0 for r in rows)
    assert all(r["rounds"] == sum(res["timings"]["detbench"].rounds for res in results) for r in rows)


def _fake_process(ours, peer):
    """One process's time_case result with given per-round times (seconds)."""
    return {"first_s": 0.5, "timings": {"detbench": _timing.Timing(ours), "torchvision": _timing.Timing(peer)}}


def _fake_speed_run(monkeypatch, tmp_path, processes):
    from detbench.report.sections import speed

    cases = [
        speed.SpeedCase("steady", "1", lambda: None, {"torchvision": lambda: None}, 1),
        speed.SpeedCase("odd process", "2", lambda: None, {"torchvision": lambda: None}, 2),
        speed.SpeedCase("no peer", "3", lambda: None, {}, 3),
    ]
    per_case = {
        "steady": [_fake_process((1.0, 1.0, 1.0), (10.0, 10.0, 10.0))] * 3,
        # one process where the peer runs 3x slower: the median over processes ignores it, the spread shows it
        "odd process": [
            _fake_process((1.0, 1.0), (4.0, 4.0)),
            _fake_process((1.0, 1.0), (12.0, 12.0)),
            _fake_process((1.0, 1.0), (4.0, 4.4)),
        ],
        "no peer": [{"first_s": 0.5, "timings": {"detbench": _timing.Timing((2.0, 2.0, 2.0))}}] * 3,
    }

    class FakeWorkers:
        def __init__(self, n, setup=None, setup_args=()):
            assert n == processes and setup is speed.build_cases

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

        def run_in(self, index, fn, quick, seed, primitive, size, n):
            assert fn is speed.measure_case_by_key and n == processes
            return per_case[primitive][index]

    monkeypatch.setattr(speed, "speed_cases", lambda quick, seed, ctx=None: cases)
    monkeypatch.setattr(speed, "Workers", FakeWorkers)
    monkeypatch.setattr(speed, "time_case", lambda case, quick: per_case[case.primitive][0])
    notes = []
    ctx = ReportContext(tmp_path, warn=notes.append, options={"processes": processes})
    return speed.section_speed(ctx), notes


def test_speed_section_rows_from_several_processes(monkeypatch, tmp_path):
    sec, notes = _fake_speed_run(monkeypatch, tmp_path, 3)
    table = sec.tables["speed"].set_index("primitive")
    assert list(table.index) == ["steady", "odd process", "no peer"]
    assert (table["processes"] == 3).all() and list(table["rounds"]) == [9, 6, 9]
    assert table.loc["steady", "speedup"] == pytest.approx(10.0)
    assert table.loc["odd process", "speedup"] == pytest.approx(4.2)  # median over processes of (4, 12, 4.2)
    assert table.loc["odd process", "peer_ms"] == pytest.approx(4200.0)
    assert (table.loc["odd process", "speedup_min"], table.loc["odd process", "speedup_max"]) == (4.0, 12.0)
    assert np.isnan(table.loc["no peer", "speedup"]) and table.loc["no peer", "detbench_ms"] == 2000.0
    assert table.loc["steady", "first_call_ms"] == 500.0
    assert sec.figures and (tmp_path / sec.figures[0][0]).exists() and "3 process" in sec.figures[0][1]
    assert any("large spread" in n and "odd process 2 vs torchvision" in n for n in notes)
    assert "steady 1" not in " ".join(notes)


def test_speed_section_in_one_process(monkeypatch, tmp_path):
    sec, notes = _fake_speed_run(monkeypatch, tmp_path, 1)
    table = sec.tables["speed"].set_index("primitive")
    assert (table["processes"] == 1).all() and list(table["rounds"]) == [3, 2, 3]
    assert table.loc["odd process", "speedup"] == pytest.approx(4.0) and not notes


def test_run_report_checks_processes(tmp_path):
    with pytest.raises(ValueError, match="processes"):
        run_report(tmp_path, sections=["speed"], progress=False, processes=0)


def test_progress_writes_lines_when_not_a_terminal():
    stream = io.StringIO()
    bar = Progress(3, stream=stream)
    bar.step("one")
    bar.advance("two")
    bar.message("a warning")
    bar.close()
    text = stream.getvalue()
    assert "\r" not in text and text.count("\n") == 3


def test_table_shows_spread_in_one_cell():
    import pandas as pd

    df = pd.DataFrame({"x_ms": [2.0], "x_ms_min": [1.0], "x_ms_max": [3.0], "speedup": [4.0]})
    df["speedup_min"], df["speedup_max"] = 3.0, 5.0
    page = table_html(df)
    assert "x (ms)" in page and "2 ±50%" in page and "4x [3, 5]" in page and "x_ms_min" not in page


def test_cli_sections_lists_keys_and_refuses_unknown(capsys):
    from detbench.cli import build_parser, main

    help_text = build_parser()._subparsers._group_actions[0].choices["report"].format_help()
    assert all(k in help_text for k, _ in SECTIONS)
    with pytest.raises(SystemExit) as exc:
        main(["report", "--sections", "nope"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "nope" in err and "speed" in err


def test_cli_output_into_head_ends_quietly():
    script = (
        "import sys\n"
        "from detbench import cli\n"
        "cli._cmd_demo = lambda args: [print('x' * 100) for _ in range(100000)] and 0\n"
        "sys.exit(cli.main(['demo']))\n"
    )
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()[-2000:]


# --------------------------------------------------------------------------- the user's data, history, baseline


@pytest.fixture(scope="module")
def user_files(tmp_path_factory):
    import detbench as db
    from detbench.synthetic import SceneConfig, make_dataset

    folder = tmp_path_factory.mktemp("user")
    gt, raw = make_dataset(SceneConfig(n_images=12), seed=5)
    per_image = raw.per_image().items()
    keep = np.concatenate([i[db.batched_nms(raw.boxes[i], raw.scores[i], raw.labels[i], 0.5)] for _, i in per_image])
    (folder / "gt.json").write_text(json.dumps(gt))
    (folder / "raw.json").write_text(json.dumps(raw.to_coco()))
    (folder / "nms.json").write_text(json.dumps(raw.select(keep).to_coco()))
    return folder


def test_report_on_user_data(user_files, tmp_path):
    from detbench.eval import COCOeval, load_coco, load_results

    f = user_files
    out = tmp_path / "rep"
    index = run_report(
        out,
        gt=f / "gt.json",
        dt=[f"raw={f / 'raw.json'}", f"nms={f / 'nms.json'}"],
        progress=False,
        history=tmp_path / "hist",
    )
    results = json.loads((out / "results.json").read_text())
    assert set(results["sections"]) == {"environment", "user_ap", "user_pr", "user_tide", "user_analysis"}
    assert results["mode"] == "user data" and all(s["status"] == "ok" for s in results["sections"].values())
    stats = results["sections"]["user_ap"]["tables"]["user_stats"]
    gt = load_coco(f / "gt.json")
    ev = COCOeval(gt, load_results(f / "nms.json", gt), "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert [r["nms"] for r in stats] == pytest.approx(list(ev.stats), abs=1e-12)
    per_class = results["sections"]["user_ap"]["tables"]["user_per_class_ap"]
    assert {"class", "AP raw", "AP nms", "AP50 raw", "AP50 nms"} <= set(per_class[0])
    assert "nms is the most accurate" in index.read_text()
    # the analyses: confusion matrices (counts, normalised), F1 curves, AP bars with intervals, per detector
    ana = results["sections"]["user_analysis"]
    shots = ana["figures"]
    for det in ("raw", "nms"):
        for stem in ("user_cm_", "user_cm_norm_", "user_f1_", "user_ap_ci_"):
            assert f"{stem}{det}.png" in shots, (stem, det, shots)
            assert (out / f"{stem}{det}.png").stat().st_size > 5_000
    iv = {r["detector"]: r for r in ana["tables"]["user_intervals"]}
    assert iv["nms"]["AP low"] <= ev.stats[0] <= iv["nms"]["AP high"]
    cm = ev.confusion_matrix(0.45, 0.25)[:-1, :-1]
    assert iv["nms"]["class confusions"] == cm.sum() - np.trace(cm)
    # the TIDE section: its table is COCOeval.tide() of each detector, and its figure is on the page
    tide = {r["detector"]: r for r in results["sections"]["user_tide"]["tables"]["user_tide"]}
    mine = ev.tide()
    assert {k: tide["nms"][k] for k in mine} == pytest.approx(dict(mine), abs=1e-12)
    assert results["sections"]["user_tide"]["figures"] == ["user_tide.png"]
    assert (out / "user_tide.png").stat().st_size > 1000 and "src='user_tide.png'" in index.read_text()
    assert len(list((tmp_path / "hist").glob("*.json"))) == 1


def test_user_data_arguments_are_checked(user_files, tmp_path):
    with pytest.raises(ValueError, match="gt, dt"):
        run_report(tmp_path, gt=user_files / "gt.json", progress=False)
    with pytest.raises(ValueError, match="dt raw: no such file"):
        run_report(tmp_path, gt=user_files / "gt.json", dt={"raw": "missing.json"}, progress=False)
    with pytest.raises(ValueError, match="dt: the name"):
        run_report(tmp_path, gt=user_files / "gt.json", dt=["a=x.json", "a=y.json"], progress=False)


def _fake_record(folder, name, commit, scale):
    row = {"primitive": "nms", "size": "1000", "peer": "torchvision", "speedup": 10.0 / scale}
    row.update(speedup_min=9.0 / scale, speedup_max=11.0 / scale)
    row.update(detbench_ms=1.0 * scale, detbench_ms_min=0.9 * scale, detbench_ms_max=1.1 * scale)
    rec = {"commit": commit, "dirty": False, "machine": "m", "sections": {"speed": {"tables": {"speed": [row]}}}}
    (folder / name).write_text(json.dumps(rec))
    return rec


def test_baseline_flags_changes_beyond_noise():
    import pandas as pd

    from detbench.report.sections.history import compare_to_baseline

    def row(name, ms, speedup, peer="x"):
        return {"primitive": name, "size": "1", "peer": peer, "detbench_ms": ms} | {
            "detbench_ms_min": ms * 0.9,
            "detbench_ms_max": ms * 1.1,
            "speedup": speedup,
            "speedup_min": speedup * 0.9,
            "speedup_max": speedup * 1.1,
        }

    base = pd.DataFrame([row(p, 1.0, 5.0) for p in "abcd"] + [row("e", 1.0, np.nan, "-")])
    now = pd.DataFrame(
        [
            row("a", 2.0, 2.5),  # detbench slower, the peer not: a regression
            row("b", 1.05, 5.0),  # overlapping ranges: noise
            row("c", 0.5, 10.0),  # faster
            row("d", 2.0, 5.0),  # both slower by the same factor: a busier machine, not flagged
            row("e", 2.0, np.nan, "-"),  # no peer: the time alone decides
        ]
    )
    table = compare_to_baseline(now, base)
    assert list(table["change"]) == ["slower", "within noise", "faster", "within noise", "slower"]
    assert table["ratio"].tolist() == pytest.approx([2.0, 1.05, 0.5, 2.0, 2.0])


def test_history_and_baseline_sections(tmp_path, monkeypatch):
    from detbench.report.sections import history as hist_mod

    hist = tmp_path / "hist"
    hist.mkdir()
    _fake_record(hist, "20260101T000000Z_aaa_m.json", "aaa", 1.0)
    _fake_record(hist, "20260102T000000Z_bbb_m.json", "bbb", 1.5)

    @section("speed", "fake speed")
    def fake_speed(ctx):
        rows = [
            {"primitive": "nms", "size": "1000", "peer": "torchvision", "detbench_ms": 3.0}
            | {"detbench_ms_min": 2.9, "detbench_ms_max": 3.1, "speedup": 3.0, "speedup_min": 2.9}
            | {"speedup_max": 3.1}
        ]
        import pandas as pd

        data = {"rows": rows, "array": np.arange(3.0)}  # numpy values reach the history record too
        return Section("speed", "fake speed", tables={"speed": pd.DataFrame(rows)}, data=data)

    asv = tmp_path / "asv" / "somehost"
    asv.mkdir(parents=True)
    for i, commit in enumerate(("aaaaaaaa11", "bbbbbbbb22")):  # asv 0.6 result files
        record = {
            "commit_hash": commit,
            "date": 1000 + i,
            "result_columns": ["result", "params", "version"],
            "results": {
                "bench_boxes.Iou.time_box_iou": [[0.001 * (i + 1), 0.004], [["100", "1000"]], "v"],
                "bench_nms.time_nms": [0.5, [], "v"],
                "bench_nms.time_broken": [[None], [["x"]], "v"],
            },
            "version": 2,
        }
        (asv / f"{commit[:8]}-env.json").write_text(json.dumps(record))
    (asv / "machine.json").write_text("{}")
    monkeypatch.setattr(detbench.report, "SECTIONS", [("speed", fake_speed)])
    monkeypatch.setattr(detbench.report, "machine_key", lambda info: "m")
    index = run_report(tmp_path / "rep", progress=False, history=hist, baseline=hist, asv_results=tmp_path / "asv")
    results = json.loads((tmp_path / "rep" / "results.json").read_text())
    assert results["sections"]["baseline"]["tables"]["baseline"][0]["change"] == "slower"
    assert any("slower than the baseline" in n for n in results["sections"]["baseline"]["notes"])
    assert results["sections"]["history"]["data"]["runs"] == 3 and "history.png" in index.read_text()
    assert results["sections"]["history"]["data"]["asv_rows"] == 6 and "asv_history.png" in index.read_text()
    assert len(list(hist.glob("*.json"))) == 3
    with pytest.raises(ValueError, match="baseline"):
        hist_mod.load_record(tmp_path / "nothing-here.json")
