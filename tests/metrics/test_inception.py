"""The FID Inception network: architecture, preprocessing, weight loading and bad inputs.

The real weights are not downloaded: a randomly initialised network saved to .pth and
.safetensors stands in for them. The architecture is checked through the published file's
key names and the parameter count derived from torchvision's documented one.
"""

from __future__ import annotations

import pathlib
import warnings

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from ganforge.errors import GanforgeError
from ganforge.metrics.inception import (
    FEATURE_DIM,
    NUM_CLASSES,
    WEIGHTS_ENV,
    WEIGHTS_FILE,
    WEIGHTS_URL,
    InceptionV3FID,
    load_inception,
    preprocess,
)

# One thread: on a small shared CPU, OpenMP threads waiting on each other cost more than
# they gain for these few-image batches (see tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


def _images(n: int, h: int, w: int, c: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, h, w), generator=g, dtype=torch.uint8)


@pytest.fixture(scope="module")
def model() -> InceptionV3FID:
    torch.manual_seed(0)
    return InceptionV3FID()


@pytest.fixture(scope="module")
def weights(model, tmp_path_factory) -> dict[str, pathlib.Path]:
    """The random model's weights as a .pth (torch.save of the state dict) and .safetensors."""
    root = tmp_path_factory.mktemp("inception")
    state = model.state_dict()
    pth, st = root / WEIGHTS_FILE, root / "inception.safetensors"
    torch.save(state, pth)
    save_file({k: v.contiguous() for k, v in state.items()}, str(st))
    return {"pth": pth, "safetensors": st}


@pytest.fixture(scope="module")
def reference(model) -> tuple[torch.Tensor, torch.Tensor]:
    """Two 32x32 images and the fixture model's features for them."""
    x = _images(2, 32, 32, seed=1)
    with torch.no_grad():
        return x, model(x)


# ----------------------------------------------------------------------------- forward


@pytest.mark.slow
def test_features_shape_dtype_finite_and_informative(reference):
    _, f = reference
    assert f.shape == (2, FEATURE_DIM) and f.dtype == torch.float32
    assert torch.isfinite(f).all()
    # the random network must not be degenerate, or the comparisons below prove nothing
    assert f.std() > 1e-3 and (f[0] - f[1]).abs().max() > 1e-3 * f.abs().max()


def test_grey_equals_same_image_repeated_to_rgb(model):
    grey = _images(1, 28, 28, c=1, seed=2)
    rgb = grey.repeat(1, 3, 1, 1)
    assert torch.equal(preprocess(grey), preprocess(rgb))
    with torch.no_grad():
        assert torch.equal(model(grey), model(rgb))


@pytest.mark.slow
def test_batch_size_independence(model):
    x = _images(4, 40, 40, seed=3)
    together = model.features(x, batch_size=4)
    one_by_one = model.features(x, batch_size=1)
    rel = (together - one_by_one).abs().max() / together.abs().max()
    assert rel <= 1e-5


def test_numpy_nhwc_gives_the_same_features_as_tensor_nchw(model, reference):
    x, f = reference
    nhwc = x.permute(0, 2, 3, 1).numpy().copy()
    nhwc.flags.writeable = False  # e.g. a memory-mapped data set: accepted, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_numpy = model.features(nhwc, batch_size=2)
    assert torch.equal(from_numpy, f)
    from_numpy -= 1  # an ordinary tensor, not an inference-mode one


@pytest.mark.slow
def test_logits_outputs(model, reference):
    x, f = reference
    logits = model.features(x, output="logits")
    unbiased = model.features(x, output="logits_unbiased")
    assert logits.shape == unbiased.shape == (2, NUM_CLASSES)
    with torch.no_grad():
        torch.testing.assert_close(unbiased, f @ model.fc.weight.T)
        torch.testing.assert_close(logits, unbiased + model.fc.bias)
        torch.testing.assert_close(model.logits(x[:1]), logits[:1])
        torch.testing.assert_close(model.logits(x[:1], bias=False), unbiased[:1])
    with pytest.raises(GanforgeError, match="unknown Inception output 'softmax'; known: pool3, logits"):
        model.features(x, output="softmax")


def test_features_of_no_images(model):
    assert model.features(np.zeros((0, 32, 32, 3), np.uint8)).shape == (0, FEATURE_DIM)


def test_features_refuses_training_mode():
    m = InceptionV3FID().train()
    with pytest.raises(RuntimeError, match="eval mode"):
        m.features(_images(1, 8, 8))


# ----------------------------------------------------------------------------- preprocessing


def test_preprocess_maps_0_and_255_to_minus_one_and_one_at_299():
    x = torch.stack([torch.zeros(3, 32, 48, dtype=torch.uint8), torch.full((3, 32, 48), 255, dtype=torch.uint8)])
    y = preprocess(x)
    assert y.shape == (2, 3, 299, 299) and y.dtype == torch.float32
    # the bilinear weights of some output pixels sum to 1 - 2**-24 in float32
    torch.testing.assert_close(y[0], torch.full_like(y[0], -1.0), atol=1e-6, rtol=0)
    torch.testing.assert_close(y[1], torch.full_like(y[1], 1.0), atol=1e-6, rtol=0)


