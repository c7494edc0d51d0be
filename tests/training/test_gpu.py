"""CUDA correctness: the same networks, batches and optimizer steps give the same loss curve on
the GPU as on the CPU (within float tolerance), and a short bf16 + channels_last run of the
Trainer stays finite. Skipped without CUDA."""

from __future__ import annotations

import copy

import pytest
import torch

from ganforge.losses import LOSSES, r1_penalty
from ganforge.models import MODELS

from .conftest import tiny_config

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

STEPS = 6


def _loss_curve(G, D, device: str, batches) -> list[tuple[float, float]]:
    """Plain alternating updates on fixed batches; returns (loss_d, loss_g) per step."""
    G, D = copy.deepcopy(G).to(device), copy.deepcopy(D).to(device)
    G.train()
    loss = LOSSES.get("nonsaturating")
    g_opt = torch.optim.Adam(G.parameters(), lr=2e-3, betas=(0.0, 0.99))
    d_opt = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.0, 0.99))
    curve = []
    for i, (real, y, z1, z2) in enumerate(batches):
        real, y, z1, z2 = (t.to(device) for t in (real, y, z1, z2))
        # Noise inputs and style mixing draw from the global RNG: seed it identically per step.
        torch.manual_seed(i)
        with torch.no_grad():
            fake = G(z1, y, noise_mode="none")
        ld = loss.d_loss(D(real, y)[0], D(fake, y)[0])
        if i % 2 == 0:
            ld = ld + 0.05 * r1_penalty(lambda x: D(x, y)[0], real)
        d_opt.zero_grad()
        ld.backward()
        d_opt.step()
        lg = loss.g_loss(D(G(z2, y, noise_mode="none"), y)[0])
        g_opt.zero_grad()
        lg.backward()
        g_opt.step()
        curve.append((float(ld), float(lg)))
    return curve


@pytest.fixture
def full_precision_cuda():
    """TF32 off for the test, and the process's previous setting restored afterwards."""
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_stylegan_loss_curve_matches_cpu(full_precision_cuda):
    family = MODELS.get("stylegan")
    cfg = family.config(family="stylegan", output_shape=(1, 32, 32), conditional=True, num_classes=10, width=8,
                        max_channels=32, w_dim=32, mapping_layers=2, latent_dim=32, mixing_prob=0.0)
    torch.manual_seed(0)
    G, D = family.build_generator(cfg), family.build_discriminator(cfg)
    g = torch.Generator().manual_seed(1)
    batches = [(torch.rand(16, 1, 32, 32, generator=g) * 2 - 1, torch.randint(10, (16,), generator=g),
                torch.randn(16, 32, generator=g), torch.randn(16, 32, generator=g)) for _ in range(STEPS)]
    # TF32 would make the GPU differ by design; compare full-precision arithmetic (the fixture).
    cpu, gpu = _loss_curve(G, D, "cpu", batches), _loss_curve(G, D, "cuda", batches)
    for step, ((d_cpu, g_cpu), (d_gpu, g_gpu)) in enumerate(zip(cpu, gpu)):
        assert d_gpu == pytest.approx(d_cpu, rel=1e-3, abs=1e-4), f"D loss differs at step {step}"
        assert g_gpu == pytest.approx(g_cpu, rel=1e-3, abs=1e-4), f"G loss differs at step {step}"


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_trainer_runs_on_cuda(tmp_path, precision):
    from ganforge.training import Trainer

    cfg = tiny_config({"model": {"family": "stylegan", "conditional": True, "width": 8, "max_channels": 16,
                                 "w_dim": 16, "mapping_layers": 2, "latent_dim": 16},
                       "train.device": "cuda", "train.precision": precision, "train.channels_last": True,
                       "augment.kind": "ada", "loss.pl_weight": 2.0})
    trainer = Trainer(cfg, tmp_path / "run", quiet=True)
    trainer.fit()
    assert trainer.task.G.const.device.type == "cuda"
    assert all(torch.isfinite(p).all() for p in trainer.task.G_ema.parameters())
