"""Building blocks shared by the face-recognition backbones.

- ``Backbone``: base class of every embedding network (preprocessing and
  embedding size in the config, ``call`` / ``call_with_blocks``).
- ``ConvBNAct``: convolution (regular or depthwise) -> optional BatchNorm ->
  optional activation, with TF ("same") or PyTorch/Caffe ("symmetric")
  padding, and ``set_folded_weights`` to load a BN-folded convolution.
- ``feature_grid`` / ``fit_to_grid``: the spatial size a head expects, and
  the size-tied or adaptive way to bring a feature map to it;
  ``pool_or_flatten``: the input of a backbone's FC embedding layer;
  ``zeros_input``: the zeros a model is built on.
- ``stage_layout`` / ``run_stages``: the units per stage of a staged
  backbone, and running its stages while keeping each stage's output.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import keras
import numpy as np

from lrfr_tf.preprocessing import ARCFACE, as_preprocessing

ACTIVATIONS = ("prelu", "relu")


def check_choice(name: str, value, choices: Sequence) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def make_activation(activation: Optional[str], name: Optional[str] = None):
    """PReLU (one slope per channel, initialised at 0.25 as in He et al. 2015) or ReLU."""
    if activation is None:
        return None
    check_choice("activation", activation, ACTIVATIONS)
    if activation == "prelu":
        return keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2], name=name)
    return keras.layers.ReLU(name=name)


def feature_grid(size: Sequence[int], strides: Sequence[int]) -> Tuple[int, int]:
    """Spatial size after stride-s convolutions with 'same' or symmetric k//2 padding: ceil(n / s) each."""
    h, w = (int(s) for s in size)
    for s in strides:
        h, w = math.ceil(h / s), math.ceil(w / s)
    return h, w


def fit_to_grid(x, grid: Tuple[int, int], adaptive: bool, model_name: str):
    """Bring a [B, h, w, C] feature map to the head's grid.

    ``adaptive=False`` (the size-tied head of the original papers) requires
    h, w == grid. ``adaptive=True`` resizes bilinearly to ``grid`` when the
    size differs, so the head's weights (flatten-FC or global depthwise conv)
    apply to any input size and are untouched at the native size.
    """
    h, w = x.shape[1], x.shape[2]
    if h is not None and w is not None and (h, w) == tuple(grid):
        return x
    if not adaptive:
        raise ValueError(
            f"{model_name}: the size-tied head expects a {grid[0]}x{grid[1]} feature map, got {h}x{w}; "
            f"feed inputs of the preprocessing size or use an adaptive/gap head")
    return keras.ops.image.resize(x, grid, interpolation="bilinear", antialias=False)


def pool_or_flatten(x, head: str, grid: Tuple[int, int], model_name: str):
    """[B, h, w, C] -> [B, F] for the FC embedding: global average pooling (``head="gap"``), or the
    map brought to ``grid`` (``fit_to_grid``, adaptive for ``"adaptive_flatten"``) and flattened."""
    if head == "gap":
        return keras.ops.mean(x, axis=(1, 2))
    x = fit_to_grid(x, grid, adaptive=head == "adaptive_flatten", model_name=model_name)
    return keras.ops.reshape(x, (-1, grid[0] * grid[1] * x.shape[-1]))


def stage_layout(units: Sequence[int], channels: Sequence[int]) -> Tuple[List[int], List[int]]:
    """(units per stage, channels per stage) as ints; a ValueError when their lengths differ."""
    if len(units) != len(channels):
        raise ValueError(f"units {list(units)} and channels {list(channels)} must have the same length")
    return [int(u) for u in units], [int(c) for c in channels]


def run_stages(stages: Sequence[Sequence[Any]], x, training=None):
    """Apply each stage's layers in order; returns (output, [output of each stage])."""
    outputs = []
    for stage in stages:
        for layer in stage:
            x = layer(x, training=training)
        outputs.append(x)
    return x, outputs


def zeros_input(input_shape, size: Sequence[int]):
    """Zeros [1, H, W, C] for building a model on ``input_shape`` ([B, H, W, C]; unknown H, W from ``size``)."""
    hw = [s if d is None else d for d, s in zip(input_shape[1:3], size)]
    return keras.ops.zeros([1, *hw, input_shape[-1]], "float32")


