"""Layers: each a ``build`` / ``forward`` / ``backward`` with the gradient written out by hand."""

from .activation_layers import ReLU
from .base import Layer, get, register, registry
from .conv import Conv2D
from .core import Activation, Dense, Flatten
from .depthwise import DepthwiseConv2D, SeparableConv2D
from .input_layer import Input, InputLayer
from .merge import Add, Average, Concatenate, Multiply, Subtract
from .noise import AlphaDropout, Dropout, GaussianDropout, GaussianNoise, StochasticLayer
from .normalization import BatchNormalization
from .pooling import AveragePooling2D, AvgPool2D, GlobalAveragePooling2D, GlobalAvgPool2D, MaxPool2D, MaxPooling2D
from .reshaping import Reshape, ZeroPadding2D

__all__ = ["Layer", "Dense", "Activation", "Flatten", "get", "register", "registry",
           "Conv2D", "MaxPool2D", "MaxPooling2D", "AveragePooling2D", "AvgPool2D", "GlobalAveragePooling2D",
           "GlobalAvgPool2D", "BatchNormalization", "Dropout", "AlphaDropout", "GaussianNoise", "GaussianDropout",
           "StochasticLayer",
           "DepthwiseConv2D", "SeparableConv2D", "ZeroPadding2D", "ReLU", "Reshape",
           "Add", "Subtract", "Multiply", "Average", "Concatenate", "Input", "InputLayer"]