def test_preprocess_leaves_299_images_unresized():
    x = _images(2, 299, 299, seed=4)
    x[0, :, 0, 0], x[0, :, 0, 1] = 0, 255
    y = preprocess(x)
    assert torch.equal(y, 2 * (x.float() / 255) - 1)
    assert y[0, 0, 0, 0] == -1 and y[0, 0, 0, 1] == 1


def test_preprocess_resizes_with_half_pixel_centres():
    # Two input columns, black then white, stretched to 299. pytorch-fid's resize
    # (align_corners=False) makes output column i sample input position
    # (i + 0.5) * 2 / 299 - 0.5, clamped to [0, 1]: a flat start, a ramp, a flat end.
    # align_corners=True would sample i / 298, and TF1 (torch-fidelity) i * 2 / 299.
    x = torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2)
    y = preprocess(x)[0, 0]
    i = torch.arange(299, dtype=torch.float64)
    expected = 2 * ((i + 0.5) * 2 / 299 - 0.5).clamp(0, 1) - 1
    torch.testing.assert_close(y, expected.float().expand(299, 299), atol=1e-6, rtol=0)
    assert abs(y[0, 100] - (-0.6555)) < 1e-3  # align_corners=True: -0.329; TF1: +0.338


@pytest.mark.parametrize(
    "images, match",
    [
        (torch.zeros(1, 3, 8, 8), "uint8 tensor .* got torch.float32"),
        (torch.zeros(1, 8, 8, 3, dtype=torch.uint8), "channels-last"),
        (torch.zeros(1, 4, 8, 8, dtype=torch.uint8), "1 or 3 channels"),
        (torch.zeros(3, 8, 8, dtype=torch.uint8), "uint8 tensor \\(N, C, H, W\\)"),
    ],
)
def test_preprocess_rejects_bad_images(images, match):
    with pytest.raises(GanforgeError, match=match):
        preprocess(images)


def test_features_rejects_bad_numpy(model):
    with pytest.raises(GanforgeError, match="numpy images must be uint8 \\(N, H, W, C\\)"):
        model.features(np.zeros((1, 3, 8, 8), np.uint8))
    with pytest.raises(GanforgeError, match="numpy images must be uint8"):
        model.features(np.zeros((1, 8, 8, 3), np.float32))


# ----------------------------------------------------------------------------- architecture


def test_state_dict_has_the_pytorch_fid_key_names(model):
    state = model.state_dict()
    for key in [
        "Conv2d_1a_3x3.conv.weight",
        "Conv2d_2b_3x3.bn.running_var",
        "Conv2d_4a_3x3.bn.bias",
        "Mixed_5b.branch5x5_2.conv.weight",
        "Mixed_6a.branch3x3dbl_3.conv.weight",
        "Mixed_6e.branch7x7dbl_5.bn.running_mean",
        "Mixed_7a.branch7x7x3_4.conv.weight",
        "Mixed_7b.branch3x3dbl_3b.conv.weight",
        "Mixed_7c.branch_pool.conv.weight",
        "fc.weight",
        "fc.bias",
    ]:
        assert key in state, key
    assert state["fc.weight"].shape == (1008, 2048)
    assert state["Mixed_5b.branch_pool.conv.weight"].shape == (32, 192, 1, 1)
    assert state["Mixed_6b.branch7x7_2.conv.weight"].shape == (128, 128, 1, 7)
    assert state["Mixed_7c.branch3x3dbl_1.conv.weight"].shape == (448, 2048, 1, 1)
    assert not any(k.startswith("AuxLogits") for k in state)
    # 94 conv+BN units (conv.weight, bn.weight, bn.bias) + fc (weight, bias)
    assert len(list(model.parameters())) == 94 * 3 + 2
    assert len(state) == 94 * 6 + 2  # + running_mean, running_var, num_batches_tracked
    # torchvision documents 27,161,264 parameters for inception_v3 (1000 classes, with the
    # aux classifier: 3,326,696 of them); the FID net drops the aux head and has 1008
    # classes (+8 * 2048 + 8): 27,161,264 - 3,326,696 + 16,392.
    assert sum(p.numel() for p in model.parameters()) == 23_850_960


