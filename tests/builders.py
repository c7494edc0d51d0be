"""The one place tests build tiny configs: training runs of a few dozen steps on a CPU, and
configs of single networks (no data) for model and pipeline tests."""

from __future__ import annotations

from typing import Any

from ganforge.config import apply_overrides
from ganforge.data import FASHION_CLASSES
from ganforge.tasks import build_config

# Tiny networks of each noise -> image family (the sizes the model tests use).
TINY_FAMILIES = {
    "mlp": {"family": "mlp", "width": 16, "depth": 2, "latent_dim": 8},
    "dcgan": {"family": "dcgan", "width": 8, "latent_dim": 16},
    "stylegan": {"family": "stylegan", "width": 8, "max_channels": 16, "w_dim": 16, "mapping_layers": 2,
                 "latent_dim": 16},
}


def tiny_config(overrides: dict[str, Any] | None = None):
    """A noise -> image run: conditional DCGAN, hinge loss, lazy R1, on 512 Fashion-MNIST images, 20 steps."""
    raw = {
        "name": "tiny",
        "data": {"dataset": "fashion-mnist", "resolution": 32, "limit": 512},
        "model": {"family": "dcgan", "conditional": True, "width": 8, "latent_dim": 16, "spectral_norm": True},
        "loss": {"name": "hinge", "r1_gamma": 0.1, "r1_interval": 4},
        "train": {"batch_size": 16, "kimg": 0.32, "log_every": 5, "sample_every_kimg": 0.16,
                  "snapshot_every_kimg": 0.16, "keep_checkpoints": 2, "ema_halflife_kimg": 0.1},
    }
    return build_config(apply_overrides(raw, overrides or {}))


def tiny_paired_config(overrides: dict[str, Any] | None = None):
    """A paired (pix2pix) run: a small U-Net and PatchGAN on 256 shapes-edges pairs at 16 px, 24 steps."""
    raw = {
        "task": "paired",
        "name": "tiny-paired",
        "data": {"dataset": "shapes-edges", "resolution": 16, "channels": 3, "source_channels": 1, "limit": 256},
        "model": {"g": {"width": 8, "depth": 2}, "d": {"width": 8, "layers": 2}},
        "loss": {"name": "nonsaturating", "l1_weight": 100},
        "train": {"batch_size": 8, "kimg": 0.192, "log_every": 6, "sample_every_kimg": 0.096, "g_lr": 0.002,
                  "d_lr": 0.0002, "betas": [0.5, 0.999], "snapshot_every_kimg": 0.096, "keep_checkpoints": 2,
                  "ema_halflife_kimg": 0.05},
        "health": {"probe_every_kimg": 0},
    }
    return build_config(apply_overrides(raw, overrides or {}))


def tiny_unpaired_config(overrides: dict[str, Any] | None = None):
    """An unpaired (CycleGAN) run: small ResNet generators and PatchGANs on 256 + 256 shapes-unpaired
    images at 16 px, 24 steps."""
    raw = {
        "task": "unpaired",
        "name": "tiny-unpaired",
        "data": {"dataset": "shapes-unpaired", "resolution": 16, "channels": 3, "limit": 256},
        "model": {"g": {"width": 8, "blocks": 2}, "d": {"width": 8, "layers": 2}},
        "train": {"batch_size": 8, "kimg": 0.192, "log_every": 6, "sample_every_kimg": 0.096, "g_lr": 0.002,
                  "d_lr": 0.0002, "betas": [0.5, 0.999], "snapshot_every_kimg": 0.096, "keep_checkpoints": 2,
                  "ema_halflife_kimg": 0.05},
        "health": {"probe_every_kimg": 0},
    }
    return build_config(apply_overrides(raw, overrides or {}))


def tiny_model_config(family: str, *, conditional: bool = False, channels: int = 1, resolution: int = 32,
                      data: str = "fashion-mnist", **model: Any):
    """The resolved config of one tiny network of ``family`` (output shape and classes filled in,
    as a run would), for tests that build networks or pipelines without data."""
    shape = [2] if family == "mlp" else [channels, resolution, resolution]
    spec = {**TINY_FAMILIES[family], "output_shape": shape, **model}
    if conditional:
        spec.update(conditional=True, num_classes=len(FASHION_CLASSES))
    return build_config({"name": "tiny", "data": {"dataset": data}, "model": spec})


