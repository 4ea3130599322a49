"""QAT environment (tf_keras + tensorflow-model-optimization): the functional tf_keras twin of a source model
and its quantisation-aware copy.

Import only in the ``qat`` virtual environment: this module imports ``tf_keras`` and
``tensorflow_model_optimization`` (inside the functions, so that ``import lrfr_tf.qat.twin`` itself is cheap).

The twin is built from a twin file (``lrfr_tf.qat.twin_spec``, written by the Keras 3 side): one
``Conv2D`` / ``DepthwiseConv2D`` (with bias: BN folded) per conv node, followed by ``PReLU`` (slopes shared
over height and width) or ``ReLU``, ``Add`` for residuals, and a ``Reshape`` to [N, D]. ``build_twin`` checks
it against the embeddings the Keras 3 model computed for the file's check faces and raises when the cosine
is below ``TWIN_MIN_COSINE``.

Quantisation (``quantize``): tfmot's default 8-bit scheme (per-channel symmetric weights, per-tensor
asymmetric activations with moving-average ranges, the input quantised) for Conv2D, DepthwiseConv2D, ReLU
and Add. tfmot has no PReLU support (``layers.PReLU`` is commented out of its default registry), so
``PReLUQuantizeConfig`` quantises the slopes (per-tensor, 8 bit, last-value range, as TFLite's int8 PRELU
kernel takes them) and the output (moving-average range); the converter then emits one int8 PRELU op.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional

import numpy as np

#: The twin must compute the Keras 3 model's embeddings to this cosine (every check face).
TWIN_MIN_COSINE = 0.99999


class TwinMismatch(ValueError):
    """The tf_keras twin does not compute the source model's embeddings."""


def tf_keras():
    """The tf_keras module (and TF set to use it: tfmot needs Keras 2)."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tf_keras as keras

    return keras


def build_float_twin(arch: Dict[str, Any], weights: Dict[str, np.ndarray]):
    """The functional tf_keras model of a twin architecture, with its weights."""
    keras = tf_keras()
    h, w = arch["input_size"]
    tensors = {"input": keras.Input((h, w, 3), name="images")}
    for node in arch["nodes"]:
        name = node["name"]
        if node["op"] == "add":
            tensors[name] = keras.layers.Add(name=name)([tensors[i] for i in node["inputs"]])
            continue
        common = dict(kernel_size=tuple(node["kernel_size"]), strides=tuple(node["strides"]),
                      padding=node["padding"], use_bias=True, name=name)
        if node["op"] == "depthwise":
            layer = keras.layers.DepthwiseConv2D(**common)
        else:
            layer = keras.layers.Conv2D(node["filters"], **common)
        x = layer(tensors[node["input"]])
        kernel = weights[f"w/{name}/kernel"]
        layer.set_weights([kernel, weights[f"w/{name}/bias"]])
        if node["activation"] == "prelu":
            act = keras.layers.PReLU(shared_axes=[1, 2], name=f"{name}_prelu")
            x = act(x)
            act.set_weights([weights[f"w/{name}/alpha"].reshape(1, 1, -1)])
        elif node["activation"] == "relu":
            x = keras.layers.ReLU(name=f"{name}_relu")(x)
        tensors[name] = x
    out = keras.layers.Reshape((int(arch["embedding_dim"]),), name="embedding_reshape")(tensors[arch["nodes"][-1]["name"]])
    return keras.Model(tensors["input"], out, name=arch.get("name", "twin"))


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)


def build_twin(path: str, min_cosine: float = TWIN_MIN_COSINE):
    """(twin model, architecture, twin parity {min, mean cosine}) from a twin file; raises ``TwinMismatch`` when
    the twin's embeddings of the file's check faces are below ``min_cosine`` to the Keras 3 model's."""
    from lrfr_tf.qat import twin_spec

    arch, weights, inputs, expected = twin_spec.read(path)
    model = build_float_twin(arch, weights)
    parity = None
    if inputs is not None:
        got = model.predict(inputs, batch_size=32, verbose=0)
        cos = cosine(got, expected)
        parity = {"faces": int(len(cos)), "min_cosine": float(cos.min()), "mean_cosine": float(cos.mean())}
        if cos.min() < min_cosine:
            raise TwinMismatch(f"{path}: the tf_keras twin's embeddings reach only cosine {cos.min():.6f} to the "
                               f"Keras 3 model's (required {min_cosine})")
    return model, arch, parity


