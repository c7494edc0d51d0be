"""ganforge: generative adversarial networks that learn from real images and make new ones.

Python API::

    import ganforge
    model = ganforge.load("fashion-cgan")          # bundled name, exported folder or run folder
    images = model.generate(16, classes="sneaker", seed=0)   # uint8 (16, 32, 32, 1)
    model.save_pretrained("my-model")
    picture = ganforge.composite("cutout.png", "beach.jpg", scale=0.5, shadow=True)   # a PIL image
"""

from .errors import GanforgeError
from .pipelines import GeneratorPipeline, ImageToImagePipeline, bundled_models, load
from .version import __version__


def composite(subject, background, **options):
    """``subject`` (an RGBA image: a path, PIL image, uint8 array or Photo) placed on
    ``background`` with Poisson blending, colour transfer and an optional contact shadow; a PIL
    image. ``options``: the fields of ``ganforge.compose.CompositeOptions`` (x, y, scale, blend,
    blend_strength, harmonize, feather, matte, shadow, shadow_opacity, shadow_blur, shadow_dx,
    shadow_dy), the same as ``ganforge composite``'s flags."""
    from .service.compositing import composite_images

    return composite_images(subject, background, **options)


__all__ = ["GanforgeError", "GeneratorPipeline", "ImageToImagePipeline", "__version__", "bundled_models", "composite", "load"]
