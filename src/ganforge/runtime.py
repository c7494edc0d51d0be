"""The machine a model runs on: device choice and the defaults that follow from the hardware.

Used by training and by inference, so both pick the same device and memory format.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

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


PRECISIONS = ("auto", "fp32", "bf16")


def auto_precision(device: torch.device) -> str:
    """bf16 where the hardware runs it natively and fast (AMX CPUs, CUDA with bf16), else fp32."""
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if has_amx() else "fp32"


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> what is fast on ``device``; ``fp32`` and ``bf16`` as they are; else a one-line error."""
    if precision not in PRECISIONS:
        raise GanforgeError(f"precision '{precision}' is not one of {', '.join(PRECISIONS)}")
    return auto_precision(device) if precision == "auto" else precision


class Runner:
    """What inference calls instead of a network: the network behind a runtime.

    ``runner(*inputs)`` takes float tensors in the network's layout (N, C, H, W) and returns the
    output as float32; the runner owns the memory format and precision it runs in, so callers
    never ask a module how to call it. ``receptive_radius`` and ``alignment`` (input pixels) plan
    tiles; ``input_names`` lists what the network takes; ``device`` is where inputs go.
    """

    precision: str = "fp32"
    channels_last: bool = False
    receptive_radius: int = 32
    alignment: int = 1
    input_names: tuple[str, ...] = ("input",)
    device: torch.device = torch.device("cpu")

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class TorchRunner(Runner):
    """A torch network at a precision: ``fp32`` runs ``network`` itself (or a channels-last copy
    where channels-last is faster, ``default_channels_last``); ``bf16`` runs a channels-last copy
    under autocast, so convolutions are bf16 while inputs, residuals and sums stay fp32. The
    network given keeps its layout and fp32 weights (what ``save_pretrained`` writes): a copy is
    made once per runner, never per call."""

    def __init__(self, network: torch.nn.Module, precision: str = "auto", *, channels_last: bool | None = None,
                 input_names: tuple[str, ...] = ("input",)) -> None:
        """``channels_last``: None follows the precision and the machine; False keeps the
        network's own layout (fp32 only: a model kind that never used another)."""
        self.device = next(network.parameters()).device
        self.precision = resolve_precision(precision, self.device)
        if channels_last is None:
            channels_last = self.precision == "bf16" or default_channels_last(self.device)
        self.channels_last = channels_last
        if self.channels_last:
            network = copy.deepcopy(network).to(memory_format=torch.channels_last)
        self.module = network
        self.autocast_dtype = torch.bfloat16 if self.precision == "bf16" else None
        self.receptive_radius = int(getattr(network, "receptive_radius", 32))  # a network's stated geometry
        self.alignment = int(getattr(network, "alignment", 1))
        self.input_names = input_names

    def autocast(self):
        """The autocast context the network runs under (none for fp32)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            inputs = tuple(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for x in inputs)
        with torch.no_grad(), self.autocast():
            return self.module(*inputs).float()


class _PeakTensorBytes(TorchDispatchMode):
    """Counts the bytes of the tensor storages every torch operation makes while active, as they
    live and die, and keeps the peak. A storage counts once however many views share it, and
    leaves when the last Python tensor over it is gone (the storage's own free may come later
    for a view that outlives it; temporary buffers inside a kernel are not seen)."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, list[int]] = {}  # storage address -> [bytes, tensors over it]
        self.current = self.peak = 0

    def _release(self, key: int) -> None:
        entry = self.live.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            self.current -= entry[0]
            del self.live[key]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.device.type != "meta":
                storage = t.untyped_storage()
                key = storage.data_ptr()
                if key not in self.live:
                    self.live[key] = [storage.nbytes(), 0]
                    self.current += storage.nbytes()
                    self.peak = max(self.peak, self.current)
                self.live[key][1] += 1
                weakref.finalize(t, self._release, key)
        return out


def peak_tensor_bytes(fn, *inputs: torch.Tensor) -> int:
    """The peak bytes of the tensors ``fn(*inputs)`` makes (its inputs and weights not included),
    under ``torch.no_grad``: what one call of a network adds to a process's memory, measured on
    a small input and scaled by the caller (convolutions' activations grow with the pixels)."""
    with torch.no_grad(), _PeakTensorBytes() as probe:
        out = fn(*inputs)
        del out
    return probe.peak
