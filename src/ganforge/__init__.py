"""ganforge: generative adversarial networks that learn from real images and make new ones.

Python API::

    import ganforge
    model = ganforge.load("fashion-cgan")          # bundled name, exported folder or run folder
    images = model.generate(16, classes="sneaker", seed=0)   # uint8 (16, 32, 32, 1)
    model.save_pretrained("my-model")
"""

__version__ = "0.1.0"

from .errors import GanforgeError  # noqa: E402
from .pipelines import GeneratorPipeline, ImageToImagePipeline, bundled_models, load  # noqa: E402

__all__ = ["GanforgeError", "GeneratorPipeline", "ImageToImagePipeline", "__version__", "bundled_models", "load"]
