"""The predict API's JSON <-> tensors, as TF Serving's util/json_tensor.cc does it.

Requests: ``{"signature_name": ..., "instances": [...]}`` (row format: one element per instance; a bare
value/list when the signature has one input, an object keyed by input name when it has several) or
``{"inputs": ...}`` (columnar: the batched tensor, or an object of them). Each value must be of the
signature's dtype (integers for integer types, numbers for floats, strings or ``{"b64": ...}`` for strings).
Responses: ``{"predictions": [...]}`` for row requests (a bare value per instance with one output, an object
per instance with several) and ``{"outputs": ...}`` for columnar ones; floats written with six significant
digits when that reads back as the same value, else full precision.

Error messages are TF Serving's. Well-formed numeric requests take a NumPy fast path; anything it cannot
prove valid is walked element by element (the reference path), which finds and names the first bad value.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import itertools
import json
import math
from typing import Dict, List, Optional, Tuple

import numpy as np

from lrfr_tf.serve.serving_errors import ServingError, invalid_argument
from lrfr_tf.serve.signature_info import TensorInfo, shape_string

INSTANCES = "instances"
INPUTS = "inputs"
SIGNATURE_NAME = "signature_name"
ROW = "row"
COLUMNAR = "columnar"

NUMPY_TYPES = {
    "DT_FLOAT": np.float32,
    "DT_DOUBLE": np.float64,
    "DT_INT32": np.int32,
    "DT_INT16": np.int16,
    "DT_INT8": np.int8,
    "DT_UINT8": np.uint8,
    "DT_INT64": np.int64,
    "DT_UINT32": np.uint32,
    "DT_UINT64": np.uint64,
    "DT_BOOL": np.bool_,
    "DT_STRING": object,
}
_FLOAT_TYPES = {"DT_FLOAT", "DT_DOUBLE"}
_MAX_DEBUG_CHARS = 256
_DECODER = json.JSONDecoder()
_DEBUG_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------------------------------------- requests


def parse_document(body: bytes) -> dict:
    """The request body as a JSON object (trailing text after the document is ignored, as rapidjson's
    kParseStopWhenDoneFlag does; NaN and Infinity are accepted)."""
    if not body:
        raise invalid_argument("JSON Parse error: The document is empty")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise invalid_argument(f"JSON Parse error: Invalid encoding in string. at offset: {e.start}") from None
    start = len(text) - len(text.lstrip(" \t\r\n"))
    if start == len(text):
        raise invalid_argument(f"JSON Parse error: The document is empty. at offset: {start}")
    try:
        doc, _ = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as e:
        raise invalid_argument(f"JSON Parse error: {e.msg} at offset: {e.pos}") from None
    except RecursionError:
        raise invalid_argument("JSON Parse error: the document is nested too deeply") from None
    if not isinstance(doc, dict):
        raise _format_error(doc, "Is not object")
    return doc


def signature_name_of(doc: dict) -> str:
    """The request's ``signature_name`` ('' when absent: the default signature)."""
    name = doc.get(SIGNATURE_NAME, "")
    if not isinstance(name, str):
        raise invalid_argument(
            "JSON Value: ", debug_string(doc),
            " not formatted correctly. 'signature_name' key must be a string value.",
        )
    return name


def request_tensors(doc: dict, inputs: Dict[str, TensorInfo], signature_name: str) -> Tuple[str, Dict[str, np.ndarray]]:
    """``(ROW or COLUMNAR, {input name: array of the signature's dtype})`` from a parsed request."""
    if not inputs:
        raise invalid_argument("Failed to get input map for signature: ", signature_name or "DEFAULT")
    if INSTANCES in doc and INPUTS in doc:
        raise _format_error(
            doc, f"Not formatted correctly expecting only one of '{INPUTS}' or '{INSTANCES}' keys to exist "
        )
    if INSTANCES in doc:
        instances = doc[INSTANCES]
        if not isinstance(instances, list):
            raise _format_error(doc, f"Expecting '{INSTANCES}' to be an list/array")
        if not instances:
            raise _format_error(doc, f"No values in '{INSTANCES}' array")
        return ROW, _tensors_from_instances(instances, inputs)
    if INPUTS in doc:
        return COLUMNAR, _tensors_from_inputs(doc[INPUTS], inputs)
    raise invalid_argument(f"Missing '{INPUTS}' or '{INSTANCES}' key")


