"""MobileFaceNet (Chen et al., "MobileFaceNets: Efficient CNNs for Accurate
Real-Time Face Verification on Mobile Devices", CCBR 2018), the edge model.

Table 1 of the paper: conv3x3 64 s2 -> depthwise conv3x3 64 -> inverted
residual bottlenecks (t, c, n, s) = (2,64,5,2) (4,128,1,2) (2,128,6,1)
(4,128,1,2) (2,128,2,1) -> conv1x1 512 -> linear GDC 7x7 (global depthwise
conv) -> linear conv1x1 128, with BN after every conv and PReLU after every
non-linear one. A bottleneck is expand conv1x1 (c_in * t) -> depthwise 3x3
(stride s) -> linear project conv1x1 c, with an identity shortcut when s = 1
and c_in = c (MobileNetV2).

Two optional layers describe variants such as the TensorFlow MobileFaceNet
whose TFLite file ``load_mobilefacenet_tflite`` loads: a linear pointwise conv
after the stem depthwise conv (``stem_pointwise``) and a linear pointwise conv
after the GDC (``gdc_pointwise``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import keras
import numpy as np

from lrfr_tf.models.layers import Backbone, ConvBNAct, check_choice, feature_grid, fit_to_grid, run_stages
from lrfr_tf.models.model_registry import BACKBONES
from lrfr_tf.preprocessing import Preprocessing

#: (expansion t, channels c, repeats n, stride s) per stage, Table 1 of the paper.
PAPER_STAGES = ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1))


@keras.saving.register_keras_serializable(package="lrfr_tf")
class Bottleneck(keras.layers.Layer):
    """Inverted residual: expand 1x1 (act) -> depthwise 3x3 stride s (act) -> project 1x1 (linear) [+ x]."""

    def __init__(self, expand_channels: int, filters: int, strides: int = 1, activation: str = "prelu",
                 batch_norm: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.expand_channels = expand_channels
        self.filters = filters
        self.strides = strides
        self.activation = activation
        self.batch_norm = batch_norm
        self.expand = ConvBNAct(expand_channels, 1, batch_norm=batch_norm, activation=activation, name="expand")
        self.depthwise = ConvBNAct(None, 3, strides=strides, depthwise=True, batch_norm=batch_norm,
                                   activation=activation, name="depthwise")
        self.project = ConvBNAct(filters, 1, batch_norm=batch_norm, name="project")
        self.residual = False

    def build(self, input_shape):
        self.residual = self.strides == 1 and input_shape[-1] == self.filters

    def call(self, x, training=None):
        y = self.expand(x, training=training)
        y = self.depthwise(y, training=training)
        y = self.project(y, training=training)
        return x + y if self.residual else y

    def conv_units(self) -> List[ConvBNAct]:
        return [self.expand, self.depthwise, self.project]

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "expand_channels": self.expand_channels, "filters": self.filters,
                "strides": self.strides, "activation": self.activation, "batch_norm": self.batch_norm}


@keras.saving.register_keras_serializable(package="lrfr_tf")
class MobileFaceNet(Backbone):
    """MobileFaceNet backbone.

    Args:
      embedding_dim: size of the final linear conv1x1 (128 in the paper).
      stem_channels: channels of the stem conv3x3 and depthwise conv.
      stages: (t, c, n, s) per stage; t may be fractional (expand channels =
        round(t * c_in)).
      head_channels: channels of the conv1x1 before the GDC (512).
      stem_pointwise: add a linear conv1x1 (stem_channels) after the stem
        depthwise conv.
      gdc_pointwise: if > 0, a linear conv1x1 with this many channels after
        the GDC.
      head: "gdc" (the paper's global depthwise conv, kernel = the feature map
        at the preprocessing size: 7x7 at 112 px; size-tied),
        "adaptive_gdc" (default: the same GDC, the feature map is resized
        bilinearly to the native grid when the input size differs, so any
        input size works and the native size is unchanged) or "gap" (global
        average pooling instead of the GDC).
      activation: "prelu" (paper) or "relu". Note: int8 TFLite with PReLU
        runs about 3x slower than with ReLU on x86 CPUs (XNNPACK); prefer ReLU
        for quantised x86 deployment.
      batch_norm: BN after every conv (paper). False gives biased convs
        without BN, the structure of a BN-folded inference graph.
      preprocessing: input contract (ARCFACE by default); its size fixes the
        GDC kernel unless ``head_grid`` is given.
      head_grid: (h, w) of the GDC kernel when it is not the feature map of the
        preprocessing size: a pretrained 7x7 GDC on a smaller input (e.g. 80 px,
        a 5x5 map resized to 7x7 by ``adaptive_gdc``).
    """

    HEADS = ("gdc", "adaptive_gdc", "gap")

    def __init__(self, embedding_dim: int = 128, stem_channels: int = 64,
                 stages: Sequence[Sequence[float]] = PAPER_STAGES, head_channels: int = 512,
                 stem_pointwise: bool = False, gdc_pointwise: int = 0, head: str = "adaptive_gdc",
                 activation: str = "prelu", batch_norm: bool = True, preprocessing=None,
                 head_grid: Optional[Sequence[int]] = None, **kwargs):
        super().__init__(embedding_dim=embedding_dim, preprocessing=preprocessing, **kwargs)
        check_choice("head", head, self.HEADS)
        self.stem_channels = int(stem_channels)
        self.stages = [[float(t) if float(t) != int(t) else int(t), int(c), int(n), int(s)]
                       for t, c, n, s in stages]
        self.head_channels = int(head_channels)
        self.stem_pointwise = bool(stem_pointwise)
        self.gdc_pointwise = int(gdc_pointwise)
        self.head = head
        self.activation = activation
        self.batch_norm = bool(batch_norm)
        native = feature_grid(self.preprocessing.size, [2] + [s for _, _, _, s in self.stages])
        self.grid = native if head_grid is None else tuple(int(g) for g in head_grid)
        if self.grid != native and head != "adaptive_gdc":
            raise ValueError(f"head_grid {self.grid} differs from the {native} map of a {self.preprocessing.size} "
                             f"input: use head='adaptive_gdc' (got {head!r})")
        self.head_grid = None if head_grid is None else list(self.grid)

        def conv(filters, kernel_size, strides=1, depthwise=False, act=None, padding="same", name=None):
            return ConvBNAct(filters, kernel_size, strides=strides, depthwise=depthwise, batch_norm=self.batch_norm,
                             activation=act, padding=padding, name=name)

        self.stem_conv = conv(self.stem_channels, 3, strides=2, act=activation, name="stem_conv")
        self.stem_depthwise = conv(None, 3, depthwise=True, act=activation, name="stem_depthwise")
        self.stem_project = conv(self.stem_channels, 1, name="stem_pointwise") if self.stem_pointwise else None
        self.blocks = []
        channels = self.stem_channels
        for t, c, n, s in self.stages:
            stage = []
            for i in range(n):
                stage.append(Bottleneck(int(round(t * channels)), c, s if i == 0 else 1, activation, self.batch_norm))
                channels = c
            self.blocks.append(stage)
        self.head_conv = conv(self.head_channels, 1, act=activation, name="head_conv")
        self.gdc = None if head == "gap" else conv(None, self.grid, depthwise=True, padding="valid", name="gdc")
        self.gdc_project = conv(self.gdc_pointwise, 1, name="gdc_pointwise") if self.gdc_pointwise else None
        self.embedding_conv = conv(self.embedding_dim, 1, name="embedding")

    def forward(self, x, training=None):
        x = self.stem_conv(x, training=training)
        x = self.stem_depthwise(x, training=training)
        if self.stem_project is not None:
            x = self.stem_project(x, training=training)
        x, blocks = run_stages(self.blocks, x, training)
        x = self.head_conv(x, training=training)
        if self.gdc is None:
            x = keras.ops.mean(x, axis=(1, 2), keepdims=True)
        else:
            x = fit_to_grid(x, self.grid, adaptive=self.head == "adaptive_gdc", model_name=self.name)
            x = self.gdc(x, training=training)
        if self.gdc_project is not None:
            x = self.gdc_project(x, training=training)
        x = self.embedding_conv(x, training=training)
        return self._embedding(x), blocks

    def conv_units(self) -> List[ConvBNAct]:
        """Every conv in graph order (stem, blocks, head), as a BN-folded TFLite graph lists them."""
        units = [self.stem_conv, self.stem_depthwise] + ([self.stem_project] if self.stem_project else [])
        for stage in self.blocks:
            for block in stage:
                units += block.conv_units()
        units.append(self.head_conv)
        units += [u for u in (self.gdc, self.gdc_project) if u is not None]
        return units + [self.embedding_conv]

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "stem_channels": self.stem_channels, "stages": self.stages,
                "head_channels": self.head_channels, "stem_pointwise": self.stem_pointwise,
                "gdc_pointwise": self.gdc_pointwise, "head": self.head, "activation": self.activation,
                "batch_norm": self.batch_norm, "head_grid": self.head_grid}


def load_mobilefacenet_tflite(path, batch_norm: bool = False, head: str = "gdc",
                              preprocessing: Optional[Preprocessing] = None,
                              name: str = "mobilefacenet", activation: Optional[str] = None,
                              input_size: Optional[Sequence[int]] = None) -> MobileFaceNet:
    """Keras MobileFaceNet with the architecture and weights of a MobileFaceNet-style .tflite file.

    The one loader of a pretrained MobileFaceNet: ``create_backbone("mobilefacenet", weights=path)``
    and the training config's ``model.init=path.tflite`` both come here.

    Args:
      path: float32 .tflite file (BN folded into the convolutions).
      batch_norm: False gives the file's structure (biased convs, no BN);
        True puts an identity-initialised BN after every conv (gamma 1,
        beta = folded bias, moving mean 0, moving variance 1 - eps), with the
        same inference output, for fine-tuning.
      head: "gdc" keeps the file's size-tied global depthwise conv (7x7 at
        112 px); "adaptive_gdc" uses the same weights and also accepts other
        input sizes (identical output at the file's input size).
      preprocessing: input contract; default: the file's input size with the
        MobileFaceNet / ArcFace normalisation (x - 127.5) / 128, RGB (a
        .tflite file does not record its normalisation).
      activation: None: the file's (PReLU or fused ReLU). "relu" on a PReLU file builds the same network
        with ReLU and the file's convolutions, its PReLU slopes dropped: a starting point to fine-tune (e.g.
        by distillation from the PReLU original) for int8 targets whose PReLU kernels are slow; not the
        file's function. "prelu" on a ReLU file starts every slope at 0 (the file's function, slopes to train).
      input_size: (h, w) the network is fed instead of the file's (e.g. 80x80: about half the compute at
        112 px), the aligned face resized to it (the 5-point template scales with it); needs
        ``head="adaptive_gdc"`` (the file's GDC kernel kept, the smaller map resized to it). To fine-tune.
    """
    # Imported here so that ``python -m lrfr_tf.models.tflite_import`` does not find itself imported.
    from lrfr_tf.models.tflite_import import TFLiteGraph, TFLiteImportError, mobilefacenet_config

    if head not in ("gdc", "adaptive_gdc"):
        raise ValueError(f"head must be 'gdc' or 'adaptive_gdc' to load the file's GDC weights, got {head!r}")
    graph = TFLiteGraph(path)
    config, units = mobilefacenet_config(graph)
    file_size, gdc_size = config.pop("input_size"), config.pop("gdc_size")
    if preprocessing is None:
        preprocessing = Preprocessing(size=tuple(input_size) if input_size is not None else file_size)
    if tuple(preprocessing.size) != tuple(file_size):
        if head != "adaptive_gdc":
            raise ValueError(f"input size {tuple(preprocessing.size)} differs from the file's {tuple(file_size)}: "
                             "use head='adaptive_gdc' (the file's GDC kernel on the resized feature map)")
        config["head_grid"] = list(gdc_size)
    if activation not in (None, "prelu", "relu"):
        raise ValueError(f"activation must be None (the file's: {config['activation']}), 'prelu' or 'relu', "
                         f"got {activation!r}")
    if activation is not None:
        config["activation"] = activation
    model = MobileFaceNet(**config, head=head, batch_norm=batch_norm, preprocessing=preprocessing, name=name)
    if model.grid != tuple(gdc_size):
        raise TFLiteImportError(f"{graph.path}: GDC kernel {gdc_size} does not match the {model.grid} map of a "
                                f"{preprocessing.size} input")
    model(np.zeros((1, *preprocessing.size, 3), np.float32))
    layers = model.conv_units()
    if len(layers) != len(units):
        raise TFLiteImportError(f"{graph.path}: {len(units)} convolutions in the file, {len(layers)} in the model")
    for layer, unit in zip(layers, units):
        if tuple(layer.conv.kernel.shape) != unit.kernel.shape:
            raise graph.error(unit.op, f"kernel {unit.kernel.shape} does not fit layer {layer.path} "
                                       f"{tuple(layer.conv.kernel.shape)}")
        alpha = None
        if layer.activation == "prelu":  # slope 0 where the file has ReLU: the same function
            alpha = unit.alpha if unit.activation == "prelu" else np.zeros(unit.bias.shape[-1], np.float32)
        layer.set_folded_weights(unit.kernel, unit.bias, alpha)
    return model


@BACKBONES.register("mobilefacenet")
def mobilefacenet(weights: str | None = None, **kwargs) -> MobileFaceNet:
    """The paper's MobileFaceNet, or with ``weights=path.tflite`` the pretrained one of that file
    (``load_mobilefacenet_tflite(weights, **kwargs)``, architecture read from the file)."""
    if weights is not None:
        return load_mobilefacenet_tflite(weights, **kwargs)
    return MobileFaceNet(**{"name": "mobilefacenet", **kwargs})
