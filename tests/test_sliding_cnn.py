"""The tiny CNN engine (detbench.sliding layers and net; public path detbench.cnn).

Layers vs NumPy references and PyTorch, save/load, conversion.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import detbench.cnn
from detbench.sliding import (
    Conv2D,
    Dense,
    Flatten,
    MaxPool2D,
    Net,
    ReLU,
    Softmax,
    load_net,
    overfeat_net,
    save_net,
    to_fully_convolutional,
)
from tests.reference_sliding import conv2d_ref, forward_ref, maxpool_ref, softmax_ref

DTYPES = [np.float32, np.float64]
TOL = {np.float32: 2e-5, np.float64: 1e-12}


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, np.float64) - b).max() / max(1.0, np.abs(b).max()))


# --------------------------------------------------------------------------- layers vs references
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (2, 0), (1, 2), (3, 1)])
def test_conv2d_matches_reference(rng, dtype, stride, padding):
    x = rng.standard_normal((2, 11, 9, 5)).astype(dtype)
    w = rng.standard_normal((3, 4, 5, 13)).astype(dtype)
    b = rng.standard_normal(13).astype(dtype)
    layer = Conv2D(w, b, stride=stride, padding=padding)
    out = layer.forward(x)
    assert out.dtype == dtype
    for n in range(2):
        ref = conv2d_ref(x[n], w, b.astype(np.float64), stride, padding)
        assert out[n].shape == ref.shape == layer.output_shape(x.shape[1:])
        assert _rel(out[n], ref) < TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_fused_relu(rng, dtype):
    x = rng.standard_normal((1, 8, 8, 3)).astype(dtype)
    layer = Conv2D(rng.standard_normal((3, 3, 3, 24)).astype(dtype), rng.standard_normal(24).astype(dtype))
    plain = layer.forward(x)
    fused = layer.forward(x, relu=True)
    assert (plain < 0).any()
    np.testing.assert_array_equal(fused, np.maximum(plain, 0))


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    cin=st.integers(1, 6),
    cout=st.integers(1, 20),
    k=st.integers(1, 4),
    stride=st.integers(1, 3),
    padding=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_conv2d_property(h, w, cin, cout, k, stride, padding, seed):
    if h + 2 * padding < k or w + 2 * padding < k:
        with pytest.raises(ValueError, match="smaller than"):
            Conv2D(np.zeros((k, k, cin, cout)), np.zeros(cout), stride, padding).output_shape((h, w, cin))
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, h, w, cin))
    wt = rng.standard_normal((k, k, cin, cout))
    b = rng.standard_normal(cout)
    out = Conv2D(wt, b, stride, padding).forward(x)
    np.testing.assert_allclose(out[0], conv2d_ref(x[0], wt, b, stride, padding), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("size", "stride"), [(2, 2), (3, 1), (3, 2)])
def test_maxpool_matches_reference(rng, size, stride):
    x = rng.standard_normal((3, 9, 10, 4))
    out = MaxPool2D(size, stride).forward(x)
    for n in range(3):
        np.testing.assert_array_equal(out[n], maxpool_ref(x[n], size, stride))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_relu_softmax_match_reference(rng, dtype):
    x = rng.standard_normal((7, 1, 1, 30)).astype(dtype)
    w = rng.standard_normal((30, 11)).astype(dtype)
    b = rng.standard_normal(11).astype(dtype)
    out = Dense(w, b).forward(x)
    ref = b.astype(np.float64) + x.reshape(7, 30).astype(np.float64) @ w
    assert _rel(out.reshape(7, 11), ref) < TOL[dtype]
    before = out.copy()
    y = ReLU().forward(out)
    np.testing.assert_array_equal(y, np.maximum(out, 0))
    np.testing.assert_array_equal(out, before)  # the input is not modified
    sm = Softmax().forward(out * 30)  # large logits: the max shift must keep it finite
    np.testing.assert_allclose(sm.reshape(7, 11), softmax_ref(out.reshape(7, 11).astype(np.float64) * 30), atol=1e-6)
    np.testing.assert_allclose(sm.sum(axis=-1), 1.0, rtol=1e-6)


# --------------------------------------------------------------------------- live parity with PyTorch
@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (2, 1)])
def test_conv2d_matches_torch(rng, stride, padding):
    x = rng.standard_normal((2, 15, 12, 6))
    w = rng.standard_normal((5, 3, 6, 8))
    b = rng.standard_normal(8)
    ours = Conv2D(w, b, stride, padding).forward(x)
    theirs = F.conv2d(
        torch.from_numpy(x.transpose(0, 3, 1, 2)),
        torch.from_numpy(w.transpose(3, 2, 0, 1)),
        torch.from_numpy(b),
        stride=stride,
        padding=padding,
    )
    np.testing.assert_allclose(ours, theirs.numpy().transpose(0, 2, 3, 1), rtol=1e-10, atol=1e-10)


def _torch_overfeat(net: Net) -> torch.nn.Module:
    """The same classifier in PyTorch (NCHW), weights copied from ours; flatten in HWC order."""
    conv, dense1, dense2, dense3 = (layer for layer in net.layers if hasattr(layer, "weight"))

    class TorchNet(torch.nn.Module):
        def forward(self, x):  # x: N, C, H, W
            y = F.relu(F.conv2d(x, torch.from_numpy(conv.weight.transpose(3, 2, 0, 1)), torch.from_numpy(conv.bias)))
            y = F.max_pool2d(y, 2)
            y = y.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # HWC flatten
            y = F.relu(y @ torch.from_numpy(dense1.weight) + torch.from_numpy(dense1.bias))
            y = F.relu(y @ torch.from_numpy(dense2.weight) + torch.from_numpy(dense2.bias))
            return torch.softmax(y @ torch.from_numpy(dense3.weight) + torch.from_numpy(dense3.bias), dim=1)

    return TorchNet()


def test_overfeat_net_matches_torch(rng):
    net = overfeat_net(seed=3, dtype=np.float64)
    batch = rng.random((6, 14, 14, 3))
    ours = net(batch)
    theirs = _torch_overfeat(net)(torch.from_numpy(batch.transpose(0, 3, 1, 2))).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- the seed's net and its twin
@pytest.mark.parametrize("dtype", DTYPES)
def test_overfeat_net_shapes_and_reference(rng, dtype):
    net = overfeat_net(seed=0, dtype=dtype)
    assert net.input_shape == (14, 14, 3)
    assert net.dtype == dtype
    kinds = [layer.kind for layer in net.layers]
    assert kinds == ["conv2d", "relu", "maxpool2d", "flatten", "dense", "relu", "dense", "relu", "dense", "softmax"]
    assert net.output_shape((14, 14, 3)) == (1, 1, 4)
    assert net.macs((14, 14, 3)) == 10 * 10 * 16 * 75 + 400 * 400 * 2 + 400 * 4 == 441_600
    assert net.geometry() == (14, 2)
    img = rng.random((14, 14, 3))
    p = net(img)
    assert p.shape == (4,) and p.dtype == dtype
    assert _rel(p, forward_ref(net, img)) < TOL[dtype]
    assert abs(float(p.sum()) - 1.0) < 1e-5


def test_overfeat_net_is_seeded():
    a, b, c = overfeat_net(seed=7), overfeat_net(seed=7), overfeat_net(seed=8)
    for la, lb, lc in zip(a.layers, b.layers, c.layers):
        if hasattr(la, "weight"):
            np.testing.assert_array_equal(la.weight, lb.weight)
            np.testing.assert_array_equal(la.bias, lb.bias)
            assert not np.array_equal(la.weight, lc.weight)


@pytest.mark.parametrize("dtype", DTYPES)
def test_to_fully_convolutional_shares_weights(rng, dtype):
    net = overfeat_net(seed=1, dtype=dtype)
    fcn = to_fully_convolutional(net)
    assert fcn.is_fully_convolutional and fcn.input_shape is None
    kinds = [layer.kind for layer in fcn.layers]
    assert kinds == ["conv2d", "relu", "maxpool2d", "conv2d", "relu", "conv2d", "relu", "conv2d", "softmax"]
    shapes = [layer.weight.shape for layer in fcn.layers if hasattr(layer, "weight")]
    assert shapes == [(5, 5, 3, 16), (5, 5, 16, 400), (1, 1, 400, 400), (1, 1, 400, 4)]
    dense = [layer for layer in net.layers if isinstance(layer, Dense)]
    convs = [layer for layer in fcn.layers if isinstance(layer, Conv2D)][1:]
    for d, c in zip(dense, convs):
        assert np.shares_memory(d.weight, c.weight)  # same weights, not a copy
        np.testing.assert_array_equal(d.weight.reshape(-1), c.weight.reshape(-1))
    assert fcn.geometry() == (14, 2)
    img = rng.random((14, 14, 3)).astype(dtype)
    np.testing.assert_allclose(fcn(img).reshape(4), net(img), rtol=1e-6, atol=1e-7)
    # converting a fully convolutional net is the identity
    assert [layer.kind for layer in to_fully_convolutional(fcn).layers] == kinds


def test_batch_and_single_image_agree(rng):
    net = overfeat_net(seed=2)
    batch = rng.random((5, 14, 14, 3)).astype(np.float32)
    out = net(batch)
    assert out.shape == (5, 4)
    for i in range(5):
        np.testing.assert_array_equal(net(batch[i]), out[i])
    assert net(np.empty((0, 14, 14, 3), np.float32)).shape == (0, 4)


# --------------------------------------------------------------------------- save / load
@pytest.mark.parametrize("dtype", DTYPES)
def test_save_load_roundtrip(tmp_path, rng, dtype):
    net = overfeat_net(seed=4, dtype=dtype)
    path = tmp_path / "net.npz"
    save_net(net, path)
    back = load_net(path)
    assert back.input_shape == net.input_shape and back.dtype == dtype
    img = rng.random((14, 14, 3))
    np.testing.assert_array_equal(back(img), net(img))
    fcn = to_fully_convolutional(net)
    save_net(fcn, tmp_path / "fcn.npz")
    fback = load_net(tmp_path / "fcn.npz")
    assert fback.input_shape is None
    big = rng.random((20, 18, 3))
    np.testing.assert_array_equal(fback(big), fcn(big))
    # strides and padding survive
    odd = Net([Conv2D(rng.random((3, 3, 2, 4)), rng.random(4), stride=2, padding=1), MaxPool2D(3, 1)])
    save_net(odd, tmp_path / "odd.npz")
    oback = load_net(tmp_path / "odd.npz")
    conv, pool = oback.layers
    assert (conv.stride, conv.padding, pool.size, pool.stride) == (2, 1, 3, 1)


# --------------------------------------------------------------------------- bad input
def test_bad_input_messages(rng):
    net = overfeat_net()
    with pytest.raises(ValueError, match="x: expected an \\(H, W, C\\)"):
        net(np.zeros((14, 14)))
    with pytest.raises(ValueError, match="the net expects \\(14, 14, 3\\)"):
        net(np.zeros((14, 14, 4)))
    with pytest.raises(ValueError, match="non-finite"):
        net(np.full((14, 14, 3), np.nan))
    with pytest.raises(ValueError, match="bias: expected shape \\(4,\\)"):
        Conv2D(np.zeros((3, 3, 2, 4)), np.zeros(5))
    with pytest.raises(ValueError, match="stride: must be >= 1"):
        Conv2D(np.zeros((3, 3, 2, 4)), np.zeros(4), stride=0)
    with pytest.raises(ValueError, match="padding: must be >= 0"):
        Conv2D(np.zeros((3, 3, 2, 4)), np.zeros(4), padding=-1)
    with pytest.raises(ValueError, match="weight: expected 4 dimensions"):
        Conv2D(np.zeros((3, 3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="add a Flatten layer"):
        Net([Dense(np.zeros((12, 2)), np.zeros(2))], input_shape=(2, 2, 3))
    with pytest.raises(ValueError, match="3 channels, the weights expect 2"):
        Net([Conv2D(np.zeros((3, 3, 2, 4)), np.zeros(4))], input_shape=(5, 5, 3))
    with pytest.raises(ValueError, match="mix dtypes"):
        Net(
            [
                Conv2D(np.zeros((1, 1, 2, 2), np.float32), np.zeros(2, np.float32)),
                Conv2D(np.zeros((1, 1, 2, 2)), np.zeros(2)),
            ]
        )
    with pytest.raises(ValueError, match="smaller than the 5x5 kernel"):
        to_fully_convolutional(net)(np.zeros((10, 10, 3)))
    with pytest.raises(ValueError, match="net: expected a detbench.cnn.Net"):
        to_fully_convolutional("net")
    with pytest.raises(ValueError, match="between Flatten and Dense"):
        to_fully_convolutional(Net([Flatten(), ReLU(), Dense(np.zeros((12, 2)), np.zeros(2))], input_shape=(2, 2, 3)))


def test_public_cnn_path_is_the_sliding_engine():
    for name in detbench.cnn.__all__:
        assert getattr(detbench.cnn, name) is globals()[name]
