"""A predict request from body to batchable inputs, checked in TF Serving's order: JSON, signature name,
model and version, signature, tensors, then input names and shapes against the signature."""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Dict, Hashable, Optional

import numpy as np

from lrfr_tf.serve.serving_errors import invalid_argument
from lrfr_tf.serve.signature_info import DEFAULT_SIGNATURE, Signature, shape_string
from lrfr_tf.serve.tensors_json import parse_document, request_tensors, signature_name_of
from lrfr_tf.serve.model_versions import ModelVersions, Servable


@dataclasses.dataclass
class PreparedPredict:
    """What the batcher needs: the queue key, the function to run, the inputs and their batch size."""

    key: Hashable
    run: Callable[[Dict[str, np.ndarray]], Dict[str, np.ndarray]]
    inputs: Dict[str, np.ndarray]
    batch_size: Optional[int]
    request_format: str


def resolve_servable(versions: ModelVersions, name: str, version: Optional[int], label: Optional[str]) -> Servable:
    """The servable a URL names. Version labels need a model config file, which this server does not read."""
    if label is not None:
        raise invalid_argument("Unrecognized servable version label: ", label)
    return versions.servable(name, version)


def prepare_predict(versions: ModelVersions, name: str, version: Optional[int], label: Optional[str],
                    body: bytes) -> PreparedPredict:
    doc = parse_document(body)
    signature_name = signature_name_of(doc)
    servable = resolve_servable(versions, name, version, label)
    signature = servable.signature(signature_name or DEFAULT_SIGNATURE)
    request_format, inputs = request_tensors(doc, signature.inputs, signature_name)
    check_inputs(signature, inputs)
    key = (servable, signature.name, tuple((n, a.dtype.str, a.shape[1:]) for n, a in sorted(inputs.items())))
    return PreparedPredict(key, functools.partial(servable.run, signature.name), inputs,
                           common_batch_size(inputs), request_format)


def check_inputs(signature: Signature, inputs: Dict[str, np.ndarray]) -> None:
    """INVALID_ARGUMENT unless the inputs are exactly the signature's, each of a shape it accepts."""
    if inputs.keys() != signature.inputs.keys():
        sent, wanted = set(inputs), set(signature.inputs)
        raise invalid_argument(
            f"input size does not match signature: {len(sent)}!={len(wanted)} len({{{','.join(sorted(sent))}}}) "
            f"!= len({{{','.join(sorted(wanted))}}}). Sent extra: {{{','.join(sorted(sent - wanted))}}}. "
            f"Missing but required: {{{','.join(sorted(wanted - sent))}}}."
        )
    for name in sorted(inputs):
        expected = signature.inputs[name].shape
        shape = inputs[name].shape
        if expected is None:
            continue
        if len(shape) != len(expected) or any(e >= 0 and e != d for e, d in zip(expected, shape)):
            raise invalid_argument(
                f"Input '{name}' of signature '{signature.name}' must have shape {shape_string(expected)} "
                f"(-1: any size) but got shape {shape_string(shape)}"
            )


def common_batch_size(inputs: Dict[str, np.ndarray]) -> Optional[int]:
    """The 0th dimension all inputs share, or None when some input is a scalar or they differ."""
    sizes = {a.shape[0] if a.ndim else None for a in inputs.values()}
    return sizes.pop() if len(sizes) == 1 else None
