"""ONNX export and the onnxruntime runtime (``pipelines/onnx.py``): tiny models of every
exportable kind pass the parity check on two input sizes (tolerance 1e-3 on [-1, 1] outputs;
fp32 kernels agree to ~1e-6), the files carry dynamic axes and metadata, ``apply --runtime
onnx`` equals the torch runtime within 1/255, and what cannot be exported is refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.data import FASHION_CLASSES
from ganforge.errors import GanforgeError
from ganforge.models import build_generator
from ganforge.pipelines import GeneratorPipeline, ImageToImagePipeline
from ganforge.pipelines.onnx import (PARITY_TOL, OnnxNetwork, cached_export, export_onnx, fingerprint)
from ganforge.tasks import TASKS

from ..builders import tiny_enhance_model, tiny_model_config, tiny_paired_config, tiny_unpaired_config
from ..test_cli import assert_one_line_error, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

ENHANCE = [("upscale", 2), ("upscale", 4), ("denoise", 1), ("restore", 2), ("colorize", 1)]
GENERATORS = [("dcgan", False), ("dcgan", True), ("stylegan", True)]


def generator_pipeline(family: str, conditional: bool, seed: int = 0) -> GeneratorPipeline:
    cfg = tiny_model_config(family, conditional=conditional)
    torch.manual_seed(seed)
    return GeneratorPipeline(build_generator(cfg.model), cfg, class_names=list(FASHION_CLASSES) if conditional else None,
                             source=f"tiny-{family}")


def paired_pipeline(task: str = "paired") -> ImageToImagePipeline:
    """A tiny image-to-image model of ``task``: paired (U-Net, grey -> RGB) or unpaired (ResNet
    generator of a style model, RGB -> RGB), channels filled in as its resolve_config would."""
    if task == "paired":
        cfg = tiny_paired_config({"model.g.in_channels": 1, "model.g.out_channels": 3, "model.d.in_channels": 4})
    else:
        cfg = tiny_unpaired_config({"model.g.in_channels": 3, "model.g.out_channels": 3, "model.d.in_channels": 3})
    torch.manual_seed(0)
    return ImageToImagePipeline(TASKS.get(task).build_export(cfg), cfg, source=f"tiny-{task}")


@pytest.fixture(scope="module")
def photo_models(tmp_path_factory) -> dict[tuple[str, int], Path]:
    root = tmp_path_factory.mktemp("onnx-photo")
    return {(tool, scale): tiny_enhance_model(root / f"{tool}-x{scale}", tool, scale) for tool, scale in ENHANCE}


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    """Cached exports go to the test's folder, never the user's ~/.cache."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "onnx"


def dynamic_dims(path: Path) -> dict[str, list[str]]:
    """Input name -> its symbolic dimension names (fixed dimensions left out)."""
    graph = onnx.load(str(path)).graph
    return {i.name: [d.dim_param for d in i.type.tensor_type.shape.dim if d.dim_param] for i in graph.input}


