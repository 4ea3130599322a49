"""Main environment (Keras 3): describe a source model as a twin file (``lrfr_tf.qat.twin_spec``).

Twinned backbones: ``MobileFaceNet`` (the pretrained one imported from TFLite, or any trained
``mobilefacenet`` backbone, with or without BatchNorm). BatchNorm is folded into the convolution at its
inference statistics (``kernel * gamma / sqrt(var + eps)``, ``beta - mean * gamma / sqrt(var + eps)``),
the form a TFLite export has anyway; QAT then trains the folded weights (a departure from tfmot's
BN-folding-during-training transforms, which need the unfolded Conv-BN-activation pattern: for the
pretrained model, which has no BN, nothing changes). Other registered backbones (IResNet, SphereFace)
are not twinned: their blocks carry BN between the residual addition and the next convolution
(IResNet's pre-activation BN-PReLU order), which does not fold into one preceding convolution; they raise
``ValueError`` naming the class.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np


def _folded(unit) -> Tuple[np.ndarray, np.ndarray]:
    """(kernel, bias) of a ``ConvBNAct`` with its BatchNorm folded in (Keras layout)."""
    weights = [np.asarray(w, np.float64) for w in unit.conv.get_weights()]
    kernel = weights[0]
    bias = weights[1] if len(weights) > 1 else np.zeros(kernel.shape[2] if unit.depthwise else kernel.shape[3])
    if unit.bn is not None:
        gamma, beta, mean, var = (np.asarray(w, np.float64) for w in unit.bn.get_weights())
        scale = gamma / np.sqrt(var + unit.bn.epsilon)
        if unit.depthwise:  # [kh, kw, C, 1]: per input channel
            kernel = kernel * scale[None, None, :, None]
        else:
            kernel = kernel * scale[None, None, None, :]
        bias = beta + (bias - mean) * scale
    return kernel.astype(np.float32), bias.astype(np.float32)


def _node(unit, name: str, input_name: str) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    if getattr(unit, "subsample", 1) > 1 or unit.padding == "symmetric":
        raise ValueError(f"{unit.name}: strided 1x1 or symmetric-padded convolutions are not twinned")
    kernel, bias = _folded(unit)
    k = unit.kernel_size if isinstance(unit.kernel_size, (tuple, list)) else (unit.kernel_size, unit.kernel_size)
    s = unit.strides if isinstance(unit.strides, (tuple, list)) else (unit.strides, unit.strides)
    node = {"name": name, "op": "depthwise" if unit.depthwise else "conv", "input": input_name,
            "kernel_size": [int(k[0]), int(k[1])], "strides": [int(s[0]), int(s[1])], "padding": unit.padding,
            "activation": unit.activation}
    if not unit.depthwise:
        node["filters"] = int(kernel.shape[-1])
    weights = {f"w/{name}/kernel": kernel, f"w/{name}/bias": bias}
    if unit.activation == "prelu":
        weights[f"w/{name}/alpha"] = np.asarray(unit.act.get_weights()[0], np.float32).reshape(-1)
    return node, weights


def describe_mobilefacenet(model) -> Tuple[List[Dict[str, Any]], Dict[str, np.ndarray]]:
    """(nodes, weights) of a Keras 3 ``MobileFaceNet`` (see ``twin_spec`` for the format)."""
    nodes: List[Dict[str, Any]] = []
    weights: Dict[str, np.ndarray] = {}
    current = "input"

    def add_unit(unit, name):
        nonlocal current
        node, w = _node(unit, name, current)
        nodes.append(node)
        weights.update(w)
        current = name

    add_unit(model.stem_conv, "stem_conv")
    add_unit(model.stem_depthwise, "stem_depthwise")
    if model.stem_project is not None:
        add_unit(model.stem_project, "stem_pointwise")
    index = 0
    for stage in model.blocks:
        for block in stage:
            block_in = current
            for unit, part in zip(block.conv_units(), ("expand", "depthwise", "project")):
                add_unit(unit, f"block{index}_{part}")
            if block.residual:
                nodes.append({"name": f"block{index}_add", "op": "add", "inputs": [block_in, current]})
                current = f"block{index}_add"
            index += 1
    add_unit(model.head_conv, "head_conv")
    if model.gdc is None:
        raise ValueError(f"{model.name}: a 'gap' head is not twinned (the pretrained model has a GDC)")
    add_unit(model.gdc, "gdc")
    if model.gdc_project is not None:
        add_unit(model.gdc_project, "gdc_pointwise")
    add_unit(model.embedding_conv, "embedding")
    return nodes, weights


def describe(model, preprocessing) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    """(architecture without the format keys, weights) of a source model, or ValueError naming its class."""
    from lrfr_tf.models.mobilefacenet import MobileFaceNet

    if not isinstance(model, MobileFaceNet):
        raise ValueError(f"no tf_keras twin for {type(model).__name__} (twinned: MobileFaceNet)")
    nodes, weights = describe_mobilefacenet(model)
    arch = {"name": model.name, "kind": "MobileFaceNet", "input_size": list(preprocessing.size),
            "embedding_dim": int(model.embedding_dim), "preprocessing": preprocessing.get_config(), "nodes": nodes}
    return arch, weights


def write_twin(source, path: str, check_faces: np.ndarray, equalize_on: Optional[np.ndarray] = None) -> Dict[str, Any]:
    """Write the twin file of an ``lrfr_tf.export.sources.ExportSource`` with ``check_faces`` (uint8 RGB at the
    aligned size) and the source's raw embeddings of them; returns the architecture.

    ``equalize_on``: normalised calibration inputs; when given, the twin gets the weights of the source after
    the export's cross-layer equalisation (``lrfr_tf.export.equalization.equalize``: the same float function,
    activation ranges fit for per-tensor int8), so QAT starts where the post-training route ends. The source
    model itself is left unchanged and the check embeddings are the untouched source's."""
    from lrfr_tf.eval.embedders import prepare_images
    from lrfr_tf.export import equalization
    from lrfr_tf.qat import twin_spec

    inputs = prepare_images(check_faces, source.preprocessing)
    embeddings = np.asarray(source.model(inputs, training=False), np.float32)
    with equalization.weights_restored(source.model):
        pairs = equalization.equalize(source.model, equalize_on) if equalize_on is not None else 0
        arch, weights = describe(source.model, source.preprocessing)
    arch["source"] = {"path": source.path, "sha256": source.sha256, "kind": source.kind}
    arch["equalized_pairs"] = int(pairs)
    twin_spec.write(path, arch, weights, inputs, embeddings)
    return arch
