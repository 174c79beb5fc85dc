"""The report on the user's detectors with ``--protocol lvis`` (LVISEval on every detector)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detbench.eval import LVISEval
from detbench.eval.lvis_synthetic import make_lvis_dataset
from detbench.report import run_report
from tests.test_report import assert_artifacts

USER_KEYS = {"environment", "user_ap", "user_pr", "user_tide", "user_analysis"}


@pytest.fixture(scope="module")
def lvis_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lvis_user")
    gt, dets = make_lvis_dataset(14, seed=4, n_categories=24, dets_per_image=20, masks=False, crowded_every=7)
    rng = np.random.default_rng(1)
    # a second detector: the same boxes with noisier scores, a quarter of them dropped
    other = [
        {**d, "score": round(float(np.clip(d["score"] + rng.normal(0, 0.2), 0, 1)), 3)}
        for d in dets
        if rng.random() > 0.25
    ]
    (folder / "gt.json").write_text(json.dumps(gt))
    (folder / "a.json").write_text(json.dumps(dets))
    (folder / "b.json").write_text(json.dumps(other))
    coco_gt = {k: v for k, v in gt.items()}
    coco_gt["images"] = [
        {k: v for k, v in im.items() if k not in ("neg_category_ids", "not_exhaustive_category_ids")}
        for im in gt["images"]
    ]
    coco_gt["categories"] = [{k: v for k, v in c.items() if k != "frequency"} for c in gt["categories"]]
    (folder / "coco_gt.json").write_text(json.dumps(coco_gt))
    no_freq = dict(gt, categories=coco_gt["categories"])
    (folder / "no_freq.json").write_text(json.dumps(no_freq))
    return folder


@pytest.fixture(scope="module")
def lvis_report(lvis_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("lvis_report")
    f = lvis_files
    index = run_report(
        out, gt=f / "gt.json", dt=[f"A={f / 'a.json'}", f"B={f / 'b.json'}"], protocol="lvis", progress=False
    )
    return out, index, json.loads((out / "results.json").read_text())


def test_lvis_report_builds(lvis_report):
    out, index, results = lvis_report
    assert set(results["sections"]) == USER_KEYS
    assert results["mode"] == "user data" and results["protocol"] == "lvis"
    assert all(s["status"] == "ok" for s in results["sections"].values()), {
        k: s["notes"] for k, s in results["sections"].items()
    }
    page = index.read_text()
    assert_artifacts(out, results, page)
    assert "LVIS" in page


def test_lvis_stats_equal_lvis_eval(lvis_files, lvis_report):
    out, index, results = lvis_report
    sec = results["sections"]["user_ap"]
    stats = sec["tables"]["user_stats"]
    for name in ("A", "B"):
        ev = LVISEval(str(lvis_files / "gt.json"), str(lvis_files / f"{name.lower()}.json"), "bbox")
        ev.run()
        assert [r["stat"] for r in stats] == list(ev.results)
        assert [r[name] for r in stats] == [float(v) for v in ev.results.values()]
        groups = {r["stat"]: r[name] for r in sec["tables"]["user_frequency_ap"]}
        assert groups == {k: float(ev.results[k]) for k in ("AP", "APr", "APc", "APf")}
        per_class = {r["category_id"]: r for r in sec["tables"]["user_per_class_ap"]}
        df = ev.to_dataframe()
        for c, ap, freq in zip(df["category_id"], df["AP"], df["frequency"]):
            assert per_class[c]["frequency"] == freq
            got = per_class[c][f"AP {name}"]
            assert (got is None and np.isnan(ap)) or got == ap
    # the frequency-group figure, and the summary names the winners on AP and APr
    assert "user_frequency_ap.png" in sec["figures"]
    assert (out / "user_frequency_ap.png").stat().st_size > 5_000
    summary = " ".join(results["summary"])
    assert "(LVIS federated evaluation)" in summary and " wins on AP (" in summary and "on APr (" in summary
    assert "Summary." in index.read_text()


def test_lvis_analyses_come_from_lvis_eval(lvis_files, lvis_report):
    out, index, results = lvis_report
    ev = LVISEval(str(lvis_files / "gt.json"), str(lvis_files / "a.json"), "bbox")
    ev.run()
    tide = {r["detector"]: r for r in results["sections"]["user_tide"]["tables"]["user_tide"]}
    mine = ev.tide()
    assert {k: tide["A"][k] for k in mine} == pytest.approx(dict(mine), abs=1e-12)
    iv = {r["detector"]: r for r in results["sections"]["user_analysis"]["tables"]["user_intervals"]}
    assert iv["A"]["AP"] == float(ev.results["AP"]) and "APr low" in iv["A"]
    cm = ev.confusion_matrix(0.45, 0.25)[:-1, :-1]
    assert iv["A"]["class confusions"] == cm.sum() - np.trace(cm)
    for stem in ("user_cm_", "user_cm_norm_", "user_f1_", "user_ap_ci_"):
        assert f"{stem}A.png" in results["sections"]["user_analysis"]["figures"]


def test_lvis_protocol_refuses_a_coco_ground_truth(lvis_files, tmp_path):
    f = lvis_files
    with pytest.raises(ValueError, match="protocol lvis: .*'neg_category_ids'"):
        run_report(tmp_path, gt=f / "coco_gt.json", dt={"A": f / "a.json"}, protocol="lvis", progress=False)
    with pytest.raises(ValueError, match="protocol lvis: .*'frequency'"):
        run_report(tmp_path, gt=f / "no_freq.json", dt={"A": f / "a.json"}, protocol="lvis", progress=False)
    with pytest.raises(ValueError, match="protocol: expected"):
        run_report(tmp_path, gt=f / "gt.json", dt={"A": f / "a.json"}, protocol="auto", progress=False)
    with pytest.raises(ValueError, match="protocol: 'lvis'"):
        run_report(tmp_path, protocol="lvis", progress=False)
    assert not (tmp_path / "results.json").exists()


def test_cli_protocol_lvis_refusal_message(lvis_files, tmp_path, capsys):
    from detbench.cli import main

    f = lvis_files
    code = main(
        [
            "report",
            "--gt",
            str(f / "coco_gt.json"),
            "--dt",
            f"A={f / 'a.json'}",
            "--protocol",
            "lvis",
            "--out",
            str(tmp_path),
            "--no-history",
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "neg_category_ids" in err and "--protocol coco" in err
    with pytest.raises(SystemExit):
        main(["report", "--protocol", "auto"])


def test_lvis_report_loads_in_headless_chromium(lvis_report):
    from tests.test_report import check_in_chromium

    out, index, _ = lvis_report
    check_in_chromium(out, index, "report-user-lvis-screenshot.png")