def _as_int(value) -> int:
    """A kernel size or stride given as an int or a square (n, n) pair -> n (-1 if not square)."""
    if isinstance(value, (tuple, list)):
        return int(value[0]) if len(set(value)) == 1 else -1
    return int(value)


@keras.saving.register_keras_serializable(package="lrfr_tf")
class ConvBNAct(keras.layers.Layer):
    """Conv2D or DepthwiseConv2D -> BatchNorm (optional) -> activation (optional).

    padding: "same" (TensorFlow: extra row/column at the bottom/right for
    stride 2 on even sizes), "valid", or "symmetric" (k // 2 zeros on every
    side, as PyTorch / Caffe ``pad=k//2``).
    Without BatchNorm the convolution has a bias.

    A strided 1x1 convolution runs as a subsampling slice ``x[:, ::s, ::s]``
    followed by a stride-1 1x1 convolution: the same function and weights
    (a 1x1 kernel only reads the pixels the stride keeps; no padding for
    k=1), less work, and it avoids TF 2.21's oneDNN heap corruption in the
    gradient of strided 1x1 convs with < 16 input channels on AVX-512 CPUs
    (README, "Known platform issues"; benchmarks/onednn_crash_repro.py).
    """

    def __init__(self, filters: Optional[int], kernel_size: int = 3, strides: int = 1, padding: str = "same",
                 depthwise: bool = False, batch_norm: bool = True, activation: Optional[str] = None,
                 bn_epsilon: float = 1e-3, bn_momentum: float = 0.9,
                 kernel_initializer: Any = "he_normal", **kwargs):
        super().__init__(**kwargs)
        check_choice("padding", padding, ("same", "valid", "symmetric"))
        if depthwise == (filters is not None):
            raise ValueError("ConvBNAct: give filters for a regular convolution, filters=None for a depthwise one")
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = padding
        self.depthwise = depthwise
        self.batch_norm = batch_norm
        self.activation = activation
        self.bn_epsilon = bn_epsilon
        self.bn_momentum = bn_momentum
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        conv_padding = "same" if padding == "same" else "valid"
        # Strided 1x1 convs subsample first (see the class docstring).
        self.subsample = int(strides) if (not depthwise and _as_int(kernel_size) == 1 and _as_int(strides) > 1) else 1
        if self.subsample > 1:
            strides = 1
        if depthwise:
            self.conv = keras.layers.DepthwiseConv2D(
                kernel_size, strides=strides, padding=conv_padding, use_bias=not batch_norm,
                depthwise_initializer=self.kernel_initializer, name="conv")
        else:
            self.conv = keras.layers.Conv2D(
                filters, kernel_size, strides=strides, padding=conv_padding, use_bias=not batch_norm,
                kernel_initializer=self.kernel_initializer, name="conv")
        self.bn = (keras.layers.BatchNormalization(epsilon=bn_epsilon, momentum=bn_momentum, name="bn")
                   if batch_norm else None)
        self.act = make_activation(activation, name="act")

    def _symmetric_pad(self) -> int:
        return self.kernel_size // 2 if self.padding == "symmetric" and self.kernel_size > 1 else 0

    def build(self, input_shape):
        """Create the weights from the input shape (no symbolic trace of ``call``: models build about 2x faster)."""
        p, s = self._symmetric_pad(), self.subsample
        shape = (input_shape[0], *[None if d is None else math.ceil((d + 2 * p) / s) for d in input_shape[1:3]],
                 input_shape[3])
        self.conv.build(shape)
        shape = self.conv.compute_output_shape(shape)
        if self.bn is not None:
            self.bn.build(shape)
        if self.act is not None:
            self.act.build(shape)

    def call(self, x, training=None):
        p = self._symmetric_pad()
        if p:
            x = keras.ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
        if self.subsample > 1:
            x = x[:, :: self.subsample, :: self.subsample, :]
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x, training=training)
        if self.act is not None:
            x = self.act(x)
        return x

    def set_folded_weights(self, kernel: np.ndarray, bias: np.ndarray, alpha: Optional[np.ndarray] = None) -> None:
        """Load a convolution whose BatchNorm is folded into (kernel, bias).

        kernel is in Keras layout ([k, k, in, out], depthwise [k, k, C, 1]).
        With a BN layer, the BN is identity-initialised so that inference is
        unchanged: gamma = 1, beta = bias, moving mean 0, moving variance
        1 - epsilon (so sqrt(var + eps) = 1). alpha: PReLU slopes [C].
        """
        if self.bn is None:
            self.conv.set_weights([kernel, bias])
        else:
            self.conv.set_weights([kernel])
            c = bias.shape[-1]
            self.bn.set_weights([np.ones(c, np.float32), bias, np.zeros(c, np.float32),
                                 np.full(c, 1.0 - self.bn_epsilon, np.float32)])
        if alpha is not None:
            if self.activation != "prelu":
                raise ValueError(f"{self.name}: PReLU slopes given but the activation is {self.activation!r}")
            self.act.set_weights([np.reshape(alpha, (1, 1, -1)).astype(np.float32)])

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "depthwise": self.depthwise,
                "batch_norm": self.batch_norm, "activation": self.activation, "bn_epsilon": self.bn_epsilon,
                "bn_momentum": self.bn_momentum,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