def _tensors_from_instances(instances: list, inputs: Dict[str, TensorInfo]) -> Dict[str, np.ndarray]:
    if not isinstance(instances[0], dict) and len(inputs) > 1:
        raise invalid_argument(
            "instances is a plain list, but expecting list of objects as multiple input tensors required "
            "as per tensorinfo_map"
        )
    objects = _is_element_object(instances[0])
    fast = None
    if not objects:
        name = _first_name(inputs)
        fast = {name: _fast_tensor(instances, inputs[name])}
    elif all(_is_element_object(e) and e.keys() == inputs.keys() for e in instances):
        fast = {name: _fast_tensor([e[name] for e in instances], info) for name, info in inputs.items()}
    if fast is not None and all(array is not None for array in fast.values()):
        return fast
    return _walk_instances(instances, inputs, objects)


@dataclasses.dataclass
class _Column:
    """The values of one named input gathered over the instances, and the shape every instance must have."""

    values: list
    shape: Tuple[int, ...]


def _walk_instances(instances: list, inputs: Dict[str, TensorInfo], objects: bool) -> Dict[str, np.ndarray]:
    """The reference path for row requests (FillTensorMapFromInstancesList)."""
    columns: Dict[str, _Column] = {}
    for index, element in enumerate(instances):
        if objects:
            if not _is_element_object(element):
                raise invalid_argument(f"Expecting object but got list at item {index} of input list")
            for key, value in element.items():
                try:
                    _add_instance_item(value, key, inputs, columns)
                except ServingError as e:
                    raise invalid_argument(
                        f"Failed to process element: {index} key: {key} of '{INSTANCES}' list. Error: ",
                        e.to_string(),
                    ) from None
            if element.keys() != inputs.keys():
                raise invalid_argument(
                    f"Failed to process element: {index} of '{INSTANCES}' list. JSON object: ",
                    debug_string(element), " keys must be equal to: ", ",".join(sorted(inputs)),
                )
        else:
            if _is_element_object(element):
                raise invalid_argument(f"Expecting value/list but got object at item {index} of input list")
            try:
                _add_instance_item(element, _first_name(inputs), inputs, columns)
            except ServingError as e:
                raise invalid_argument(
                    f"Failed to process element: {index} of '{INSTANCES}' list. Error: ", e.to_string()
                ) from None
    count = len(instances)
    return {
        name: _array(column.values, inputs[name], (count,) + column.shape) for name, column in columns.items()
    }


def _add_instance_item(item, name: str, inputs: Dict[str, TensorInfo], columns: Dict[str, _Column]) -> None:
    if name not in inputs:
        raise invalid_argument("JSON object: does not have named input: ", name)
    shape = _dense_shape(item)
    values: list = []
    _fill(item, 0, inputs[name], shape, values)
    column = columns.get(name)
    if column is None:
        columns[name] = _Column(values, shape)
    elif math.prod(column.shape) != len(values):
        raise invalid_argument(f"Expecting tensor size: {math.prod(column.shape)} but got: {len(values)}")
    elif column.shape != shape:
        raise invalid_argument(f"Expecting shape {shape_string(column.shape)} but got: {shape_string(shape)}")
    else:
        column.values.extend(values)


def _tensors_from_inputs(value, inputs: Dict[str, TensorInfo]) -> Dict[str, np.ndarray]:
    """Columnar requests (FillTensorMapFromInputsMap): keys the signature does not name are ignored."""
    if not isinstance(value, dict) or _is_b64(value):
        if len(inputs) > 1:
            raise invalid_argument(
                "inputs is a plain value/list, but expecting an object as multiple input tensors required "
                "as per tensorinfo_map"
            )
        name = _first_name(inputs)
        return {name: tensor_from_json(value, inputs[name])}
    tensors = {}
    for name in sorted(inputs):
        if name not in value:
            raise invalid_argument(f"Missing named input: {name} in '{INPUTS}' object.")
        tensors[name] = tensor_from_json(value[name], inputs[name])
    return tensors


