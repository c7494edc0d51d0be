"""Per-image seeds, batch-norm recalibration and batched generation.

Image ``i`` of seed ``s`` is drawn from its own random stream, derived from ``(s, i)``, so
it is the same whatever the batch size or the number of images asked for.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

# Generators run on chunks of exactly this many latents (the last one padded). CPU and GPU
# kernels pick their blocking by batch shape, so the float result for one image can change
# in its last bits with the batch size; with one fixed shape, image i of a seed is bit for
# bit the same whatever the number of images asked for.
GENERATION_CHUNK = 32

# A chunk's input: a tensor (rows start..stop are taken), a function (start, stop) -> rows
# (to draw latents chunk by chunk, never all at once), or None (passed on as None).
ChunkInput = torch.Tensor | Callable[[int, int], torch.Tensor] | None


def image_seed(seed: int, index: int, stream: int = 0) -> int:
    """A 63-bit seed for image ``index`` of ``seed`` (SeedSequence mixes both fully); another
    ``stream`` gives image ``index`` an independent seed for something else (its traits)."""
    entropy = [seed & 0xFFFFFFFFFFFFFFFF, index] + ([stream] if stream else [])
    state = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 ^ int(state[1])


def latents(seed: int, n: int, latent_dim: int, start: int = 0) -> torch.Tensor:
    """z for images ``start .. start+n-1`` of ``seed``: float32 (n, latent_dim)."""
    out = torch.empty(n, latent_dim)
    g = torch.Generator()
    for j in range(n):
        g.manual_seed(image_seed(seed, start + j))
        out[j] = torch.randn(latent_dim, generator=g)
    return out


# Trait draws of image i come from their own stream, never from its latent's: choosing a trait
# leaves z (and every other trait drawn at random) as it was.
TRAIT_STREAM = 0x7472616974  # "trait"


def random_traits(seed: int, n: int, sizes: Sequence[int], start: int = 0) -> torch.Tensor:
    """Trait values for images ``start .. start+n-1`` of ``seed``: int64 ``(n, T)``, value t of
    image i uniform over ``sizes[t]``, from image i's own trait stream (so image i's draws are the
    same whatever n, and independent of its latent :func:`latents`)."""
    out = torch.zeros(n, len(sizes), dtype=torch.long)
    g = torch.Generator()
    for j in range(n if sizes else 0):
        g.manual_seed(image_seed(seed, start + j, TRAIT_STREAM))
        out[j] = torch.stack([torch.randint(int(k), (), generator=g) for k in sizes])
    return out


def truncate(z: torch.Tensor, psi: float) -> torch.Tensor:
    """Truncation trick for z ~ N(0, I): pull each latent towards the mean 0 by ``psi``.

    Brock et al. 2019 resample values beyond a threshold; scaling is the form that also
    works for StyleGAN's w (Karras et al. 2019). psi=1 leaves z unchanged.
    """
    return z if psi == 1.0 else z * psi


@torch.no_grad()
def run_in_chunks(fn: Callable[..., torch.Tensor], n: int, *inputs: ChunkInput, size: int = GENERATION_CHUNK,
                  pad: bool = True, device: torch.device | str | None = None, to_cpu: bool = True,
                  progress: bool = False) -> torch.Tensor:
    """``fn(*chunk_inputs)`` over rows ``0 .. n-1`` in chunks of ``size`` rows; the outputs concatenated.

    The one chunked-generation loop (``GeneratorPipeline.generate_tensor``, the latent tools,
    the training samples). ``pad``: every chunk has exactly ``size`` rows, the last one
    zero-padded and its output cut back (the shape that makes image i bit for bit the same
    whatever n); otherwise the last chunk is shorter. Inputs go to ``device``; with ``to_cpu``
    each chunk's output comes back as float32 on the CPU (memory stays one chunk on the device).
    ``progress`` shows a bar. ``n`` must be > 0.
    """
    outs = []
    for start in tqdm(range(0, n, size), desc="generating", unit="chunk", leave=False, disable=not progress):
        stop = min(start + size, n)
        args = []
        for inp in inputs:
            if inp is None:
                args.append(None)
                continue
            rows = inp(start, stop) if callable(inp) else inp[start:stop]
            if pad:  # a fresh (size, ...) tensor every time: the same memory layout for every chunk
                full = rows.new_zeros((size, *rows.shape[1:]))
                full[: len(rows)] = rows
                rows = full
            args.append(rows.to(device) if device is not None else rows)
        out = fn(*args)[: stop - start]
        outs.append(out.float().cpu() if to_cpu else out)
    return torch.cat(outs)


def class_labels(n: int, num_classes: int) -> torch.Tensor:
    """``n`` labels spread evenly over the classes in blocks: 0,0,..,1,1,.. (int64 (n,))."""
    return (torch.arange(n) * num_classes // n).long() if n else torch.zeros(0, dtype=torch.long)


@torch.no_grad()
def recalibrate_batchnorm(
    generator: nn.Module, *, latent_dim: int, num_classes: int | Sequence[int], batches: int = 16, batch_size: int = 64,
    seed: int = 0,
) -> None:
    """Re-estimate batch-norm statistics of ``generator`` for its current weights.

    An EMA generator's averaged weights do not match the running statistics collected by
    the training generator; sampling in eval mode with stale statistics washes images out.
    This runs ``batches`` forward passes in train mode with an exact cumulative average
    (``momentum=None``), then leaves the module in eval mode. Deterministic: it uses its own
    random stream and never touches the global one. ``num_classes``: K (0: unconditional) or
    the values per trait (``FamilyConfig.label_sizes``); labels are drawn uniformly.
    """
    sizes = ((num_classes,) if num_classes else ()) if isinstance(num_classes, int) else tuple(num_classes)
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        generator.eval()
        return
    saved = [(m, m.momentum) for m in norms]
    device = next(generator.parameters()).device
    g = torch.Generator().manual_seed(seed)
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    generator.train()
    try:
        for _ in range(batches):
            z = torch.randn(batch_size, latent_dim, generator=g).to(device)
            if len(sizes) <= 1:  # one trait: the draws made before traits existed
                y = torch.randint(sizes[0], (batch_size,), generator=g).to(device) if sizes else None
            else:
                y = torch.stack([torch.randint(k, (batch_size,), generator=g) for k in sizes], dim=1).to(device)
            generator(z, y)
    finally:
        for m, momentum in saved:
            m.momentum = momentum
        generator.eval()