# Tiny generators of each photo tool (tools/enhance/): srnet for the pixel tools (unshuffle 2 for
# denoise and restore, as their presets use), a U-Net for colorize.
TINY_ENHANCE_GENERATORS = {
    "upscale": ("srnet", {"width": 8, "depth": 2}),
    "denoise": ("srnet", {"width": 8, "depth": 2, "unshuffle": 2}),
    "restore": ("srnet", {"width": 8, "depth": 2, "unshuffle": 2}),
    "colorize": ("unet", {"width": 4, "depth": 2}),
}


def tiny_enhance_config(tool: str = "upscale", scale: int | None = None, **g: Any):
    """The resolved config of a tiny photo model of ``tool``: channels and scale filled in as
    ``EnhanceTask.resolve_config`` does (no data is read; ``data.path`` is a placeholder).
    ``scale`` defaults to the tool's first trainable scale; ``g`` overrides generator arguments."""
    from ganforge.enhance import TOOLS

    tool_ = TOOLS.get(tool)
    scale = tool_.scales[0] if scale is None else scale
    generator, args = TINY_ENHANCE_GENERATORS[tool]
    c_in, c_out = tool_.channels()
    args = {**args, **g, "in_channels": c_in, "out_channels": c_out}
    if generator == "srnet":
        args["scale"] = scale
    return build_config({
        "task": "enhance", "name": f"tiny-{tool}", "tool": tool, "scale": scale,
        "data": {"dataset": "photo-folder", "path": "unused-photos", "resolution": 32, "channels": 3},
        "model": {"generator": generator, "g": args, "d": {"in_channels": 3 if tool == "colorize" else c_out}},
    })


def tiny_enhance_model(out_dir, tool: str = "upscale", scale: int | None = None, *, seed: int = 0, **g: Any):
    """Export a tiny photo model of ``tool`` with seeded random weights to ``out_dir``; returns the folder.

    Every weight is redrawn from N(0, 0.1^2) (seed ``seed``) so the output differs visibly from
    the residual path alone (srnet's last layer starts near zero: an untrained srnet is about
    bicubic, which would make tiling and option tests unable to fail)."""
    import torch

    from ganforge.pipelines import EnhancePipeline

    cfg = tiny_enhance_config(tool, scale, **g)
    net = cfg.model.build("generator")
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    return EnhancePipeline(net, cfg).save_pretrained(out_dir)


def tiny_trait_config(family: str = "dcgan", **model: Any):
    """The resolved config of a tiny RGB generator with the three traits of ``shapes-traits``
    (shape, colour, size), as a run on that data set would resolve it."""
    from ganforge.data.shapes_traits import SHAPES_TRAITS

    spec = {**TINY_FAMILIES[family], "output_shape": [3, 32, 32], "conditional": True,
            "traits": [t.to_json() for t in SHAPES_TRAITS.traits], **model}
    return build_config({"name": "tiny-traits", "data": {"dataset": "shapes-traits", "channels": 3}, "model": spec})


def tiny_trait_model(out_dir, family: str = "dcgan", *, seed: int = 0, **model: Any):
    """Export an untrained tiny multi-trait generator (``tiny_trait_config``, weights seeded by
    ``seed``) to ``out_dir``; returns the folder. Its trait tables are redrawn (:func:`stir_traits`),
    so every trait visibly changes the picture."""
    import torch

    from ganforge.models import build_generator
    from ganforge.pipelines import GeneratorPipeline

    cfg = tiny_trait_config(family, **model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_generator(cfg.model)
        stir_traits(net)
    return GeneratorPipeline(net, cfg, class_names=None).save_pretrained(out_dir)


def stir_traits(net) -> None:
    """Redraw every trait table of ``net`` from N(0.3, 0.3^2) (global RNG): conditional batch
    norm starts with the same gain and bias for every value, so an untrained network would
    ignore its labels and tests of "each trait changes the output" could not fail for the right reason."""
    import torch

    from ganforge.models.layers import TraitEmbedding

    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, TraitEmbedding):
                m.weight.normal_(0.3, 0.3)
