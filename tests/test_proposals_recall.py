"""Proposal recall (detbench.proposals.recall), and the methods compared by it."""

import numpy as np
import pytest

from detbench.proposals import proposal_recall, selective_search, sliding_windows
from tests.reference_proposals import rectangles_image, ref_recall


def test_proposal_recall_hand_example():
    gt = np.array([[0.0, 0, 10, 10], [20, 20, 40, 40]])
    props = np.array([[0.0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 40, 30], [20, 20, 40, 40]])
    r = proposal_recall(props, gt, iou_thresholds=[0.5, 0.9], counts=[0, 1, 2, 3, 4, 10])
    np.testing.assert_allclose(r.recall, [[0, 0.5, 0.5, 1, 1, 1], [0, 0.5, 0.5, 0.5, 1, 1]])
    np.testing.assert_allclose(r.average_recall, r.recall.mean(0))
    assert r.num_gt == 2


def test_proposal_recall_vs_reference_multi_image(rng):
    props, gts = [], []
    for n_p, n_g in ((40, 5), (0, 3), (25, 0), (60, 8)):
        # sorting the two corners per coordinate gives (x1, y1), (x2, y2)
        props.append(np.sort(rng.uniform(0, 100, (n_p, 2, 2)), axis=1).reshape(n_p, 4))
        gts.append(np.sort(rng.uniform(0, 100, (n_g, 2, 2)), axis=1).reshape(n_g, 4))
    thr = [0.3, 0.5, 0.7]
    counts = [1, 5, 10, 30, 60, 100]
    r = proposal_recall(props, gts, thr, counts)
    np.testing.assert_allclose(r.recall, ref_recall(props, gts, thr, counts))
    assert r.num_gt == 16
    d = proposal_recall(props, gts)
    assert d.counts[0] == 1 and d.counts[-1] == 60 and len(d.iou_thresholds) == 10
    assert np.all(np.diff(d.recall, axis=1) >= 0)


def test_proposal_recall_compares_methods(rng):
    """The use the issue names: selective search vs sliding windows vs anchors on the same image."""
    img, rects = rectangles_image(rng)
    from detbench.anchors import generate_anchors, grid_anchors

    ss = selective_search(img)
    sw = sliding_windows((240, 320), [[64, 64], [128, 64], [64, 128]], 16)
    anc = grid_anchors(generate_anchors(16, (0.5, 1, 2), (2, 4, 8)), (15, 20), 16)
    r_ss = proposal_recall(ss, rects, [0.7], [100])
    r_sw = proposal_recall(sw[rng.permutation(len(sw))], rects, [0.7], [100])
    r_an = proposal_recall(anc[rng.permutation(len(anc))], rects, [0.7], [100])
    assert r_ss.recall[0, 0] == 1.0
    assert r_ss.recall[0, 0] >= r_sw.recall[0, 0] and r_ss.recall[0, 0] >= r_an.recall[0, 0]


def test_proposal_recall_edge_and_bad_input():
    r = proposal_recall(np.zeros((0, 4)), np.zeros((0, 4)), [0.5], [1])
    assert np.isnan(r.recall).all() and r.num_gt == 0
    with pytest.raises(ValueError, match="gt: expected a list"):
        proposal_recall([np.zeros((1, 4))], np.zeros((1, 4)))
    with pytest.raises(ValueError, match="iou_thresholds"):
        proposal_recall(np.zeros((1, 4)), np.zeros((1, 4)), [1.5])
    with pytest.raises(ValueError, match="x2 < x1"):
        proposal_recall(np.array([[5.0, 0, 1, 1]]), np.zeros((1, 4)))
