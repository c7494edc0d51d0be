"""Style models (``pipelines/style.py``): tiles with thumbnail normalisation equal the whole
photo, strength runs from the photo to the full style and keeps local contrast where a pixel
blend fades it, alpha, grey and metadata are kept, ONNX export has two dynamic inputs and its
runtime equals torch, and bad options fail in one line with nothing written."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.errors import GanforgeError
from ganforge.pipelines import StylePipeline
from ganforge.pipelines.onnx import PARITY_TOL, OnnxNetwork, export_onnx, use_onnx
from ganforge.pipelines.style import pixel_blend, strength_blend
from ganforge.service import apply
from ganforge.tasks import TASKS

from ..builders import tiny_unpaired_config
from ..test_cli import assert_one_line_error, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")


def style_pipeline(seed: int = 0, name: str = "tiny-style") -> StylePipeline:
    """A tiny untrained style model whose instance norms have non-trivial affine parts, so the
    normalisation statistics visibly matter."""
    cfg = tiny_unpaired_config({"name": name, "model.g.in_channels": 3, "model.g.out_channels": 3,
                                "model.d.in_channels": 3})
    torch.manual_seed(seed)
    net = TASKS.get("unpaired").build_export(cfg)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.InstanceNorm2d):
                m.weight.normal_(1.0, 0.5)
                m.bias.normal_(0.0, 0.5)
    return StylePipeline(net, cfg, source=name)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return style_pipeline().save_pretrained(tmp_path_factory.mktemp("style") / "style-tiny")


def photo(h: int = 150, w: int = 203, seed: int = 0) -> np.ndarray:
    """A smooth gradient with texture: a photo-like image whose statistics vary across it."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([255 * xx / w, 255 * yy / h, 128 + 100 * np.sin(xx / 9.0)], axis=2)
    return np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)


def test_tiles_with_thumbnail_statistics_equal_the_whole_photo():
    pipe = style_pipeline()
    image = photo()
    whole = np.asarray(pipe(image, tile=None)).astype(int)
    tiled = np.asarray(pipe(image, tile=64)).astype(int)
    assert whole.shape == image.shape
    assert np.abs(whole - tiled).max() <= 1


def test_per_tile_instance_norm_would_show_seams():
    """Why the thumbnail: the same tiles normalised on their own differ from the whole photo."""
    from ganforge.tiling import run_tiled

    pipe = style_pipeline()
    image = photo()
    whole = np.asarray(pipe(image, tile=None)).astype(int)
    own = run_tiled(lambda x: pipe.network(x), image, scale=1, out_channels=3, tile=64, overlap=24, align=4)
    assert np.abs(whole - own.astype(int)).max() > 20


def test_strength_runs_from_the_photo_to_the_full_style():
    pipe = style_pipeline()
    image = photo()
    assert np.array_equal(np.asarray(pipe(image, strength=0.0)), image)
    full = np.asarray(pipe(image, strength=1.0)).astype(int)
    half = np.asarray(pipe(image, strength=0.5)).astype(int)
    d_photo, d_full = np.abs(half - image).mean(), np.abs(half - full).mean()
    assert 0.25 < d_photo / (d_photo + d_full) < 0.75  # half-way, not one of the ends


def test_strength_blend_keeps_local_contrast_where_a_pixel_blend_fades():
    gen = torch.Generator().manual_seed(0)
    # Two unrelated textures on the same mean: the case a pixel blend washes out.
    a = (torch.rand(1, 3, 96, 96, generator=gen) - 0.5) * 1.2
    b = (torch.rand(1, 3, 96, 96, generator=gen) - 0.5) * 1.2

    def contrast(x: torch.Tensor) -> float:
        m = torch.nn.functional.avg_pool2d(x, 5, stride=1)
        return float((torch.nn.functional.avg_pool2d(x * x, 5, stride=1) - m * m).clamp_min(0).sqrt().mean())

    ends = 0.5 * contrast(a) + 0.5 * contrast(b)
    assert contrast(pixel_blend(a, b, 0.5)) / ends < 0.8
    assert 0.9 < contrast(strength_blend(a, b, 0.5)) / ends < 1.1
    # The ends are the inputs themselves, and a shared image stays itself at any strength.
    assert torch.equal(strength_blend(a, b, 0.0), a) and torch.equal(strength_blend(a, b, 1.0), b)
    assert torch.allclose(strength_blend(a, a, 0.3), a.clamp(-1, 1), atol=1e-5)


def test_alpha_grey_and_metadata_are_kept(tmp_path):
    pipe = style_pipeline()
    rgba = Image.fromarray(photo(40, 52)).convert("RGBA")
    alpha = Image.fromarray(np.tile(np.arange(52, dtype=np.uint8) * 4, (40, 1)))
    rgba.putalpha(alpha)
    out = pipe(rgba)
    assert out.mode == "RGBA" and out.size == (52, 40)
    assert np.array_equal(np.asarray(out)[:, :, 3], np.asarray(alpha))
    grey = pipe(Image.fromarray(photo(40, 52)).convert("L"))
    assert grey.mode == "RGB" and grey.size == (52, 40)  # the style brings colour
    src = tmp_path / "in.jpg"
    Image.fromarray(photo(40, 52)).save(src, dpi=(300, 300))
    result = apply(pipe.save_pretrained(tmp_path / "model"), [src], out=tmp_path / "out.png", strength=0.5)
    assert result.written and Image.open(tmp_path / "out.png").info.get("dpi") == pytest.approx((300, 300), abs=1)


