"""ONNX: a pipeline's network as an ONNX file, checked against torch, and run through onnxruntime.

:func:`export_onnx` writes the network of any image pipeline (photo tools, image-to-image,
noise -> image generators) with dynamic batch (and, for image inputs, height and width),
opset :data:`OPSET`, and what the file means in its ``metadata_props`` (ganforge model name,
pipeline kind, tool, scale, value range, the network's receptive radius and alignment). Before
the file is renamed into place, onnxruntime runs it on two input sizes against torch; a max
absolute difference above :data:`PARITY_TOL` on the [-1, 1] outputs fails the export.

:class:`OnnxNetwork` is the file as a module with the torch network's call signature, so a
pipeline runs it inside the same code as the torch network (``enhance.base.tiled``: tiles,
overlap, alpha, formats, the denoiser's noise-level map, colorize's working resolution).

What each kind exports (its inputs, example sizes, metadata) is the pipeline's own
``onnx_spec()``; this module only traces, checks, writes and runs.

Exporter. torch 2.13's ``torch.onnx.export`` defaults to the dynamo exporter, which needs the
onnxscript package (and onnx-ir); the TorchScript exporter (``dynamo=False``) needs only torch.
Both gave the same parity on photo-upscale-x4 and photo-colorize (6e-7 and 1e-7 at 48 x 64 and
78 x 54), but dynamo took 12-15 s per model against the TorchScript exporter's 1-4 s, which
``apply --runtime onnx`` pays on first use and the tests pay per model. So: TorchScript, with
Python branches on sizes made export-safe where they matter (``models.layers.pad_to_multiple``)
and the parity check on a second size to catch any shape fixed at trace time. It is deprecated;
if a later torch drops it, ``_trace`` switches to ``dynamo=True`` with ``dynamic_shapes``.
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..version import __version__
from ..errors import GanforgeError
from ..fileio import atomic_write
from ..runtime import Runner

OPSET = 17
PARITY_TOL = 1e-3  # max |onnxruntime - torch| on outputs in [-1, 1]; fp32 kernels differ by ~1e-6
# (H, W) of the two image probes: even (the unshuffle grid), one portrait, and the second not a
# multiple of 4, so a U-Net's padding to its 2**depth grid is part of what is checked.
PARITY_SIZES = ((48, 64), (78, 54))
PARITY_BATCHES = (2, 5)  # batch sizes of the two generator probes
SUFFIX = ".onnx"


@dataclass(frozen=True)
class OnnxSpec:
    """What one pipeline kind exports.

    module        traced network (a wrapper where keyword arguments must be fixed); eval mode
    input_names   ONNX input names, in ``module.forward``'s order
    dynamic_axes  ``torch.onnx.export``'s: input/output name -> {axis: symbolic name}
    examples      probe index (0 or 1) -> inputs; the two probes differ in every dynamic axis
    probe_names   how the report names each probe ("48x64", "batch 5")
    metadata      strings for ``metadata_props`` beyond the common ones
    """

    module: nn.Module
    input_names: tuple[str, ...]
    dynamic_axes: dict[str, dict[int, str]]
    examples: Callable[[int], tuple[torch.Tensor, ...]]
    probe_names: tuple[str, str]
    metadata: dict[str, str] = field(default_factory=dict)
    output_names: tuple[str, ...] = ("output",)


def image_spec(network: nn.Module, *, in_channels: int, metadata: dict[str, str]) -> OnnxSpec:
    """The spec of a fully convolutional network on (N, in_channels, H, W) in [-1, 1]."""
    radius, align = int(getattr(network, "receptive_radius", 32)), int(getattr(network, "alignment", 1))

    def examples(i: int) -> tuple[torch.Tensor, ...]:
        h, w = PARITY_SIZES[i]
        gen = torch.Generator().manual_seed(i)
        return (torch.rand(1 + i, in_channels, h, w, generator=gen).mul(2).sub(1),)

    axes = {0: "batch", 2: "height", 3: "width"}
    return OnnxSpec(network, ("input",), {"input": axes, "output": {0: "batch", 2: "out_height", 3: "out_width"}},
                    examples, tuple(f"{h}x{w}" for h, w in PARITY_SIZES),  # type: ignore[arg-type]
                    {"receptive_radius": str(radius), "alignment": str(align), **metadata})


def _ort():
    try:
        import onnxruntime
    except ImportError:
        raise GanforgeError("ONNX needs onnx and onnxruntime: pip install 'ganforge[onnx]'") from None
    return onnxruntime


def session(path: str | Path, threads: int | None = None):
    """An onnxruntime CPU session of ``path``, on ``threads`` intra-op threads (default: torch's)."""
    ort = _ort()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or torch.get_num_threads()
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # warnings about unused initialisers are noise to a user
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types for unreadable files
        raise GanforgeError(f"'{path}' is not an ONNX file onnxruntime can run: {str(err).splitlines()[0]}") from None


def metadata(path: str | Path) -> dict[str, str]:
    """``metadata_props`` of an ONNX file, as onnxruntime reads them."""
    return dict(session(path, threads=1).get_modelmeta().custom_metadata_map)


class OnnxNetwork(nn.Module):
    """An ONNX file with the call signature of the torch network it was exported from:
    ``forward(*inputs)`` takes float tensors (and int64 labels), returns a float32 tensor on the
    CPU. ``receptive_radius`` and ``alignment`` come from the file's metadata, so tiling plans
    as it would for the torch network. Inputs given as None (an unconditional G's labels) are
    left out, as the export leaves them out."""

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        self.session = session(self.path, threads)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.meta = dict(self.session.get_modelmeta().custom_metadata_map)
        self.receptive_radius = int(self.meta.get("receptive_radius", 32))
        self.alignment = int(self.meta.get("alignment", 1))

    def forward(self, *inputs: torch.Tensor | None) -> torch.Tensor:
        given = [t for t in inputs if t is not None]
        if len(given) != len(self.input_names):
            raise ValueError(f"{self.path.name} takes {len(self.input_names)} inputs "
                             f"({', '.join(self.input_names)}), got {len(given)}")
        feeds = {name: np.ascontiguousarray(t.detach().cpu().numpy()) for name, t in zip(self.input_names, given)}
        return torch.from_numpy(self.session.run(None, feeds)[0])


@dataclass
class OnnxExport:
    path: Path
    opset: int
    inputs: list[str]
    parity: dict[str, float]  # probe name -> max |onnxruntime - torch|
    seconds: float
    metadata: dict[str, str]

    @property
    def max_diff(self) -> float:
        return max(self.parity.values())


def _trace(spec: OnnxSpec, path: str) -> None:
    with warnings.catch_warnings():
        # The TorchScript exporter announces its deprecation and warns about traced shape arithmetic;
        # the parity check on a second size is what tells whether a shape was baked in.
        warnings.simplefilter("ignore")
        torch.onnx.export(spec.module, spec.examples(0), path, dynamo=False, opset_version=OPSET,
                          input_names=list(spec.input_names), output_names=list(spec.output_names),
                          dynamic_axes=spec.dynamic_axes, do_constant_folding=True)


def _write_metadata(path: str, props: dict[str, str]) -> None:
    import onnx

    model = onnx.load(path)
    del model.metadata_props[:]
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, path)