def props(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


# ------------------------------------------------------------------------------ export + parity

@pytest.mark.parametrize("tool,scale", ENHANCE)
def test_photo_models_export_with_parity(photo_models, tool, scale, tmp_path):
    pipe = ganforge.load(photo_models[tool, scale])
    result = export_onnx(pipe, tmp_path / "m.onnx", name=f"tiny-{tool}")
    assert list(result.parity) == ["48x64", "78x54"]
    assert result.max_diff <= PARITY_TOL
    assert dynamic_dims(result.path) == {"input": ["batch", "height", "width"]}
    meta = props(result.path)
    assert meta["ganforge_model"] == f"tiny-{tool}" and meta["ganforge_pipeline"] == "enhance"
    assert meta["tool"] == tool and meta["scale"] == str(scale) and meta["value_range"] == "[-1, 1]"
    assert meta["opset"] == "17" and onnx.load(str(result.path)).opset_import[0].version == 17
    c_in = 4 if tool == "denoise" else 1 if tool == "colorize" else 3
    assert meta["in_channels"] == str(c_in)
    # A third size and batch the probes did not use (odd, so colorize's U-Net pads inside the graph).
    align = int(meta["alignment"])
    x = torch.rand(3, c_in, 18 * align + (0 if align > 1 else 1), 13 * align).mul(2).sub(1)
    with torch.no_grad():
        want = pipe.network(x)
    assert torch.allclose(OnnxNetwork(result.path)(x), want, atol=PARITY_TOL, rtol=0)


@pytest.mark.parametrize("family,conditional", GENERATORS)
def test_generators_export_with_parity(family, conditional, tmp_path):
    pipe = generator_pipeline(family, conditional)
    result = export_onnx(pipe, tmp_path / "g.onnx")
    assert list(result.parity) == ["batch 2", "batch 5"] and result.max_diff <= PARITY_TOL
    names = ["z", "labels"] if conditional else ["z"]
    assert dynamic_dims(result.path) == {n: ["batch"] for n in names}
    meta = props(result.path)
    assert meta["ganforge_pipeline"] == "generation" and meta["output_shape"] == "1x32x32"
    assert meta["classes"] == (",".join(FASHION_CLASSES) if conditional else "")
    # The ONNX generator gives generate()'s images: same latents, same labels.
    z = torch.randn(3, pipe.config.model.latent_dim)
    labels = torch.tensor([0, 4, 9]) if conditional else None
    with torch.no_grad():
        want = pipe.run_generator(z, labels)
    assert torch.allclose(OnnxNetwork(result.path)(z, labels), want, atol=PARITY_TOL, rtol=0)


@pytest.mark.parametrize("task", ["paired", "unpaired"])
def test_image_to_image_export_with_parity(task, tmp_path):
    pipe = paired_pipeline(task)
    result = export_onnx(pipe, tmp_path / "p.onnx")
    assert result.max_diff <= PARITY_TOL and props(result.path)["ganforge_pipeline"] == "image-to-image"
    x = torch.rand(1, pipe.in_channels, 37, 23).mul(2).sub(1)  # odd: both generators pad inside the graph
    with torch.no_grad():
        want = pipe.network(x)
    assert torch.allclose(OnnxNetwork(result.path)(x), want, atol=PARITY_TOL, rtol=0)


@pytest.mark.slow
def test_bundled_model_exports(tmp_path, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "export-onnx", "photo-upscale-x4", tmp_path / "up.onnx")
    assert code == 0, err
    assert "48x64" in err and "78x54" in err and "max |onnxruntime - torch|" in err
    meta = props(tmp_path / "up.onnx")
    assert meta["ganforge_model"] == "photo-upscale-x4" and meta["tool"] == "upscale" and meta["scale"] == "4"


# ------------------------------------------------------------------------------ failures

def test_parity_failure_is_one_line_and_writes_nothing(photo_models, tmp_path, monkeypatch, capsys):
    pipe = ganforge.load(photo_models["upscale", 2])
    perturbed = lambda sess, feeds: sess.run(None, feeds)[0] + 0.01  # noqa: E731
    with pytest.raises(GanforgeError, match=r"parity check failed at 48x64: .* = 0\.01 > 0\.001"):
        export_onnx(pipe, tmp_path / "bad.onnx", run=perturbed)
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary
    # Through the CLI: onnxruntime itself made to disagree.
    import onnxruntime

    real = onnxruntime.InferenceSession.run
    monkeypatch.setattr(onnxruntime.InferenceSession, "run",
                        lambda self, *a, **k: [real(self, *a, **k)[0] * 1.5])
    code, _, err = run_cli(monkeypatch, capsys, "export-onnx", photo_models["upscale", 2], tmp_path / "bad.onnx")
    assert_one_line_error(code, err, "ONNX parity check failed", "the file was not written")
    assert not (tmp_path / "bad.onnx").exists()


def test_what_cannot_be_exported_is_refused(tmp_path, monkeypatch, capsys):
    cfg = tiny_model_config("mlp")  # 2D points, not images
    vector = GeneratorPipeline(build_generator(cfg.model), cfg, class_names=None, source="ring")
    with pytest.raises(GanforgeError, match="makes 2D points, not images; ONNX export is for image models"):
        export_onnx(vector, tmp_path / "v.onnx")
    code, _, err = run_cli(monkeypatch, capsys, "export-onnx", "photo-upscale-x4", tmp_path / "up.png")
    assert_one_line_error(code, err, "must end in .onnx")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ apply --runtime onnx

def photo(path: Path, w: int = 45, h: int = 38, mode: str = "RGBA") -> Path:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 5, yy * 6, (xx + yy) * 3], -1) + rng.normal(0, 20, (h, w, 3))
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).convert(mode).save(path)
    return path


