"""lrfr_tf: low- and cross-resolution face recognition in TensorFlow/Keras.

Importing this package does not import TensorFlow, touch GPUs or change any
global TF state; submodules import TensorFlow when they are used.
"""

__version__ = "0.1.0"
