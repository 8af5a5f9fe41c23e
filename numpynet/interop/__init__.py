"""Interop with other frameworks: ``keras_bridge`` (TensorFlow/Keras, imported lazily)."""