def check_parity(spec: OnnxSpec, path: str | Path, *, tol: float = PARITY_TOL,
                 run: Callable[[Any, dict[str, np.ndarray]], np.ndarray] | None = None) -> dict[str, float]:
    """Max |onnxruntime - torch| on each of the spec's two probes; a one-line GanforgeError
    when a probe's shapes differ or its difference exceeds ``tol``. ``run(session, feeds)``
    replaces the onnxruntime call (tests perturb it)."""
    sess = session(path)
    run = run or (lambda s, feeds: s.run(None, feeds)[0])
    found = {}
    for i, name in enumerate(spec.probe_names):
        inputs = spec.examples(i)
        with torch.no_grad():
            want = spec.module(*inputs).float().numpy()
        got = run(sess, {n: t.numpy() for n, t in zip(spec.input_names, inputs)})
        if got.shape != want.shape:
            raise GanforgeError(f"ONNX parity check failed at {name}: onnxruntime gave shape {tuple(got.shape)}, "
                                f"torch {tuple(want.shape)} (a size was fixed at export); the file was not written")
        found[name] = float(np.abs(got.astype(np.float64) - want).max())
        if not found[name] <= tol:  # also catches NaN
            raise GanforgeError(f"ONNX parity check failed at {name}: max |onnxruntime - torch| = {found[name]:.3g} "
                                f"> {tol:g} on outputs in [-1, 1]; the file was not written")
    return found


