"""Export metadata: what a deployed embedder expects and how it was checked, as one JSON document.

The same document travels three ways: ``assets/lrfr_export.json`` inside an exported SavedModel, a
``<model>.json`` file beside every exported ``.tflite``, and an entry named ``lrfr_tf`` in the
``.tflite`` flatbuffer's metadata map (``Model.metadata``: name + buffer index, the mechanism TFLite
metadata itself uses), so a camera holding only the ``.tflite`` file still knows its input contract.

TensorFlow-free (the flatbuffer schema comes with ai-edge-litert): the edge runtime reads it too.

Fields (``METADATA_VERSION`` 1):
  format_version, lrfr_tf_version, name, format ("saved_model", "tflite_fp32", ...),
  source: {kind, path (as given), sha256}, preprocessing (``Preprocessing.get_config()``),
  input: {layout "NHWC", dtype, size [h, w], contract: "uint8_pixels_any_size" (SavedModel: crop,
  resize and normalisation in the graph) or "normalized" (TFLite: the caller applies preprocessing;
  an integer input is quantised with the tensor's scale and zero point)},
  embedding_dim, output: "l2_normalized",
  parity: the gate's measured figures for this format (``lrfr_tf.export.parity``),
  gate: "passed" | "failed" | "disabled (--no_gate)",
  thresholds: per-resolution-bucket verification thresholds once the model has been calibrated,
  else ``[]`` (rows ``{"min_px": 12, "max_px": 16, "threshold": 0.31, "far": 1e-3}``).
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

METADATA_NAME = "lrfr_tf"
METADATA_VERSION = 1
_TFLITE_IDENTIFIER = b"TFL3"


def to_json_bytes(metadata: Dict[str, Any]) -> bytes:
    return json.dumps(metadata, indent=1, sort_keys=True).encode("utf-8")


def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


def check_tflite(data: bytes, what: str) -> None:
    """ValueError naming ``what`` unless ``data`` carries the TFLite flatbuffer identifier."""
    if len(data) < 8 or data[4:8] != _TFLITE_IDENTIFIER:
        raise ValueError(f"{what}: not a TFLite flatbuffer (no 'TFL3' identifier)")


def embed_in_tflite(model_bytes: bytes, metadata: Dict[str, Any], what: str = "model") -> bytes:
    """``model_bytes`` with ``metadata`` stored as the ``lrfr_tf`` metadata entry (replacing an old one)."""
    import flatbuffers

    schema = _schema()
    check_tflite(model_bytes, what)
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model_bytes, 0))
    for buffer in model.buffers or []:  # buffers stored after the flatbuffer (offset/size, as ai-edge-quantizer
        if buffer.offset > 1:           # writes them) move inside: re-packing would leave their offsets dangling
            end = buffer.offset + buffer.size
            if end > len(model_bytes):
                raise ValueError(f"{what}: a constant buffer ends at byte {end} of {len(model_bytes)} (truncated file)")
            buffer.data = list(model_bytes[buffer.offset:end])
            buffer.offset, buffer.size = 0, 0
    model.metadata = [m for m in (model.metadata or []) if (m.name or b"") not in (METADATA_NAME, METADATA_NAME.encode())]
    buffer = schema.BufferT()
    buffer.data = list(to_json_bytes(metadata))
    model.buffers = list(model.buffers or []) + [buffer]
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)
    builder = flatbuffers.Builder(len(model_bytes) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=_TFLITE_IDENTIFIER)
    return bytes(builder.Output())


def read_from_tflite(model_bytes: bytes, what: str = "model") -> Optional[Dict[str, Any]]:
    """The ``lrfr_tf`` metadata entry of a .tflite flatbuffer, or None when it has none."""
    schema = _schema()
    check_tflite(model_bytes, what)
    model = schema.Model.GetRootAs(model_bytes, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if (entry.Name() or b"").decode("utf-8", "replace") != METADATA_NAME:
            continue
        index = entry.Buffer()
        if not 0 <= index < model.BuffersLength():
            raise ValueError(f"{what}: metadata {METADATA_NAME!r} points at buffer {index} of {model.BuffersLength()}")
        data = model.Buffers(index).DataAsNumpy()
        if isinstance(data, int):  # empty vector
            raise ValueError(f"{what}: metadata {METADATA_NAME!r} is empty")
        try:
            return json.loads(bytes(data).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{what}: metadata {METADATA_NAME!r} is not JSON ({e})") from None
    return None


def read_tflite_file(path: str) -> Optional[Dict[str, Any]]:
    with open(path, "rb") as f:
        return read_from_tflite(f.read(), path)