@pytest.mark.parametrize("tool,scale,extra", [("denoise", 1, ["--noise-level", "20"]), ("upscale", 4, []),
                                              ("colorize", 1, [])])
def test_apply_onnx_runtime_equals_torch(photo_models, tool, scale, extra, tmp_path, monkeypatch, capsys):
    src = photo(tmp_path / "in.png")
    outs = {}
    for runtime in ("torch", "onnx"):
        outs[runtime] = tmp_path / f"{runtime}.png"
        code, _, err = run_cli(monkeypatch, capsys, "apply", photo_models[tool, scale], src, "--out", outs[runtime],
                               "--tile", "24", "--overlap", "8", "--runtime", runtime, "-q", *extra)
        assert code == 0, err
    a, b = (np.asarray(Image.open(outs[r])).astype(int) for r in ("torch", "onnx"))
    assert a.shape == b.shape == (38 * scale, 45 * scale, 4)  # alpha kept
    assert np.abs(a - b).max() <= 1  # the same tiles; floats differ by ~1e-6, so at most a rounding step


def test_apply_onnx_file_and_cache(photo_models, cache, tmp_path, monkeypatch, capsys):
    src = photo(tmp_path / "in.png", mode="RGB")
    model = photo_models["restore", 2]
    # No --onnx: exported once into the cache, then reused.
    for _ in range(2):
        code, _, err = run_cli(monkeypatch, capsys, "apply", model, src, "--out", tmp_path / "a.png", "--runtime", "onnx")
        assert code == 0, err
        assert len(list(cache.glob("*.onnx"))) == 1
    pipe = ganforge.load(model)
    assert cached_export(pipe, "restore-x2").name == f"restore-x2-{fingerprint(pipe)}.onnx"
    # --onnx FILE from export-onnx; and one made from another model is refused.
    code, _, err = run_cli(monkeypatch, capsys, "export-onnx", model, tmp_path / "r.onnx")
    assert code == 0, err
    code, _, err = run_cli(monkeypatch, capsys, "apply", model, src, "--out", tmp_path / "b.png", "--runtime", "onnx",
                           "--onnx", tmp_path / "r.onnx", "--scale", "1")
    assert code == 0, err
    assert Image.open(tmp_path / "b.png").size == (45, 38)
    code, _, err = run_cli(monkeypatch, capsys, "apply", photo_models["upscale", 2], src, "--out", tmp_path / "c.png",
                           "--runtime", "onnx", "--onnx", tmp_path / "r.onnx")
    assert_one_line_error(code, err, "was not exported from this model", "tool restore (the model's: upscale)")


def test_apply_onnx_image_to_image(tmp_path):
    folder = paired_pipeline().save_pretrained(tmp_path / "pix")
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (21, 30), dtype=np.uint8))
    pipe = ganforge.load(folder)
    want = np.asarray(pipe(image)).astype(int)
    from ganforge.pipelines.onnx import use_onnx

    use_onnx(pipe, name="pix")
    assert np.abs(np.asarray(pipe(image)).astype(int) - want).max() <= 1


@pytest.mark.parametrize("args,needle", [
    (["--runtime", "onnx", "--precision", "bf16"], "onnxruntime runs the fp32 graph"),
    (["--onnx", "x.onnx"], "--onnx FILE needs --runtime onnx"),
    (["--runtime", "onnx", "--onnx", "missing.onnx"], "does not exist; make it with ganforge export-onnx"),
])
def test_apply_onnx_user_errors(photo_models, args, needle, tmp_path, monkeypatch, capsys):
    src = photo(tmp_path / "in.png")
    code, _, err = run_cli(monkeypatch, capsys, "apply", photo_models["upscale", 2], src, "--out", tmp_path / "o.png",
                           *args)
    assert_one_line_error(code, err, needle)
