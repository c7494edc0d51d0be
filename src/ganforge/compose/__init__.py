"""Compositing: a cut-out placed on a background with Poisson blending, colour transfer and a contact shadow.

``composite.py`` (the steps and :class:`CompositeOptions`), ``poisson.py`` (the gradient-domain
solve, fast and reference), ``colour.py`` (Reinhard colour transfer in Lab, blurs). The front
ends call ``service.compositing.composite`` (files); ``ganforge.composite`` is :func:`composite_image`.
"""

from .composite import CompositeError, CompositeOptions, composite, composite_image, composite_options, memory

__all__ = ["CompositeError", "CompositeOptions", "composite", "composite_image", "composite_options", "memory"]