class Backbone(keras.Model):
    """Base of every embedding network.

    Subclasses implement ``forward(x, training) -> (embedding, [block
    outputs])``. ``model(x)`` returns the embedding; ``call_with_blocks(x)``
    returns both (through ``__call__``, so it builds the model and handles
    dtype policies like a normal call). Inputs are images already normalised
    by ``self.preprocessing``; the embedding is float32 [B, embedding_dim],
    not L2-normalised.
    """

    def __init__(self, embedding_dim: int, preprocessing=None, **kwargs):
        super().__init__(**kwargs)
        if int(embedding_dim) <= 0:
            raise ValueError(f"embedding_dim must be > 0, got {embedding_dim!r}")
        self.embedding_dim = int(embedding_dim)
        self.preprocessing = ARCFACE if preprocessing is None else as_preprocessing(preprocessing)

    def build(self, input_shape):
        """Create the weights by one forward pass on zeros (faster than Keras' symbolic trace of ``call``)."""
        self.forward(zeros_input(input_shape, self.preprocessing.size), training=False)

    def call(self, x, training=None, return_blocks=False):
        embedding, blocks = self.forward(x, training=training)
        return (embedding, blocks) if return_blocks else embedding

    def call_with_blocks(self, x, training=None):
        """(embedding [B, D], list of block / stage outputs [B, h, w, c]) for residual distillation."""
        return self(x, training=training, return_blocks=True)

    def forward(self, x, training=None):
        raise NotImplementedError

    def _embedding(self, x):
        """[B, 1, 1, D] or [B, D] -> float32 [B, D]."""
        return keras.ops.cast(keras.ops.reshape(x, (-1, self.embedding_dim)), "float32")

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "embedding_dim": self.embedding_dim,
                "preprocessing": self.preprocessing.get_config()}


def prelu_layers(model) -> list:
    """Every ``keras.layers.PReLU`` inside ``model``, in build order."""
    return [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, keras.layers.PReLU)]


def relu_copy(model, input_shape: Optional[Sequence[int]] = None):
    """The same backbone built with ReLU (``activation="relu"`` in its config) carrying ``model``'s weights: the
    same function when every PReLU slope of ``model`` is 0 (checked: ValueError otherwise), the export of a
    student whose slopes were annealed to 0 (``distill.relu_anneal_steps``). ``input_shape``: [H, W, C] (default: the
    model's preprocessing size, RGB)."""
    config = model.get_config()
    if config.get("activation") != "prelu":
        raise ValueError(f"relu_copy: {model.name} has activation {config.get('activation')!r}, not 'prelu'")
    nonzero = [layer.name for layer in prelu_layers(model) if np.any(np.asarray(layer.get_weights()[0]))]
    if nonzero:
        raise ValueError(f"relu_copy: {len(nonzero)} PReLU layers of {model.name} have non-zero slopes (first: "
                         f"{nonzero[0]}): a ReLU copy would not compute the same function")
    copy = type(model).from_config({**config, "activation": "relu"})
    copy(np.zeros((1, *(input_shape or (*model.preprocessing.size, 3))), np.float32))
    slopes = {id(v) for layer in prelu_layers(model) for v in layer.weights}
    source = [v for v in model.weights if id(v) not in slopes]
    if [tuple(v.shape) for v in source] != [tuple(v.shape) for v in copy.weights]:  # paths carry name counters
        raise ValueError(f"relu_copy: {model.name}'s weights (without the PReLU slopes) do not match its ReLU build")
    for target, v in zip(copy.weights, source):
        target.assign(v)
    return copy
