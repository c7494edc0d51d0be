"""Training throughput: ganforge's Trainer against a plain hand-written PyTorch loop.

Both train the fashion-dcgan architecture (configs/fashion-dcgan.yaml) on Fashion-MNIST
with the very same networks, batch size, optimizers, loss and EMA, in one process. They
run in alternating chunks so machine noise hits both alike; each side's figure is the
median of its chunks. The last line is ``ratio: X`` = ganforge img/s / plain img/s.

    python bench/train_throughput.py [--chunks 7] [--steps 40] [--config configs/fashion-dcgan.yaml]

The plain loop is what a careful engineer writes by hand from the PyTorch docs: uint8 data
in memory, a fresh permutation each epoch, one D step and one G step per iteration with fresh
noise for each (the algorithm the Trainer runs), the non-saturating loss, and an EMA of G.
It does no work the Trainer skips: D is frozen (``requires_grad_(False)``) during the G step
so no D weight gradients are computed, gradients are dropped with ``set_to_none=True``, and
the EMA is one ``torch._foreach_lerp_`` over G's parameter list (buffers copied), not a
Python loop of one kernel per parameter.
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ganforge.tasks import load_config  # noqa: E402
from ganforge.models import build_discriminator, build_generator  # noqa: E402
from ganforge.training import Trainer  # noqa: E402


class PlainLoop:
    """A hand-written GAN loop over the same networks and settings as the Trainer."""

    def __init__(self, cfg, dataset) -> None:
        t = cfg.train
        torch.manual_seed(t.seed)
        self.G, self.D = build_generator(cfg.model), build_discriminator(cfg.model)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=t.g_lr, betas=t.betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=t.d_lr, betas=t.betas)
        self.data, self.batch, self.latent = dataset.data, t.batch_size, cfg.model.latent_dim
        self.beta = 0.5 ** (t.batch_size / (t.ema_halflife_kimg * 1000))
        self.perm, self.pos = torch.randperm(len(self.data)), 0
        # Listed once: the EMA update is then one fused call per step, whatever the depth of G.
        self.ema_params, self.g_params = list(self.G_ema.parameters()), list(self.G.parameters())
        self.ema_buffers, self.g_buffers = list(self.G_ema.buffers()), list(self.G.buffers())

    def batch_of_reals(self) -> torch.Tensor:
        if self.pos + self.batch > len(self.perm):
            self.perm, self.pos = torch.randperm(len(self.data)), 0
        idx = self.perm[self.pos : self.pos + self.batch]
        self.pos += self.batch
        return self.data[idx].float() / 127.5 - 1.0

    def step(self) -> None:
        real = self.batch_of_reals()
        with torch.no_grad():
            fake = self.G(torch.randn(self.batch, self.latent))
        d_loss = F.softplus(-self.D(real)[0]).mean() + F.softplus(self.D(fake)[0]).mean()
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()

        # Gradients flow through D to G's output, but D's own weight gradients would only be
        # thrown away by the next D step's zero_grad: freeze D so autograd skips them.
        self.D.requires_grad_(False)
        g_loss = F.softplus(-self.D(self.G(torch.randn(self.batch, self.latent)))[0]).mean()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)

        with torch.no_grad():
            torch._foreach_lerp_(self.ema_params, self.g_params, 1 - self.beta)
            torch._foreach_copy_(self.ema_buffers, self.g_buffers)  # batch-norm statistics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "fashion-dcgan.yaml"))
    ap.add_argument("--chunks", type=int, default=7, help="timed chunks per side (after one warm-up chunk)")
    ap.add_argument("--steps", type=int, default=40, help="training steps per chunk")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override for the Trainer side, e.g. train.channels_last=false (repeatable)")
    args = ap.parse_args()

    # A run long enough never to reach its end, sampling and snapshots out of the way; the
    # Trainer keeps its per-step finiteness check and its log.jsonl lines.
    # The Trainer runs with the defaults a user gets on this machine (memory format from
    # ganforge.runtime), in fp32 like the plain loop; --set changes any config key.
    cfg = load_config(args.config, ["train.kimg=100000", "train.sample_every_kimg=1e9", "train.snapshot_every_kimg=1e9",
                                    "train.device=cpu", "train.precision=fp32", *args.set])
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, Path(tmp) / "run", quiet=True)
        plain = PlainLoop(trainer.cfg, trainer.dataset)  # the resolved config: the same networks
        batch = cfg.train.batch_size

        def time_trainer() -> float:
            t0 = time.perf_counter()
            trainer.run_steps(trainer.images + args.steps * batch)
            return args.steps * batch / (time.perf_counter() - t0)

        def time_plain() -> float:
            t0 = time.perf_counter()
            for _ in range(args.steps):
                plain.step()
            return args.steps * batch / (time.perf_counter() - t0)

        time_trainer(), time_plain()  # warm-up: allocator, oneDNN kernels
        ours, theirs = [], []
        for i in range(args.chunks):
            # Alternate which side goes first so a slow-down in either half hits both.
            pair = (time_trainer, time_plain) if i % 2 == 0 else (time_plain, time_trainer)
            results = {f: f() for f in pair}
            ours.append(results[time_trainer])
            theirs.append(results[time_plain])
            print(f"chunk {i + 1}/{args.chunks}: ganforge {ours[-1]:7.1f} img/s   plain {theirs[-1]:7.1f} img/s", flush=True)
        trainer.logger.close()

        # The loader alone, to show it is not the bottleneck: batches per second it can serve.
        t0, n_batches = time.perf_counter(), 2000
        for _ in range(n_batches):
            trainer.loader.next()
        loader_rate = n_batches * batch / (time.perf_counter() - t0)

    m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
          f"{platform.python_implementation()} {platform.python_version()}")
    print(f"config: {Path(args.config).name}, batch {batch}, {args.steps} steps x {args.chunks} chunks per side; "
          f"Trainer: channels_last={trainer.cfg.train.channels_last}, precision={trainer.cfg.train.precision}"
          f"{', ' + ' '.join(args.set) if args.set else ''}")
    print(f"loader alone: {loader_rate:,.0f} img/s ({loader_rate / m_ours:.0f}x the training rate)")
    print(f"ganforge: {m_ours:.1f} img/s (median)")
    print(f"plain:    {m_theirs:.1f} img/s (median)")
    print(f"ratio: {m_ours / m_theirs:.3f}")


if __name__ == "__main__":
    main()
