"""Layers: each a ``build`` / ``forward`` / ``backward`` with the gradient written out by hand."""

from .base import Layer, get, registry
from .core import Activation, Dense, Flatten

__all__ = ["Layer", "Dense", "Activation", "Flatten", "get", "registry"]
