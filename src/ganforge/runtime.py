"""The machine a model runs on: device choice and the defaults that follow from the hardware.

Used by training and by inference, so both pick the same device and memory format.
"""

from __future__ import annotations

import functools

import torch

from .errors import GanforgeError


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cuda`` without CUDA is a one-line error."""
    if name == "cuda" and not torch.cuda.is_available():
        raise GanforgeError("device cuda was asked for but no CUDA device is available; use cpu or auto")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


@functools.lru_cache(maxsize=None)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (from /proc/cpuinfo; empty where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def has_amx() -> bool:
    """True on CPUs with AMX bf16 tile units, where bf16 convolutions in channels-last run many
    times faster than fp32 (measured in docs/benchmarks.md)."""
    return "amx_bf16" in cpu_flags()


def default_channels_last(device: torch.device) -> bool:
    """Channels-last memory format for convnets by default: on CUDA, and on CPUs with AVX-512 or
    AMX, where oneDNN's channels-last convolutions were measured faster in fp32
    (``bench/cpu_speed.py``: a fashion-dcgan step 1.21x on an AVX-512 Xeon without AMX; a 3x3
    convolution 47 -> 25 ms on an AMX Xeon). CPUs with neither (AVX2 only) keep NCHW: unmeasured.
    ``train.channels_last`` overrides it either way.
    """
    if device.type == "cuda":
        return True
    return device.type == "cpu" and bool(cpu_flags() & {"avx512f", "amx_bf16"})