def export_onnx(pipe, out: str | Path, *, name: str = "", tol: float = PARITY_TOL,
                run: Callable[[Any, dict[str, np.ndarray]], np.ndarray] | None = None) -> OnnxExport:
    """Write ``pipe``'s network to ``out`` (atomically) after the parity check; see the module
    docstring. ``name``: the model's name for the metadata (default: its source folder's name)."""
    _ort()
    out = Path(out)
    if out.suffix.lower() != SUFFIX:
        raise GanforgeError(f"output '{out}' must end in {SUFFIX}")
    started = time.perf_counter()
    spec = pipe.onnx_spec()
    if spec.module.training:  # the exporter would switch it to eval and back, leaving batch norm in train mode
        raise RuntimeError("OnnxSpec.module must be in eval mode")
    props = {"ganforge_model": name or Path(pipe.source).name or "unnamed", "ganforge_pipeline": pipe.pipeline_kind,
             "ganforge_version": __version__, "opset": str(OPSET), "value_range": "[-1, 1]",
             "inputs": ", ".join(spec.input_names), **spec.metadata}
    result: dict[str, float] = {}

    def write(tmp: str) -> None:
        _trace(spec, tmp)
        _write_metadata(tmp, props)
        result.update(check_parity(spec, tmp, tol=tol, run=run))

    atomic_write(out, write)
    return OnnxExport(out, OPSET, list(spec.input_names), result, time.perf_counter() - started, props)


def fingerprint(pipe) -> str:
    """16 hex digits naming a pipeline's network and the exporter: its kind, its weights and
    buffers, the opset and ganforge's version (a cached export is reused only if all match)."""
    digest = hashlib.sha256(f"{pipe.pipeline_kind}|{OPSET}|{__version__}|{torch.__version__}".encode())
    for key, value in sorted(pipe.network.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    """Where ``apply --runtime onnx`` keeps the exports it makes: ``$GANFORGE_CACHE/onnx``, else
    ``$XDG_CACHE_HOME/ganforge/onnx``, else ``~/.cache/ganforge/onnx`` (bundled models live in
    the installed package, which may be read-only, so never next to the model)."""
    root = os.environ.get("GANFORGE_CACHE")
    if root:
        return Path(root) / "onnx"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ganforge" / "onnx"


def cached_export(pipe, name: str = "") -> Path:
    """The ONNX file of ``pipe`` in :func:`cache_dir`, exported (with the parity check) on first use."""
    stem = (name or Path(pipe.source).name or "model").replace(os.sep, "-")
    path = cache_dir() / f"{stem}-{fingerprint(pipe)}{SUFFIX}"
    if not path.is_file():
        export_onnx(pipe, path, name=name)
    return path


def check_matches(pipe, path: str | Path) -> dict[str, str]:
    """The metadata of an ONNX file given for ``pipe``; a one-line error when it was exported
    from a model of another kind or tool (a file without ganforge metadata is refused too)."""
    meta = metadata(path)
    want = {"ganforge_pipeline": pipe.pipeline_kind, **{k: v for k, v in pipe.onnx_spec().metadata.items()
                                                         if k in ("tool", "scale", "in_channels", "out_channels")}}
    wrong = [f"{k} {meta.get(k, 'missing')} (the model's: {v})" for k, v in want.items() if meta.get(k) != v]
    if wrong:
        raise GanforgeError(f"'{path}' was not exported from this model: {'; '.join(wrong)}; "
                            "make it with ganforge export-onnx MODEL FILE.onnx")
    return meta


class OnnxRunner(Runner):
    """An ONNX file as a :class:`~ganforge.runtime.Runner`: fp32 on the CPU, NCHW arrays in and
    out; tiles plan from the geometry in the file's metadata."""

    precision = "fp32"
    channels_last = False  # onnxruntime takes contiguous NCHW arrays

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        self.network = OnnxNetwork(path, threads=threads)
        self.path = self.network.path
        self.receptive_radius, self.alignment = self.network.receptive_radius, self.network.alignment
        self.input_names = tuple(self.network.input_names)
        self.device = torch.device("cpu")

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.network(*inputs)


def onnx_runner(pipe, path: str | Path | None = None, *, name: str = "") -> OnnxRunner:
    """The runner of ``pipe``'s network through onnxruntime: the ONNX file ``path`` (checked to
    be this model's), or this model's export in :func:`cache_dir` (made on first use). Only the
    network call changes; tiles, options and formats stay the pipeline's."""
    if pipe.device.type != "cpu":
        raise GanforgeError("--runtime onnx runs on the CPU; leave out --device cuda")
    if path is None:
        path = cached_export(pipe, name)
    elif not Path(path).is_file():
        raise GanforgeError(f"ONNX file '{path}' does not exist; make it with ganforge export-onnx MODEL {path}")
    check_matches(pipe, path)
    return OnnxRunner(path)


def use_onnx(pipe, path: str | Path | None = None, *, name: str = "") -> Path:
    """Make an image pipeline run its network through onnxruntime (``pipe.use_runtime("onnx")``);
    returns the ONNX file."""
    if not hasattr(pipe, "use_runtime"):
        raise GanforgeError(f"--runtime onnx runs photo, style and image-to-image models, not {pipe.pipeline_kind} models")
    pipe.use_runtime("onnx", path, name=name)
    return pipe.runner.path
