"""JPEG compression artefacts, by a real JPEG encoder (Pillow's libjpeg) round trip."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image


def jpeg(x: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """Encode and decode each image of ``x`` (B, C, H, W) in [0, 1] as JPEG at its ``quality``
    (B,) (1..100; 4:2:0 chroma subsampling, the camera default). C is 1 or 3."""
    out = torch.empty_like(x)
    arrays = (x.detach().clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())
    for i, a in enumerate(arrays):
        img = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=int(quality[i]))
        buf.seek(0)
        decoded = np.asarray(Image.open(buf).convert(img.mode), dtype=np.uint8)
        decoded = decoded[:, :, None] if decoded.ndim == 2 else decoded
        out[i] = torch.from_numpy(decoded.copy()).permute(2, 0, 1).to(x).div(255.0)
    return out
