"""CPU speed: what channels_last, bf16, torch.compile, fused Adam and threads buy on this CPU.

One fashion-dcgan training step (configs/fashion-dcgan.yaml at 32 px, batch from the
preset), written as a plain loop, runs under each variant below. Every variant owns its
own networks and optimizers (same seed) and they run in alternating chunks, the order
rotating each round, so machine noise hits all alike; each figure is the median of its
chunks, and the ratio is against the fp32 NCHW reference.

    fp32 nchw              reference: fp32, NCHW, torch's default Adam (a for-loop on CPU), --threads
    fp32 channels_last     networks and inputs in channels_last
    bf16 nchw              torch.autocast("cpu", bfloat16)
    bf16 channels_last     both
    compile fp32           torch.compile (default mode) of G and D; compile time reported apart
    adam foreach / fused   Adam(foreach=True) / Adam(fused=True)
    channels_last+fused    fp32 channels_last with Adam(fused=True): do the two gains add up?
    threads=1 / 2          torch.set_num_threads for that variant's chunks (counts other than --threads)

Then two micro-benchmarks behind those choices: a 2048x2048 matmul in fp32 and bf16
(GFLOP/s), and a 3x3 convolution (batch 128, 64 -> 128 channels, 16x16) forward in the four
dtype / memory-format combinations. Whether bf16 pays depends on the CPU: with AMX
(``amx_bf16``) or ``avx512_bf16`` it runs on native bf16 units, without them oneDNN
converts to fp32 and it is usually slower, so the CPU's flags are printed first.

    python bench/cpu_speed.py [--chunks 7] [--steps 4] [--threads N] [--no-compile]

The compile variant's first steps generate C++ and build it: 1.5 to 3 minutes on two busy
cores, about 10 s once inductor's cache (/tmp/torchinductor_$USER, one entry per thread
count) holds the kernels, so the first run on a machine, or with a new --threads, takes
longer than the others; --no-compile leaves it out. On a shared
machine more threads than free cores can be far slower than one (OpenMP threads wait for
each other at every op), which is what the threads variant shows.

The last line is ``best: <variant> <ratio>``. The step is the algorithm of
bench/train_throughput.py's plain loop (D frozen during the G step, one foreach EMA call);
it is written out here rather than imported so that this script does not depend on
``ganforge.training``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ganforge.tasks import load_config  # noqa: E402
from ganforge.models import build_discriminator, build_generator  # noqa: E402

REFERENCE = "fp32 nchw"


@dataclass(frozen=True)
class Variant:
    name: str
    channels_last: bool = False
    bf16: bool = False  # autocast to bfloat16
    compile: bool = False  # torch.compile of G and D
    adam: str = "default"  # default | foreach | fused
    threads: int | None = None  # None: torch's default


def variants(compile_too: bool, threads: int) -> list[Variant]:
    out = [
        Variant(REFERENCE),
        Variant("fp32 channels_last", channels_last=True),
        Variant("bf16 nchw", bf16=True),
        Variant("bf16 channels_last", bf16=True, channels_last=True),
        Variant("adam foreach", adam="foreach"),
        Variant("adam fused", adam="fused"),
        Variant("channels_last+fused", channels_last=True, adam="fused"),
    ]
    out += [Variant(f"threads={n}", threads=n) for n in (1, 2) if n != threads]
    if compile_too:
        out.append(Variant("compile fp32", compile=True))
    return out


class Run:
    """One variant's networks, optimizers and training step."""

    def __init__(self, cfg, data: torch.Tensor, v: Variant) -> None:
        t = cfg.train
        torch.manual_seed(t.seed)
        self.v, self.data, self.batch, self.latent = v, data, t.batch_size, cfg.model.latent_dim
        G, D = build_generator(cfg.model), build_discriminator(cfg.model)
        if v.channels_last:
            G.to(memory_format=torch.channels_last)
            D.to(memory_format=torch.channels_last)
        self.G_ema = copy.deepcopy(G).eval().requires_grad_(False)
        adam = {} if v.adam == "default" else {v.adam: True}
        self.opt_g = torch.optim.Adam(G.parameters(), lr=t.g_lr, betas=t.betas, **adam)
        self.opt_d = torch.optim.Adam(D.parameters(), lr=t.d_lr, betas=t.betas, **adam)
        self.D_params = list(D.parameters())
        self.ema_params, self.g_params = list(self.G_ema.parameters()), list(G.parameters())
        self.ema_buffers, self.g_buffers = list(self.G_ema.buffers()), list(G.buffers())
        # The compiled wrappers share the eager modules' parameters, so the optimizers and
        # the EMA above work on them unchanged.
        self.G, self.D = (torch.compile(G), torch.compile(D)) if v.compile else (G, D)
        self.beta = 0.5 ** (t.batch_size / (t.ema_halflife_kimg * 1000))

    @contextlib.contextmanager
    def threads(self):
        if self.v.threads is None:
            yield
            return
        before = torch.get_num_threads()
        torch.set_num_threads(self.v.threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def autocast(self):
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.v.bf16)

    def reals(self) -> torch.Tensor:
        idx = torch.randint(len(self.data), (self.batch,))
        x = self.data[idx].float() / 127.5 - 1.0
        return x.contiguous(memory_format=torch.channels_last) if self.v.channels_last else x

    def step(self) -> None:
        real = self.reals()
        with torch.no_grad(), self.autocast():
            fake = self.G(torch.randn(self.batch, self.latent))
        with self.autocast():
            d_loss = F.softplus(-self.D(real)[0].float()).mean() + F.softplus(self.D(fake)[0].float()).mean()
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()

        for p in self.D_params:  # D frozen: no weight gradients for it in the G step
            p.requires_grad_(False)
        with self.autocast():
            g_loss = F.softplus(-self.D(self.G(torch.randn(self.batch, self.latent)))[0].float()).mean()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        for p in self.D_params:
            p.requires_grad_(True)

        with torch.no_grad():
            torch._foreach_lerp_(self.ema_params, self.g_params, 1 - self.beta)
            torch._foreach_copy_(self.ema_buffers, self.g_buffers)

    def chunk(self, steps: int) -> float:
        """Images per second over ``steps`` training steps."""
        with self.threads():
            t0 = time.perf_counter()
            for _ in range(steps):
                self.step()
            return steps * self.batch / (time.perf_counter() - t0)