def tensor_from_json(value, info: TensorInfo, fast: bool = True) -> np.ndarray:
    """One dense tensor of ``info.dtype`` from a JSON value (scalar or nested lists)."""
    if fast:
        array = _fast_tensor(value, info)
        if array is not None:
            return array
    shape = _dense_shape(value)
    values: list = []
    _fill(value, 0, info, shape, values)
    return _array(values, info, shape)


def _dense_shape(value) -> Tuple[int, ...]:
    """The shape implied by the first element at every level (GetDenseTensorShape)."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return tuple(shape)


def _fill(value, level: int, info: TensorInfo, shape: Tuple[int, ...], out: list) -> None:
    """Append the leaves of ``value`` to ``out`` after checking its nesting, sizes and types (FillTensorProto)."""
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise invalid_argument(
                "JSON Value: ", debug_string(value), f" found at incorrect level: {level + 1}",
                f" in the JSON DOM. Expected at level: {rank}",
            )
        if isinstance(value, dict):
            if info.dtype != "DT_STRING":
                raise _type_error(value, info)
            out.append(_decode_b64(value))
        else:
            out.append(_json_scalar(value, info))
        return
    if level >= rank:
        raise invalid_argument(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(value) != shape[level]:
        raise invalid_argument(
            f"Encountered list at unexpected size: {len(value)} at level: {level} expected size: {shape[level]}"
        )
    for element in value:
        _fill(element, level + 1, info, shape, out)


def _json_scalar(value, info: TensorInfo):
    """A JSON scalar as a value of ``info.dtype`` (AddValueToTensor); integers must fit the integer type."""
    dtype = info.dtype
    if dtype not in NUMPY_TYPES:
        raise ServingError(
            "UNIMPLEMENTED", f"Conversion of JSON Value: {debug_string(value)} to type: {info.type_string}"
        )
    if dtype == "DT_STRING":
        if isinstance(value, str):
            return value.encode("utf-8")
    elif dtype == "DT_BOOL":
        if isinstance(value, bool):
            return value
    elif isinstance(value, bool):
        pass
    elif dtype in _FLOAT_TYPES:
        if isinstance(value, (int, float)):
            return value
    elif isinstance(value, int):
        limits = np.iinfo(NUMPY_TYPES[dtype])
        if limits.min <= value <= limits.max:
            return value
    raise _type_error(value, info)


def _fast_tensor(values, info: TensorInfo) -> Optional[np.ndarray]:
    """The tensor via NumPy when ``values`` is a dense, well-typed numeric nest; None to take the reference
    path (ragged lists, wrong or mixed leaf types, out-of-range integers, strings)."""
    np_type = NUMPY_TYPES.get(info.dtype)
    if np_type is None or np_type is object:
        return None
    try:
        array = np.asarray(values)
    except (ValueError, TypeError, OverflowError, RecursionError):
        return None
    if array.dtype.kind not in "biuf":
        return None
    leaves = values
    for _ in range(array.ndim - 1):
        leaves = itertools.chain.from_iterable(leaves)
    leaf_types = set(map(type, leaves)) if array.ndim else {type(values)}
    if info.dtype == "DT_BOOL":
        allowed = {bool}
    elif info.dtype in _FLOAT_TYPES:
        allowed = {int, float}
    else:
        allowed = {int}
        limits = np.iinfo(np_type)
        if array.size and (array.min() < limits.min or array.max() > limits.max):
            return None
    if not leaf_types <= allowed:
        return None
    with np.errstate(over="ignore"):
        return array.astype(np_type)


def _array(values: list, info: TensorInfo, shape: Tuple[int, ...]) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.array(values, dtype=NUMPY_TYPES[info.dtype]).reshape(shape)


def _first_name(inputs: Dict[str, TensorInfo]) -> str:
    return min(inputs)


def _is_b64(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _is_element_object(value) -> bool:
    return isinstance(value, dict) and not _is_b64(value)


def _decode_b64(value) -> bytes:
    if not _is_b64(value):
        raise invalid_argument("JSON Value: ", debug_string(value), " not formatted correctly for base64 data")
    text = value["b64"]
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise invalid_argument("Unable to base64 decode") from None


def _json_type(value) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    return {dict: "Object", list: "Array", str: "String"}.get(type(value), "Number")


def _type_error(value, info: TensorInfo) -> ServingError:
    return invalid_argument(
        "JSON Value: ", debug_string(value), " Type: ", _json_type(value),
        " is not of expected type: ", info.type_string,
    )


def _format_error(value, message: str) -> ServingError:
    return invalid_argument("JSON Value: ", debug_string(value), " ", message)


def debug_string(value) -> str:
    """Compact JSON of ``value`` cut after about 256 characters (for error messages)."""
    chunks: List[str] = []
    length = 0
    for chunk in _DEBUG_ENCODER.iterencode(value):
        chunks.append(chunk)
        length += len(chunk)
        if length >= _MAX_DEBUG_CHARS:
            break
    return "".join(chunks)


# --------------------------------------------------------------------------------------------- responses


def predict_response(outputs: Dict[str, np.ndarray], request_format: str) -> str:
    """The JSON body for a predict request's outputs, in the request's format."""
    if not outputs:
        raise invalid_argument("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    texts = {name: _leaf_texts(name, outputs[name]) for name in names}
    if request_format == ROW:
        batch_size = None
        for name in names:
            if outputs[name].ndim == 0:
                raise invalid_argument(f"Tensor name: {name} has no shape information ")
            size = outputs[name].shape[0]
            if batch_size is not None and size != batch_size:
                raise invalid_argument(f"Tensor name: {name} has inconsistent batch size: {size} expecting: {batch_size}")
            batch_size = size
        if len(names) == 1:
            items = [_nest(row) for row in texts[names[0]]]
        else:
            items = [
                "{" + ", ".join(f"{json.dumps(name)}: {_nest(texts[name][i])}" for name in names) + "}"
                for i in range(batch_size)
            ]
        return '{\n    "predictions": [' + ", ".join(items) + "]\n}"
    if len(names) == 1:
        body = _nest(texts[names[0]])
    else:
        body = "{" + ", ".join(f"{json.dumps(name)}: {_nest(texts[name])}" for name in names) + "}"
    return '{\n    "outputs": ' + body + "\n}"


def _nest(texts) -> str:
    """JSON text of an object array of leaf texts (or one leaf)."""
    if not isinstance(texts, np.ndarray):
        return texts
    if texts.ndim == 0:
        return texts.item()
    if texts.ndim == 1:
        return "[" + ", ".join(texts.tolist()) + "]"
    return "[" + ", ".join(_nest(t) for t in texts) + "]"


def _leaf_texts(name: str, array: np.ndarray) -> np.ndarray:
    """Every element of ``array`` as JSON text, in an object array of the same shape."""
    flat = array.reshape(-1)
    kind = array.dtype.kind
    if array.dtype in (np.float32, np.float64):
        texts = format_floats(flat)
    elif kind in "iu":
        texts = [str(v) for v in flat.tolist()]
    elif kind == "b":
        texts = ["true" if v else "false" for v in flat.tolist()]
    elif kind in "OS":
        if name.endswith("_bytes"):  # TF Serving's rule: string outputs named *_bytes are base64 objects
            texts = ['{"b64": "' + base64.b64encode(bytes(v)).decode("ascii") + '"}' for v in flat.tolist()]
        else:
            texts = [
                json.dumps(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v), ensure_ascii=False)
                for v in flat.tolist()
            ]
    else:
        raise invalid_argument(f"Failed to write JSON value for tensor type: {array.dtype.name}")
    out = np.empty(len(texts), dtype=object)
    out[:] = texts
    return out.reshape(array.shape)


def format_floats(values: np.ndarray) -> List[str]:
    """Floats as TF Serving writes them (WriteDecimal): ``%g`` when it reads back as the same value, else
    full precision (9 digits for float32, 17 for float64); ``.0`` added to whole numbers; NaN, Infinity
    and -Infinity spelt as JavaScript does."""
    as_list = values.tolist()
    short = ["%g" % v for v in as_list]
    with np.errstate(over="ignore", invalid="ignore"):
        reads_back = (np.array(short, dtype=np.float64).astype(values.dtype) == values).tolist()
    digits = 9 if values.dtype == np.float32 else 17
    texts = []
    for value, text, exact in zip(as_list, short, reads_back):
        if not math.isfinite(value):
            texts.append("NaN" if value != value else ("Infinity" if value > 0 else "-Infinity"))
            continue
        if not exact:
            text = "%.*g" % (digits, value)
        if "." not in text and "e" not in text:
            text += ".0"
        texts.append(text)
    return texts
