"""Face embeddings from any .tflite embedder on LiteRT, with its input contract.

The contract comes from the ``lrfr_tf`` metadata an export (``python -m lrfr_tf.export``) stores in the
flatbuffer (``lrfr_tf.model_metadata``): ``preprocessing`` (size, mean/scale, RGB/BGR, centre crop) and
``input.contract`` "normalized" (the caller normalises; an int8/uint8 input is quantised with the tensor's
scale and zero point). A foreign model carries none: the caller names a preset or JSON contract
(``--preprocessing=arcface``), else ArcFace's is assumed when the input is 112x112. A fixed batch dimension
(MobileFaceNet.tflite's [2, 112, 112, 3]) is filled by padding; a dynamic one is resized to the batch.
Embeddings come out L2-normalised.
"""

from __future__ import annotations

import hashlib
from typing import Optional

import numpy as np

from lrfr_tf import model_metadata
from lrfr_tf.preprocessing import ARCFACE, Preprocessing, as_preprocessing

from lrfr_tf.litert import dequantize, open_interpreter, quantize, read_tflite_bytes

SUPPORTED_CONTRACTS = ("normalized",)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class TFLiteEmbedder:
    """``embed(faces)``: aligned RGB faces [N, h, w, 3] (uint8 or float in [0, 255], at ``preprocessing.size``)
    -> L2-normalised float32 [N, dim].

    Attributes: ``preprocessing``, ``preprocessing_source`` ("metadata", "flag" or "default"), ``metadata``
    (the export metadata or None), ``sha256`` (of the file), ``dim``, ``batch`` (the model's fixed batch or
    None).
    """

    def __init__(self, path: str, preprocessing=None, num_threads: int = 1):
        data = read_tflite_bytes(path)
        self.path, self.sha256 = path, hashlib.sha256(data).hexdigest()
        self.metadata = model_metadata.read_from_tflite(data, path)
        self._interpreter = open_interpreter(path, num_threads, data=data)
        inputs, outputs = self._interpreter.get_input_details(), self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"--model={path}: {len(inputs)} inputs and {len(outputs)} outputs; an embedder has one image "
                             "input and one embedding output")
        self._input, self._output = inputs[0], outputs[0]
        shape = self._input["shape"].tolist()
        signature = self._input.get("shape_signature", self._input["shape"]).tolist()
        if len(shape) != 4 or shape[-1] != 3 or len(self._output["shape"]) != 2:
            raise ValueError(f"--model={path}: input {shape} -> output {self._output['shape'].tolist()}; an embedder maps "
                             "[batch, H, W, 3] images to [batch, dim] embeddings")
        self.batch: Optional[int] = None if signature[0] == -1 else int(shape[0])
        self._allocated_batch = int(shape[0])
        self.dim = int(self._output["shape"][-1])
        self.preprocessing, self.preprocessing_source = self._contract(path, preprocessing, (int(shape[1]), int(shape[2])))

    def _contract(self, path: str, flag, model_size) -> tuple:
        if self.metadata is not None and self.metadata.get("preprocessing") is not None:
            contract = (self.metadata.get("input") or {}).get("contract", "normalized")
            if contract not in SUPPORTED_CONTRACTS:
                raise ValueError(f"--model={path}: input contract {contract!r}; the edge runtime feeds "
                                 f"{', '.join(SUPPORTED_CONTRACTS)} inputs")
            pre, source = Preprocessing.from_config(self.metadata["preprocessing"]), "metadata"
        elif flag is not None:
            pre, source = as_preprocessing(flag), "flag"
        elif model_size == ARCFACE.size:
            pre, source = ARCFACE, "default"
        else:
            raise ValueError(f"--model={path}: no lrfr_tf export metadata and a {model_size[0]}x{model_size[1]} input; "
                             "say how it wants its faces with --preprocessing (arcface, sphereface_112x96 or a JSON contract)")
        if pre.size != model_size:
            raise ValueError(f"--model={path}: the model's input is {model_size[0]}x{model_size[1]} but its preprocessing "
                             f"({source}) says {pre.size[0]}x{pre.size[1]}")
        return pre, source

    def _invoke(self, x: np.ndarray) -> np.ndarray:
        if x.shape[0] != self._allocated_batch:
            self._interpreter.resize_tensor_input(self._input["index"], list(x.shape))
            self._interpreter.allocate_tensors()
            self._allocated_batch = x.shape[0]
        self._interpreter.set_tensor(self._input["index"], quantize(x, self._input))
        self._interpreter.invoke()
        return dequantize(self._interpreter.get_tensor(self._output["index"]), self._output)

    def embed(self, faces) -> np.ndarray:
        x = np.asarray(faces)
        if x.ndim != 4 or tuple(x.shape[1:]) != (*self.preprocessing.size, 3):
            raise ValueError(f"faces: expected [N, {self.preprocessing.size[0]}, {self.preprocessing.size[1]}, 3], "
                             f"got {list(x.shape)}")
        if len(x) == 0:
            return np.zeros((0, self.dim), np.float32)
        x = self.preprocessing.normalize_numpy(x)
        if self.batch is None:
            return l2_normalize(self._invoke(x))
        out = []
        for start in range(0, len(x), self.batch):
            chunk = x[start:start + self.batch]
            padded = np.concatenate([chunk, np.zeros((self.batch - len(chunk), *chunk.shape[1:]), chunk.dtype)])
            out.append(self._invoke(padded)[:len(chunk)])
        return l2_normalize(np.concatenate(out))
