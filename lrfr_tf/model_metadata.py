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

import dataclasses
import json
import math
from typing import Any, Dict, List, Optional, Sequence

METADATA_NAME = "lrfr_tf"
METADATA_VERSION = 1
_TFLITE_IDENTIFIER = b"TFL3"


@dataclasses.dataclass(frozen=True)
class Bucket:
    """Faces with ``min_px <= face_px < max_px`` (``max_px`` None: no upper bound); ``threshold`` None abstains."""

    min_px: float
    max_px: Optional[float]
    threshold: Optional[float]
    far: Optional[float] = None

    def contains(self, face_px: float) -> bool:
        return face_px >= self.min_px and (self.max_px is None or face_px < self.max_px)


def parse_thresholds(rows: Sequence[Dict[str, Any]], what: str = "thresholds") -> List[Bucket]:
    """Buckets from metadata rows ``{min_px, max_px, threshold, far}``, sorted by ``min_px``; ValueError naming
    ``what`` for a malformed or overlapping table."""
    buckets = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or "min_px" not in row or "threshold" not in row:
            raise ValueError(f"{what}[{i}]: expected {{min_px, max_px, threshold, far}}, got {row!r}")
        numbers = [row.get(k) for k in ("min_px", "max_px", "threshold", "far")]
        if any(isinstance(v, (bool, str)) for v in numbers):  # float(True) is 1.0, float("0.4") is 0.4: not numbers
            raise ValueError(f"{what}[{i}]: non-numeric values in {row!r}")
        try:
            low = float(row["min_px"])
            high = None if row.get("max_px") is None else float(row["max_px"])
            threshold = None if row["threshold"] is None else float(row["threshold"])
            far = None if row.get("far") is None else float(row["far"])
        except (TypeError, ValueError):
            raise ValueError(f"{what}[{i}]: non-numeric values in {row!r}") from None
        if not math.isfinite(low) or low < 0 or (high is not None and not high > low):
            raise ValueError(f"{what}[{i}]: expected 0 <= min_px < max_px, got {row!r}")
        if threshold is not None and not -1.0 <= threshold <= 1.0:
            raise ValueError(f"{what}[{i}]: threshold {threshold} is not a cosine similarity in [-1, 1]")
        if far is not None and not 0.0 <= far <= 1.0:
            raise ValueError(f"{what}[{i}]: far {far} is not a rate in [0, 1]")
        buckets.append(Bucket(low, high, threshold, far))
    buckets.sort(key=lambda b: b.min_px)
    for a, b in zip(buckets, buckets[1:]):
        if a.max_px is None or a.max_px > b.min_px:
            raise ValueError(f"{what}: buckets [{a.min_px}, {a.max_px}) and [{b.min_px}, {b.max_px}) overlap")
    return buckets


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
