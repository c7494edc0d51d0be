"""The FID Inception network: TensorFlow's 2015-12-05 Inception-v3 graph, ported to PyTorch.

FID, KID and the Inception Score are only comparable between papers when they use the same
network: the frozen TensorFlow graph ``inception-2015-12-05`` that the original FID code
(bioinf-jku/TTUR) and Inception Score code (openai/improved-gan) load. pytorch-fid
(mseitzer/pytorch-fid) ported it to PyTorch as ``pt_inception-2015-12-05-6726825d.pth``;
torch-fidelity loads the same key set. This module rebuilds that network so the published
file loads with strict key and shape matching. It differs from torchvision's Inception-v3 in:

* the average pools inside the Inception blocks skip the zero padding
  (``count_include_pad=False``), as TensorFlow's ``AvgPool`` with ``SAME`` padding does;
* the last block (``Mixed_7c``) max-pools instead of average-pooling in its pool branch
  (pytorch-fid calls this a likely bug of the TF graph; it is what the weights expect);
* the classifier ``fc`` has 1008 outputs (1000 ImageNet classes plus 8 unused ones);
* no auxiliary classifier and no input transform.

Preprocessing follows pytorch-fid's pipeline (``fid_score.py`` + ``InceptionV3``): uint8 ->
float in [0, 1] (``x / 255``, as ``ToTensor``), bilinear resize to 299x299 with
``F.interpolate(..., align_corners=False, antialias=False)``, then ``2x - 1`` into [-1, 1].

torch-fidelity instead reproduces what the original TensorFlow FID code computes, where
resize and scaling are ops inside the graph: TensorFlow 1.x ``resize_bilinear`` on the
[0, 255] values, then ``(x - 128) / 128`` (255 -> 0.9921875, not 1). TF1's resize makes
output pixel ``i`` sample input position ``i * in/out``; PyTorch's ``align_corners=False``
samples ``(i + 0.5) * in/out - 0.5`` (pixel centres aligned). The two sampling grids are
offset by ``(1 - in/out) / 2`` input pixels: 32 -> 299 moves the TF1 picture ~0.45 input
pixels towards the top left. So features, and FIDs, from the two tools differ slightly for
images that are not 299x299; at 299x299 only the scaling differs. We implement
pytorch-fid's choice because its weights file is the one users download for it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ..errors import GanforgeError

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{WEIGHTS_FILE}"
WEIGHTS_ENV = "GANFORGE_INCEPTION_WEIGHTS"

INPUT_SIZE = 299  # the network's native input resolution
FEATURE_DIM = 2048  # pool3 features used by FID and KID
NUM_CLASSES = 1008  # the TF graph's classifier: 1000 ImageNet classes + 8 unused

# Names of what `InceptionV3FID.features` can return (torch-fidelity uses the same names).
POOL3, LOGITS, LOGITS_UNBIASED = "pool3", "logits", "logits_unbiased"
OUTPUTS = (POOL3, LOGITS, LOGITS_UNBIASED)


# --------------------------------------------------------------------------------------
# Building blocks. Attribute names are the state-dict key names of the published file.
# --------------------------------------------------------------------------------------


class ConvBN(nn.Module):
    """Conv (no bias) -> batch norm (eps 1e-3, TensorFlow's) -> ReLU: keys ``conv.*``, ``bn.*``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


def _avg_pool_same(x: torch.Tensor) -> torch.Tensor:
    # TensorFlow's SAME average pool divides by the number of real pixels under the window.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


def _max_pool_same(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)


class InceptionA(nn.Module):
    """35x35 block (Mixed_5b/c/d): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1, concatenated."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = ConvBN(in_channels, 64, 1)
        self.branch5x5_1 = ConvBN(in_channels, 48, 1)
        self.branch5x5_2 = ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, padding=1)
        self.branch_pool = ConvBN(in_channels, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, in, H, W) -> (N, 224 + pool_features, H, W)
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(_avg_pool_same(x))
        return torch.cat([b1, b5, b3, bp], 1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17 (Mixed_6a): 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = ConvBN(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, in, H, W) -> (N, 480 + in, H', W')
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, bd, bp], 1)


class InceptionC(nn.Module):
    """17x17 block (Mixed_6b..e) with factorised 7x7 convs (1x7 and 7x1); output 768 channels."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = ConvBN(in_channels, 192, 1)
        self.branch7x7_1 = ConvBN(in_channels, c7, 1)
        self.branch7x7_2 = ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = ConvBN(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = ConvBN(in_channels, c7, 1)
        self.branch7x7dbl_2 = ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = ConvBN(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = ConvBN(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for conv in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            bd = conv(bd)
        bp = self.branch_pool(_avg_pool_same(x))
        return torch.cat([b1, b7, bd, bp], 1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8 (Mixed_7a): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = ConvBN(in_channels, 192, 1)
        self.branch3x3_2 = ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBN(in_channels, 192, 1)
        self.branch7x7x3_2 = ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = ConvBN(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, in, H, W) -> (N, 512 + in, H', W')
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_1(x)
        for conv in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = conv(b7)
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, b7, bp], 1)


class InceptionE(nn.Module):
    """8x8 block (Mixed_7b/c) with split 1x3 / 3x1 convs; output 2048 channels.

    ``max_pool`` selects the pool branch: average (Mixed_7b) or, as in the TF graph's
    Mixed_7c, max.
    """

    def __init__(self, in_channels: int, *, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = ConvBN(in_channels, 320, 1)
        self.branch3x3_1 = ConvBN(in_channels, 384, 1)
        self.branch3x3_2a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = ConvBN(in_channels, 448, 1)
        self.branch3x3dbl_2 = ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = ConvBN(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        bp = self.branch_pool(_max_pool_same(x) if self.max_pool else _avg_pool_same(x))
        return torch.cat([b1, b3, bd, bp], 1)


# --------------------------------------------------------------------------------------
# Preprocessing and the network
# --------------------------------------------------------------------------------------


def _check_nchw(images: object) -> None:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        got = (
            f"{images.dtype} tensor of shape {tuple(images.shape)}"
            if isinstance(images, torch.Tensor)
            else type(images).__name__
        )
        raise GanforgeError(f"Inception input must be a uint8 tensor (N, C, H, W) with C = 1 or 3, got {got}")
    if images.shape[1] not in (1, 3):
        hint = " (it looks channels-last; tensors must be (N, C, H, W))" if images.shape[-1] in (1, 3) else ""
        raise GanforgeError(f"Inception input must have 1 or 3 channels, got shape {tuple(images.shape)}{hint}")


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, C, H, W), C in {1, 3}, any H, W -> float32 (N, 3, 299, 299) in [-1, 1].

    pytorch-fid's steps, in its order: grey images repeated to three channels (PIL's
    ``convert("RGB")`` there); ``x / 255``; bilinear resize to 299x299 with
    ``align_corners=False`` (skipped when the input already is 299x299, where it is the
    identity); ``2x - 1``. Works on the device the images are on. The resize's weights do
    not always sum to exactly 1 in float32, so a flat 255 image may come out as 1 - 1e-7.
    """
    _check_nchw(images)
    if images.shape[1] == 1:
        # Before the resize, as in pytorch-fid: PyTorch's 1- and 3-channel resize kernels
        # round differently, so repeating afterwards would not give the same numbers.
        images = images.repeat(1, 3, 1, 1)
    x = images.float() / 255
    if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    return 2 * x - 1


class InceptionV3FID(nn.Module):
    """The FID Inception-v3: uint8 images -> 2048-d pool3 features (or 1008-way logits).

    Built frozen (eval mode, ``requires_grad=False``) because it is only ever a fixed feature
    extractor; batch norm then uses its running statistics, so features do not depend on
    the batch. A fresh instance has random weights (Kaiming-normal convs, so activations
    keep their scale through the 94 conv layers); use :func:`load_inception` for the real ones.
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = ConvBN(3, 32, 3, stride=2)  # 299 -> 149
        self.Conv2d_2a_3x3 = ConvBN(32, 32, 3)  # -> 147
        self.Conv2d_2b_3x3 = ConvBN(32, 64, 3, padding=1)  # then maxpool -> 73
        self.Conv2d_3b_1x1 = ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBN(80, 192, 3)  # -> 71, then maxpool -> 35
        self.Mixed_5b = InceptionA(192, pool_features=32)  # -> 256 x 35 x 35
        self.Mixed_5c = InceptionA(256, pool_features=64)  # -> 288
        self.Mixed_5d = InceptionA(288, pool_features=64)  # -> 288
        self.Mixed_6a = InceptionB(288)  # -> 768 x 17 x 17
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)  # -> 1280 x 8 x 8
        self.Mixed_7b = InceptionE(1280, max_pool=False)  # -> 2048 x 8 x 8
        self.Mixed_7c = InceptionE(2048, max_pool=True)
        self.fc = nn.Linear(FEATURE_DIM, NUM_CLASSES)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        self.requires_grad_(False)
        self.eval()

    def pool3(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed float (N, 3, 299, 299) in [-1, 1] -> pool3 features (N, 2048)."""
        # Channels-last activations run the CPU (oneDNN) convolutions ~25% faster; the
        # features move by ~1e-6 relative, float rounding only.
        x = x.contiguous(memory_format=torch.channels_last)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))  # 35 x 35
        x = self.Mixed_6a(x)
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))  # 17 x 17
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))  # 8 x 8
        return F.adaptive_avg_pool2d(x, 1).flatten(1)  # global average pool: TF's pool_3

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W), C in {1, 3} -> float32 pool3 features (N, 2048)."""
        return self.pool3(preprocess(images.to(self.fc.weight.device)))

    def logits(self, images: torch.Tensor, *, bias: bool = True) -> torch.Tensor:
        """uint8 (N, C, H, W) -> 1008-way logits (N, 1008).

        ``bias=False`` drops the classifier bias, as the original Inception Score code
        (openai/improved-gan) does: it multiplies pool3 by the ``softmax/logits/MatMul``
        weights only. torch-fidelity's Inception Score uses these "unbiased" logits too.
        """
        pool = self(images)
        return F.linear(pool, self.fc.weight, self.fc.bias if bias else None)

    def features(
        self,
        images: torch.Tensor | np.ndarray,
        *,
        batch_size: int = 64,
        output: str = POOL3,
    ) -> torch.Tensor:
        """Run many images through the network in batches, without autograd; prints nothing.

        images: uint8, either a torch tensor (N, C, H, W) or a numpy array (N, H, W, C) as
            ``ganforge.images.to_uint8`` and ``generate`` produce; C in {1, 3}, any H, W.
        output: ``"pool3"`` (N, 2048) for FID/KID, ``"logits"`` (N, 1008), or
            ``"logits_unbiased"`` (N, 1008, no classifier bias) for the Inception Score.
        Returns float32 on the CPU. Each batch goes to the model's device on its own.
        """
        if output not in OUTPUTS:
            raise GanforgeError(f"unknown Inception output '{output}'; known: {', '.join(OUTPUTS)}")
        if batch_size < 1:
            raise GanforgeError(f"batch size must be at least 1, got {batch_size}")
        if self.training:
            # Batch statistics would make every feature depend on its batch mates.
            raise RuntimeError("InceptionV3FID must be in eval mode to compute features; call .eval()")
        channels_last = isinstance(images, np.ndarray)
        if channels_last:
            if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
                raise GanforgeError(
                    f"numpy images must be uint8 (N, H, W, C) with C = 1 or 3, got {images.dtype} {images.shape}"
                )
        else:
            _check_nchw(images)
        out = []
        # no_grad rather than inference_mode: callers may modify the returned features in place
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                batch = images[start : start + batch_size]
                if channels_last:
                    # np.array copies: from_numpy would warn about read-only arrays
                    batch = torch.from_numpy(np.array(batch)).permute(0, 3, 1, 2)
                # contiguous: the same numbers whether the caller gave NCHW or NHWC
                pool = self(batch.contiguous())
                if output != POOL3:
                    pool = F.linear(pool, self.fc.weight, self.fc.bias if output == LOGITS else None)
                out.append(pool.float().cpu())
        if not out:
            return torch.zeros(0, FEATURE_DIM if output == POOL3 else NUM_CLASSES)
        return torch.cat(out)


# --------------------------------------------------------------------------------------
# Loading the published weights
# --------------------------------------------------------------------------------------

_HOW_TO_GET = f"download {WEIGHTS_FILE} from {WEIGHTS_URL} and pass it with --weights PATH or set {WEIGHTS_ENV}=PATH"


def weights_path(weights: str | os.PathLike | None) -> Path:
    if weights is not None and str(weights) != "":
        path, source = Path(weights), ""
    elif os.environ.get(WEIGHTS_ENV):
        path, source = Path(os.environ[WEIGHTS_ENV]), f" (from {WEIGHTS_ENV})"
    else:
        raise GanforgeError(f"the FID Inception weights are needed: {_HOW_TO_GET}")
    path = path.expanduser()
    if not path.exists():
        raise GanforgeError(f"Inception weights '{path}'{source} not found: {_HOW_TO_GET}")
    if not path.is_file():
        raise GanforgeError(f"Inception weights '{path}'{source} is not a file: {_HOW_TO_GET}")
    return path


def _read_state(path: Path) -> Mapping[str, object]:
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as err:
            raise GanforgeError(f"Inception weights '{path}' are corrupt or not safetensors ({err})") from None
    try:
        # weights_only: tensors and plain containers only; a pickled object is refused, never run.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a damaged or foreign file
        if "Unsupported global" in str(err):  # torch's wording when the file names a Python object
            raise GanforgeError(
                f"refused to load Inception weights '{path}': it holds Python objects, not only tensors "
                f"(only a plain state dict such as {WEIGHTS_FILE} is accepted)"
            ) from None
        raise GanforgeError(
            f"Inception weights '{path}' are corrupt or not a PyTorch file ({type(err).__name__}); {_HOW_TO_GET}"
        ) from None
    if not isinstance(state, Mapping):
        raise GanforgeError(
            f"Inception weights '{path}' hold a {type(state).__name__}, not a state dict; {_HOW_TO_GET}"
        )
    return state


def _first(names: list[str], n: int = 3) -> str:
    more = f", ... ({len(names)} in all)" if len(names) > n else ""
    return ", ".join(names[:n]) + more


def _check_state(state: Mapping[str, object], model: InceptionV3FID, path: Path) -> dict[str, torch.Tensor]:
    """Strict names and shapes; returns the state with any missing BN counters filled in."""
    expected = model.state_dict()
    # BN's num_batches_tracked counters are only used in training; files written by old
    # PyTorch versions lack them and load_state_dict accepts that, so we do too.
    optional = {k for k in expected if k.endswith("num_batches_tracked")}
    missing = [k for k in expected if k not in state and k not in optional]
    unexpected = [str(k) for k in state if k not in expected]
    if missing or unexpected:
        parts = ([f"missing {_first(missing)}"] if missing else []) + (
            [f"unexpected {_first(unexpected)}"] if unexpected else []
        )
        raise GanforgeError(f"'{path}' is not the FID Inception network ({'; '.join(parts)}); {_HOW_TO_GET}")
    wrong = [
        f"{k} {tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__} (expected {tuple(expected[k].shape)})"
        for k, v in state.items()
        if not isinstance(v, torch.Tensor) or v.shape != expected[k].shape
    ]
    if wrong:
        raise GanforgeError(f"'{path}' is not the FID Inception network (wrong shapes: {_first(wrong)}); {_HOW_TO_GET}")
    full = dict(state)  # type: ignore[arg-type]
    for k in optional - full.keys():
        full[k] = expected[k]
    return full


def load_inception(weights: str | os.PathLike | None = None, *, device: str | torch.device = "cpu") -> InceptionV3FID:
    """Build the FID Inception network with the published weights, frozen, on ``device``.

    weights: path to ``pt_inception-2015-12-05-6726825d.pth`` (read with ``weights_only=True``,
        so a file with pickled code is refused, never run) or a ``.safetensors``
        file with the same keys; when None, the ``GANFORGE_INCEPTION_WEIGHTS`` environment
        variable. Nothing is downloaded: a missing file is a GanforgeError saying where to
        get it.
    """
    path = weights_path(weights)
    state = _read_state(path)
    model = InceptionV3FID()
    model.load_state_dict(_check_state(state, model, path), strict=True)
    return model.to(device)
