"""ganforge: generative adversarial networks that learn from real images and make new ones.

Python API::

    import ganforge
    model = ganforge.load("fashion-cgan")          # bundled name, exported folder or run folder
    images = model.generate(16, classes="sneaker", seed=0)   # uint8 (16, 32, 32, 1)
    model.save_pretrained("my-model")
    picture = ganforge.composite("cutout.png", "beach.jpg", scale=0.5, shadow=True)   # a PIL image
    doc = ganforge.audit("train.csv", "synth.csv", holdout="test.csv", target="label")   # audit.json's figures
"""

from .compose import composite_image as composite
from .errors import GanforgeError
from .metrics.tables import audit
from .pipelines import GeneratorPipeline, ImageToImagePipeline, bundled_models, load
from .version import __version__

__all__ = ["GanforgeError", "GeneratorPipeline", "ImageToImagePipeline", "__version__", "audit", "bundled_models", "composite",
           "load"]