def cpu_flags() -> dict[str, str]:
    """CPU model and the bf16-relevant flags, from /proc/cpuinfo (Linux) and from torch."""
    info = {"model": platform.processor() or platform.machine(), "cpuinfo": "n/a", "torch": "n/a"}
    try:
        first_cpu = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
        fields = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in first_cpu.splitlines())}
        info["model"] = fields.get("model name", info["model"])
        flags = set(fields.get("flags", "").split())
        wanted = ("amx_bf16", "avx512_bf16", "avx512f")
        info["cpuinfo"] = " ".join(f"{f}={'yes' if f in flags else 'no'}" for f in wanted)
    except OSError:
        pass
    try:  # private, but the same detection torch's own kernels dispatch on
        cap = torch._C._cpu._get_cpu_capability()
        info["torch"] = " ".join(f"{f}={'yes' if cap.get(f) else 'no'}" for f in ("amx_bf16", "avx512_bf16"))
    except (AttributeError, RuntimeError):
        pass
    return info


def alternate(fns: dict[str, callable], rounds: int) -> dict[str, float]:
    """Median of each timing function over ``rounds``, the order rotating each round."""
    names, times = list(fns), {name: [] for name in fns}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            times[name].append(fns[name]())
    return {name: statistics.median(t) for name, t in times.items()}


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