def prelu_quantize_config():
    """A tfmot ``QuantizeConfig`` for ``PReLU`` (see the module docstring); registered under its class name."""
    import tensorflow_model_optimization as tfmot

    quantizers = tfmot.quantization.keras.quantizers

    class PReLUQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
        def get_weights_and_quantizers(self, layer):
            return []

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            pass

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return [quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False, narrow_range=False)]

        def get_config(self):
            return {}

    return PReLUQuantizeConfig


def quantize(model):
    """The quantisation-aware copy of a float twin (fake-quant wrappers; weights copied)."""
    import tensorflow_model_optimization as tfmot

    keras = tf_keras()
    qk = tfmot.quantization.keras
    config_class = prelu_quantize_config()

    def annotate(layer):
        if isinstance(layer, keras.layers.PReLU):
            return qk.quantize_annotate_layer(layer, config_class())
        if isinstance(layer, keras.layers.Reshape):
            return layer
        return qk.quantize_annotate_layer(layer)

    annotated = keras.models.clone_model(model, clone_function=annotate)
    annotated.set_weights(model.get_weights())
    with qk.quantize_scope({"PReLUQuantizeConfig": config_class}):
        return qk.quantize_apply(annotated)


def serving_module(model, input_size, signature: str = "embed_normalized"):
    """A ``tf.Module`` whose ``signature`` takes normalised faces ``images`` [N, h, w, 3] and returns the
    L2-normalised ``embedding`` (the export's ``embed_normalized`` contract)."""
    import tensorflow as tf

    class Serving(tf.Module):
        def __init__(self):
            super().__init__()
            # The variables are tracked, the Keras model is not: tf_keras would save a function per layer, and
            # a wrapped PReLU's function captures its fake-quantised slopes from the wrapper's graph (fails).
            self.variables_to_save = list(model.variables)

        @tf.function(input_signature=[tf.TensorSpec([None, *input_size, 3], tf.float32, name="images")])
        def embed(self, images):
            return {"embedding": tf.math.l2_normalize(model(images, training=False), axis=-1, epsilon=1e-12)}

    return Serving()


def write_saved_model(model, input_size, directory: str, signature: str = "embed_normalized") -> None:
    import tensorflow as tf

    module = serving_module(model, input_size, signature)
    tf.saved_model.save(module, directory, signatures={signature: module.embed, "serving_default": module.embed})


def convert_int8(saved_model_dir: str, io_dtype: str = "int8", signature: str = "embed_normalized") -> bytes:
    """Full-integer .tflite of a QAT SavedModel with ``TFLiteConverter.from_saved_model`` (the ranges are the
    fake-quant ranges learned in training: no representative dataset), builtin int8 ops only, int8 or uint8
    input and output."""
    import tensorflow as tf

    if io_dtype not in ("int8", "uint8"):
        raise ValueError(f"--int8_io: expected int8 or uint8, got {io_dtype!r}")
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[signature])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    # Not ``supported_ops = [TFLITE_BUILTINS_INT8]``: TF 2.21 then asks for a representative dataset before it
    # looks for the fake-quant ops (its metrics pass has no graph); ``float_tensors`` checks the result instead.
    converter.inference_input_type = tf.int8 if io_dtype == "int8" else tf.uint8
    converter.inference_output_type = converter.inference_input_type
    return converter.convert()


def float_tensors(model_bytes: bytes) -> list:
    """Names of the float32 tensors of a .tflite (empty: weights and activations are all integers)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=model_bytes)
    return [t["name"] for t in interp.get_tensor_details() if np.dtype(t["dtype"]) == np.float32]


def run_tflite(model_bytes: bytes, inputs: np.ndarray, num_threads: Optional[int] = None) -> np.ndarray:
    """Float embeddings of normalised ``inputs`` through a (possibly int8-I/O) .tflite with LiteRT."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=model_bytes, num_threads=num_threads)
    (inp,), (out,) = interp.get_input_details(), interp.get_output_details()
    interp.resize_tensor_input(inp["index"], [1, *inputs.shape[1:]])
    interp.allocate_tensors()
    rows = []
    for x in inputs:
        x = x[None].astype(np.float32)
        scale, zero = inp["quantization"]
        if scale:
            info = np.iinfo(inp["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max)
        interp.set_tensor(inp["index"], x.astype(inp["dtype"]))
        interp.invoke()
        y = interp.get_tensor(out["index"]).astype(np.float32)
        scale, zero = out["quantization"]
        rows.append((y - zero) * scale if scale else y)
    return np.concatenate(rows)
