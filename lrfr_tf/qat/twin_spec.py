"""The twin file: a conv-chain embedder's architecture and BN-folded weights, handed from the Keras 3 process
to the tf_keras (QAT) process through a file.

Keras 3 and tf_keras cannot share a process (tensorflow-model-optimization switches TF to tf_keras and needs
absl-py 1.x), so the main environment writes what the QAT environment needs into one ``.npz``:

  ``architecture``    JSON (as a uint8 array): ``{"format": "lrfr_tf.qat.twin", "version": 1, "name",
                      "input_size": [h, w], "embedding_dim", "preprocessing": Preprocessing config,
                      "source": {"path", "sha256", "kind"}, "nodes": [...]}``;
  ``w/<node>/kernel``, ``w/<node>/bias``, ``w/<node>/alpha``   float32 weights (Keras layout);
  ``check/inputs``    a few normalised faces [n, h, w, 3] float32, and
  ``check/embeddings`` the Keras 3 model's raw embeddings of them [n, D]: the twin is checked against them
                      every time it is built.

Nodes, in graph order (a node's ``input`` is ``"input"`` or an earlier node's name):

  ``{"name", "op": "conv" | "depthwise", "input", "kernel_size": [kh, kw], "strides": [s, s],
     "padding": "same" | "valid", "filters" (conv only), "activation": null | "prelu" | "relu"}``
      a convolution with bias (BatchNorm folded in) and its activation;
  ``{"name", "op": "add", "inputs": [a, b]}``   a residual addition;
  the last node's output [N, 1, 1, D] (or [N, D]) is reshaped to the embedding [N, D].

This module imports neither TensorFlow nor Keras: both environments read it.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional

import numpy as np

FORMAT = "lrfr_tf.qat.twin"
VERSION = 1
OPS = ("conv", "depthwise", "add")
ACTIVATIONS = (None, "prelu", "relu")


class TwinSpecError(ValueError):
    """The twin file is not one this version reads (the message names the file)."""


def validate(arch: Mapping[str, Any], weights: Mapping[str, np.ndarray], what: str = "twin") -> None:
    """Raise ``TwinSpecError`` naming ``what`` unless ``arch`` and ``weights`` describe a buildable chain."""
    if arch.get("format") != FORMAT or arch.get("version") != VERSION:
        raise TwinSpecError(f"{what}: not a {FORMAT} v{VERSION} file (format {arch.get('format')!r}, "
                            f"version {arch.get('version')!r})")
    known = {"input"}
    nodes = arch.get("nodes") or []
    if not nodes:
        raise TwinSpecError(f"{what}: no nodes")
    for node in nodes:
        name, op = node.get("name"), node.get("op")
        if op not in OPS:
            raise TwinSpecError(f"{what}: node {name!r}: unknown op {op!r} (expected one of {OPS})")
        inputs = node["inputs"] if op == "add" else [node.get("input")]
        missing = [i for i in inputs if i not in known]
        if missing:
            raise TwinSpecError(f"{what}: node {name!r} reads {missing}, not an earlier node")
        if op != "add":
            if node.get("activation") not in ACTIVATIONS:
                raise TwinSpecError(f"{what}: node {name!r}: unknown activation {node.get('activation')!r}")
            if node.get("padding") not in ("same", "valid"):
                raise TwinSpecError(f"{what}: node {name!r}: padding {node.get('padding')!r} (same or valid)")
            for key in ("kernel", "bias") + (("alpha",) if node.get("activation") == "prelu" else ()):
                if f"w/{name}/{key}" not in weights:
                    raise TwinSpecError(f"{what}: node {name!r} has no {key} weights")
        known.add(name)


def write(path: str, arch: Dict[str, Any], weights: Mapping[str, np.ndarray],
          check_inputs: Optional[np.ndarray] = None, check_embeddings: Optional[np.ndarray] = None) -> None:
    """Write the twin file (``weights`` keyed ``w/<node>/<kernel|bias|alpha>``)."""
    arch = {"format": FORMAT, "version": VERSION, **arch}
    validate(arch, weights, path)
    arrays = {k: np.asarray(v, np.float32) for k, v in weights.items()}
    arrays["architecture"] = np.frombuffer(json.dumps(arch, sort_keys=True).encode("utf-8"), np.uint8)
    if check_inputs is not None:
        arrays["check/inputs"] = np.asarray(check_inputs, np.float32)
        arrays["check/embeddings"] = np.asarray(check_embeddings, np.float32)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def load_npz(path: str, what: str, error=ValueError) -> Dict[str, np.ndarray]:
    """Every array of an .npz (no pickles), or FileNotFoundError / ``error`` naming ``path`` and ``what``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such {what}") from None
    except (OSError, ValueError) as e:
        raise error(f"{path}: not a {what} .npz ({e})") from None


def read(path: str) -> tuple:
    """(architecture dict, {weight key: array}, check inputs or None, check embeddings or None)."""
    arrays = load_npz(path, "twin file", TwinSpecError)
    if "architecture" not in arrays:
        raise TwinSpecError(f"{path}: not a twin file (no 'architecture' entry)")
    try:
        arch = json.loads(arrays.pop("architecture").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TwinSpecError(f"{path}: unreadable architecture ({e})") from None
    inputs, embeddings = arrays.pop("check/inputs", None), arrays.pop("check/embeddings", None)
    validate(arch, arrays, path)
    return arch, arrays, inputs, embeddings


def conv_nodes(arch: Mapping[str, Any]) -> List[Dict[str, Any]]:
    return [n for n in arch["nodes"] if n["op"] != "add"]