@torch.no_grad()
def micro(rounds: int) -> None:
    n = 2048
    a32, b32 = torch.randn(n, n), torch.randn(n, n)
    a16, b16 = a32.bfloat16(), b32.bfloat16()
    flop = 2 * n**3
    torch.mm(a32, b32), torch.mm(a16, b16)  # warm-up: oneDNN / MKL kernel selection
    s = alternate({"fp32": lambda: timed(torch.mm, a32, b32), "bf16": lambda: timed(torch.mm, a16, b16)}, rounds)
    print(f"matmul {n}x{n}: fp32 {flop / s['fp32'] / 1e9:6.0f} GFLOP/s   bf16 {flop / s['bf16'] / 1e9:6.0f} GFLOP/s   "
          f"(bf16 / fp32 {s['fp32'] / s['bf16']:.2f}x)")

    x, w = torch.randn(128, 64, 16, 16), torch.randn(128, 64, 3, 3)
    cases = {}
    for dtype, dname in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        for fmt, fname in ((torch.contiguous_format, "nchw"), (torch.channels_last, "channels_last")):
            xi, wi = x.to(dtype).contiguous(memory_format=fmt), w.to(dtype).contiguous(memory_format=fmt)
            F.conv2d(xi, wi, padding=1)  # warm-up
            cases[f"{dname} {fname}"] = lambda xi=xi, wi=wi: timed(F.conv2d, xi, wi, None, 1, 1)
    s = alternate(cases, rounds)
    ref = s["fp32 nchw"]
    print("conv 3x3, batch 128, 64->128 ch, 16x16 (forward): "
          + "   ".join(f"{k} {v * 1e3:.1f} ms ({ref / v:.2f}x)" for k, v in s.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "fashion-dcgan.yaml"))
    ap.add_argument("--chunks", type=int, default=7, help="timed chunks per variant (after a warm-up)")
    ap.add_argument("--steps", type=int, default=4, help="training steps per chunk")
    ap.add_argument("--micro-rounds", type=int, default=5, help="repetitions of each micro-benchmark case")
    ap.add_argument("--threads", type=int, default=None, help="torch threads for every variant but threads=N "
                    "(default: torch's, the number of cores)")
    ap.add_argument("--no-compile", action="store_true", help="leave out the torch.compile variant")
    args = ap.parse_args()
    if args.chunks < 1 or args.steps < 1 or args.micro_rounds < 1 or (args.threads or 1) < 1:
        ap.error("--chunks, --steps, --micro-rounds and --threads must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)

    cpu = cpu_flags()
    print(f"cpu: {cpu['model']}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
          f"capability {torch.backends.cpu.get_cpu_capability()}")
    print(f"bf16 hardware: /proc/cpuinfo {cpu['cpuinfo']}; torch sees {cpu['torch']}", flush=True)

    cfg = load_config(args.config)
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"output_shape": (1, 32, 32)})})
    data = torch.randint(0, 256, (4096, 1, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))

    runs: dict[str, Run] = {}
    compile_note = "not run (--no-compile)"
    for v in variants(not args.no_compile, torch.get_num_threads()):
        run = Run(cfg, data, v)
        try:
            # Warm-up: allocator, oneDNN kernel choice and, for compile, tracing and code
            # generation of every graph a step touches (G with and without grad, D with and
            # without weight gradients).
            warm = timed(run.chunk, 2)
        except Exception as err:  # noqa: BLE001  (a compiler missing or failing is reported, not fatal)
            if not v.compile:
                raise
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            compile_note = f"failed: {type(err).__name__}: {first[:200]}"
            print(f"torch.compile {compile_note}", flush=True)
            continue
        if v.compile:
            compile_note = f"{warm:.1f} s for the first 2 steps (tracing and code generation)"
        runs[v.name] = run

    batch = cfg.train.batch_size
    rates: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for i in range(args.chunks):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            rates[name].append(runs[name].chunk(args.steps))
        print(f"chunk {i + 1}/{args.chunks}: " + "  ".join(f"{n} {rates[n][-1]:.0f}" for n in names), flush=True)

    medians = {name: statistics.median(r) for name, r in rates.items()}
    ref = medians[REFERENCE]
    print(f"config: {Path(args.config).name}, batch {batch}, {args.steps} steps x {args.chunks} chunks per variant")
    print(f"{'variant':<20} {'img/s':>8} {'ratio':>6}   (min..max img/s)")
    for name, m in medians.items():
        print(f"{name:<20} {m:8.1f} {m / ref:6.2f}   ({min(rates[name]):.0f}..{max(rates[name]):.0f})")
    print(f"torch.compile: {compile_note}", flush=True)

    micro(args.micro_rounds)
    best = max(medians, key=medians.get)
    print(f"best: {best.replace(' ', '_')} {medians[best] / ref:.3f}")


if __name__ == "__main__":
    main()
