"""Photo tools: what upscaling, denoising, restoration and colorization each mean for a model.

A tool (:class:`~.base.EnhanceTool`, registered in ``TOOLS``) owns the knowledge particular to
one kind of photo enhancement, for training and for inference alike:

* the channels of its network (a denoiser also sees a noise-level map, a colorizer sees the
  lightness and predicts the colour);
* how a training pair is made from a clean photo crop (``make_pair``: bicubic downscaling,
  noise, Real-ESRGAN's second-order degradations, dropping the colour);
* how a whole photo of any size goes through the network (``infer``: tiles, a noise level,
  a working resolution).

The ``enhance`` task (``tasks/enhance.py``) trains any tool; the ``enhance`` pipeline
(``pipelines/enhance.py``) applies it to files, with alpha, greyscale and metadata handled once
for all tools. A new tool is one file here, registered with :func:`register_tool`.
"""

from .base import TOOLS, EnhanceTool, InferenceOptions, register_tool
from . import colorize, denoise, restore, upscale  # noqa: E402,F401  (registers the built-in tools)

__all__ = ["TOOLS", "EnhanceTool", "InferenceOptions", "register_tool"]
