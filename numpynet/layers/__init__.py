"""Layers: each a ``build`` / ``forward`` / ``backward`` with the gradient written out by hand."""

from .base import Layer, get, registry
from .conv import AveragePooling2D, AvgPool2D, Conv2D, GlobalAveragePooling2D, GlobalAvgPool2D, MaxPool2D, MaxPooling2D
from .core import Activation, Dense, Flatten
from .noise import AlphaDropout, Dropout, GaussianDropout, GaussianNoise
from .normalization import BatchNormalization

__all__ = ["Layer", "Dense", "Activation", "Flatten", "get", "registry",
           "Conv2D", "MaxPool2D", "MaxPooling2D", "AveragePooling2D", "AvgPool2D", "GlobalAveragePooling2D",
           "GlobalAvgPool2D", "BatchNormalization", "Dropout", "AlphaDropout", "GaussianNoise", "GaussianDropout"]