def test_blocks_concatenate_in_tensorflow_order_with_the_fid_pools(model):
    # The pool branches are what the FID graph changes: average pools that ignore the zero
    # padding, and a max pool in Mixed_7c. The channel order is what fc's weights expect.
    def avg(x):
        return torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)

    def max_(x):
        return torch.nn.functional.max_pool2d(x, 3, stride=1, padding=1)

    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        x = torch.rand(1, 288, 9, 9, generator=g)
        a = model.Mixed_5d
        out = a(x)
        torch.testing.assert_close(out[:, :64], a.branch1x1(x))
        torch.testing.assert_close(out[:, 64:128], a.branch5x5_2(a.branch5x5_1(x)))
        torch.testing.assert_close(out[:, -64:], a.branch_pool(avg(x)))
        for block, pool in [(model.Mixed_7b, avg), (model.Mixed_7c, max_)]:
            x = torch.rand(1, block.branch1x1.conv.in_channels, 8, 8, generator=g)
            out = block(x)
            assert out.shape == (1, 2048, 8, 8)
            torch.testing.assert_close(out[:, :320], block.branch1x1(x))
            torch.testing.assert_close(out[:, 320:704], block.branch3x3_2a(block.branch3x3_1(x)))
            torch.testing.assert_close(out[:, -192:], block.branch_pool(pool(x)))


def test_model_is_frozen(model):
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())


# ----------------------------------------------------------------------------- loading


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["pth", "safetensors"])
def test_load_round_trip(weights, reference, kind):
    x, f = reference
    loaded = load_inception(weights[kind])
    assert isinstance(loaded, InceptionV3FID)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    with torch.no_grad():
        assert torch.equal(loaded(x), f)


@pytest.mark.slow
def test_load_from_environment_variable(weights, reference, monkeypatch):
    monkeypatch.setenv(WEIGHTS_ENV, str(weights["safetensors"]))
    x, f = reference
    with torch.no_grad():
        assert torch.equal(load_inception()(x), f)


@pytest.mark.slow
def test_load_accepts_files_without_batch_norm_counters(model, tmp_path, reference):
    # Files saved by PyTorch < 0.4.1 have no num_batches_tracked; they are unused in eval.
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "old.pth")
    x, f = reference
    with torch.no_grad():
        assert torch.equal(load_inception(tmp_path / "old.pth")(x), f)


def _one_line_with_download_hint(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    for part in (WEIGHTS_FILE, WEIGHTS_URL, "--weights PATH", WEIGHTS_ENV):
        assert part in msg, part
    return msg


def test_missing_weights_say_where_to_get_them(monkeypatch, tmp_path):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    with pytest.raises(GanforgeError) as err:
        load_inception()
    assert "needed" in _one_line_with_download_hint(err)

    with pytest.raises(GanforgeError) as err:
        load_inception(tmp_path / "nope.pth")
    assert "nope.pth' not found" in _one_line_with_download_hint(err)

    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "gone.pth"))
    with pytest.raises(GanforgeError) as err:
        load_inception()
    assert f"gone.pth' (from {WEIGHTS_ENV}) not found" in _one_line_with_download_hint(err)

    with pytest.raises(GanforgeError, match="is not a file"):
        load_inception(tmp_path)


@pytest.mark.slow
def test_wrong_keys_are_listed(tmp_path):
    torch.save({"encoder.weight": torch.zeros(2, 2)}, tmp_path / "tiny.pth")
    with pytest.raises(GanforgeError) as err:
        load_inception(tmp_path / "tiny.pth")
    msg = _one_line_with_download_hint(err)
    assert "is not the FID Inception network" in msg
    assert "missing Conv2d_1a_3x3.conv.weight, Conv2d_1a_3x3.bn.weight, Conv2d_1a_3x3.bn.bias, ..." in msg
    assert "unexpected encoder.weight" in msg

    save_file({"encoder.weight": torch.zeros(2, 2)}, str(tmp_path / "tiny.safetensors"))
    with pytest.raises(GanforgeError, match="missing Conv2d_1a_3x3.conv.weight"):
        load_inception(tmp_path / "tiny.safetensors")


@pytest.mark.slow
def test_wrong_shapes_are_listed(model, tmp_path):
    state = dict(model.state_dict())
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 2048), torch.zeros(1000)  # torchvision's head
    torch.save(state, tmp_path / "torchvision_head.pth")
    with pytest.raises(GanforgeError, match=r"wrong shapes: fc.weight \(1000, 2048\) \(expected \(1008, 2048\)\)"):
        load_inception(tmp_path / "torchvision_head.pth")


class _Payload:
    """Unpickling this would create a file: the stand-in for arbitrary code."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_pickled_code_is_refused_not_run(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"fc.weight": _Payload(marker)}, tmp_path / "evil.pth")
    with pytest.raises(GanforgeError, match="refused to load .* holds Python objects"):
        load_inception(tmp_path / "evil.pth")
    assert not marker.exists()


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("junk.pth", b"not a torch file at all", "corrupt or not a PyTorch file"),
        ("junk.safetensors", b"\x00" * 16, "corrupt or not safetensors"),
    ],
)
def test_corrupt_files(tmp_path, name, content, match):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(GanforgeError, match=match):
        load_inception(tmp_path / name)


def test_non_dict_file(tmp_path):
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(GanforgeError, match="hold a list, not a state dict"):
        load_inception(tmp_path / "list.pth")
