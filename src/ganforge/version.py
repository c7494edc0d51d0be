"""ganforge's version, in a module of its own so that code below the package's ``__init__``
(which imports the pipelines) can name it without importing the package it is part of."""

__version__ = "0.1.0"
