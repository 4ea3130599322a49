"""What a SavedModel signature takes and returns, read from its SignatureDef protos (no TensorFlow needed
to use the result)."""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Tuple

DEFAULT_SIGNATURE = "serving_default"


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """One named input or output: dtype as TF's enum name (``"DT_UINT8"``), shape with -1 for unknown
    dimensions, or None for unknown rank."""

    name: str
    dtype: str
    shape: Optional[Tuple[int, ...]]

    @property
    def type_string(self) -> str:
        """TF's DataTypeString: ``DT_UINT8`` -> ``uint8``, ``DT_FLOAT`` -> ``float``."""
        return dtype_string(self.dtype)


@dataclasses.dataclass(frozen=True)
class Signature:
    name: str
    inputs: Dict[str, TensorInfo]
    outputs: Dict[str, TensorInfo]
    method_name: str


def dtype_string(dtype_enum_name: str) -> str:
    return dtype_enum_name[3:].lower() if dtype_enum_name.startswith("DT_") else dtype_enum_name.lower()


def shape_string(shape) -> str:
    """A shape as TF Serving prints it: ``[2,16,16,3]``, ``[?]`` for unknown rank."""
    return "[?]" if shape is None else "[" + ",".join(str(int(d)) for d in shape) + "]"


def signatures_from_meta_graph(meta_graph) -> Dict[str, Signature]:
    """Every SignatureDef of a MetaGraphDef proto as a Signature."""
    from tensorflow.core.framework import types_pb2

    def info(alias, proto) -> TensorInfo:
        shape = None if proto.tensor_shape.unknown_rank else tuple(d.size for d in proto.tensor_shape.dim)
        return TensorInfo(alias, types_pb2.DataType.Name(proto.dtype), shape)

    return {
        key: Signature(
            name=key,
            inputs={alias: info(alias, t) for alias, t in sig.inputs.items()},
            outputs={alias: info(alias, t) for alias, t in sig.outputs.items()},
            method_name=sig.method_name,
        )
        for key, sig in meta_graph.signature_def.items()
    }


def signature_defs_json(meta_graph) -> dict:
    """The SignatureDefMap of a MetaGraphDef in TF Serving's metadata JSON layout (proto field names,
    default values printed, int64 as strings)."""
    from google.protobuf import json_format

    def to_dict(message):
        return json_format.MessageToDict(
            message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )

    return {"signature_def": {key: to_dict(sig) for key, sig in meta_graph.signature_def.items()}}