@pytest.mark.parametrize("kwargs,needle", [
    ({"strength": 1.5}, "^strength: input should be less than or equal to 1, got 1.5$"),
    ({"strength": -0.1}, "^strength: input should be greater than or equal to 0, got -0.1$"),
    ({"tile": 8}, "^tile: input should be greater than or equal to 16, got 8$"),
    ({"thumbnail": 4}, "^thumbnail: input should be greater than or equal to 16, got 4$"),
])
def test_bad_options_are_one_line_errors(kwargs, needle):
    with pytest.raises(GanforgeError, match=needle):
        style_pipeline()(photo(32, 32), **kwargs)


def test_apply_cli_file_and_folder_with_strength(saved, tmp_path, monkeypatch, capsys):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    Image.fromarray(photo(33, 47)).save(tmp_path / "in" / "a.png")
    Image.fromarray(photo(40, 30, seed=1)).save(tmp_path / "in" / "sub" / "b.jpg", quality=95)
    code, _, err = run_cli(monkeypatch, capsys, "apply", saved, tmp_path / "in", "--out", tmp_path / "out",
                           "--strength", "0.5", "--tile", "32", "-q")
    assert code == 0, err
    a = Image.open(tmp_path / "out" / "a.png")
    assert a.size == (47, 33) and (tmp_path / "out" / "sub" / "b.jpg").is_file()
    want = ganforge.load(saved)(Image.open(tmp_path / "in" / "a.png"), strength=0.5, tile=32)
    assert np.array_equal(np.asarray(a), np.asarray(want))


@pytest.mark.parametrize("args,needle", [
    (["--strength", "1.5"], "1.5 is not in the range 0<=x<=1"),
    (["--noise-level", "10"], "--noise-level is not an option of this model; it takes --tile, --overlap, --precision, --strength, --thumbnail"),
])
def test_apply_cli_refuses_bad_style_options_and_writes_nothing(saved, args, needle, tmp_path, monkeypatch, capsys):
    src = tmp_path / "in.png"
    Image.fromarray(photo(20, 20)).save(src)
    code, _, err = run_cli(monkeypatch, capsys, "apply", saved, src, "--out", tmp_path / "o.png", *args)
    assert code != 0 and needle in err and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_strength_is_refused_for_other_models(tmp_path, monkeypatch, capsys):
    from ..builders import tiny_enhance_model

    model = tiny_enhance_model(tmp_path / "up", "upscale", 2)
    src = tmp_path / "in.png"
    Image.fromarray(photo(20, 20)).save(src)
    code, _, err = run_cli(monkeypatch, capsys, "apply", model, src, "--out", tmp_path / "o.png", "--strength", "0.5")
    assert_one_line_error(code, err, "--strength is not an option of this model; it takes --tile, --overlap, --precision")
    assert not (tmp_path / "o.png").exists()


def test_onnx_export_has_two_dynamic_inputs_and_matches_torch(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    pipe = style_pipeline()
    result = export_onnx(pipe, tmp_path / "s.onnx")
    assert result.max_diff <= PARITY_TOL and result.inputs == ["input", "thumbnail"]
    graph = onnx.load(str(result.path)).graph
    dims = {i.name: [d.dim_param for d in i.type.tensor_type.shape.dim if d.dim_param] for i in graph.input}
    assert dims == {"input": ["batch", "height", "width"], "thumbnail": ["thumb_height", "thumb_width"]}
    x, thumb = torch.rand(2, 3, 37, 23) * 2 - 1, torch.rand(1, 3, 19, 30) * 2 - 1
    with torch.no_grad():
        want = pipe.network.forward_thumbnail(x, thumb)
    assert torch.allclose(OnnxNetwork(result.path)(x, thumb), want, atol=PARITY_TOL, rtol=0)
    # --runtime onnx: the same tiles, thumbnail and strength around onnxruntime
    image = photo()
    expected = np.asarray(pipe(image, tile=64, strength=0.6)).astype(int)
    use_onnx(pipe, result.path)
    assert np.abs(np.asarray(pipe(image, tile=64, strength=0.6)).astype(int) - expected).max() <= 1


def test_onnx_runtime_through_the_cli(saved, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "in.png"
    Image.fromarray(photo(45, 38)).save(src)
    code, _, err = run_cli(monkeypatch, capsys, "apply", saved, src, "--out", tmp_path / "t.png", "-q")
    assert code == 0, err
    code, _, err = run_cli(monkeypatch, capsys, "apply", saved, src, "--out", tmp_path / "o.png", "--runtime", "onnx",
                           "-q")
    assert code == 0, err
    a, b = (np.asarray(Image.open(tmp_path / n)).astype(int) for n in ("t.png", "o.png"))
    assert np.abs(a - b).max() <= 1


def test_info_describes_a_style_model(saved, monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "info", saved)
    assert code == 0, err
    assert "style pipeline" in out and "turns photos into" in out and "--strength" in out
    card = (saved / "README.md").read_text()
    assert "ganforge apply" in card and "--strength" in card


def test_thumbnail_pass_equals_forward_when_the_thumbnail_is_the_input():
    pipe = style_pipeline()
    x = torch.rand(1, 3, 37, 29) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(pipe.network(x), pipe.network.forward_thumbnail(x, x), atol=1e-5)
