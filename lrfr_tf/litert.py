"""LiteRT (``ai_edge_litert``) without TensorFlow: reading a .tflite file, opening an interpreter, and moving
numbers across quantised tensors. Shared by the evaluation harness's TFLite embedder and the edge runtime."""

from __future__ import annotations

import os

import numpy as np

from lrfr_tf.model_metadata import check_tflite


def read_tflite_bytes(path: str, what: str = "--model") -> bytes:
    """The bytes of a .tflite file; FileNotFoundError / ValueError naming ``what`` and the file when it is
    missing or not a TFLite flatbuffer."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what}={path}: no such file")
    with open(path, "rb") as f:
        data = f.read()
    check_tflite(data, f"{what}={path}")
    return data


def open_interpreter(path: str, num_threads: int = 1, what: str = "--model", data: bytes | None = None):
    """An allocated ``ai_edge_litert`` Interpreter for ``path`` (``data``: its bytes, if already read)."""
    from ai_edge_litert.interpreter import Interpreter

    data = read_tflite_bytes(path, what) if data is None else data
    if num_threads is not None and num_threads < 1:
        raise ValueError(f"--num_threads={num_threads}: expected >= 1")
    try:
        interpreter = Interpreter(model_content=data, num_threads=num_threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise ValueError(f"{what}={path}: LiteRT cannot load it ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    return interpreter


def quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float values -> the tensor's dtype: integer tensors use ``round(x / scale + zero_point)``, saturated."""
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.integer):
        scale, zero = detail["quantization"]
        info = np.iinfo(dtype)
        x = np.clip(np.round(np.asarray(x, np.float32) / scale + zero), info.min, info.max)
    return np.ascontiguousarray(x, dtype=dtype)


def dequantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """A tensor's values as float32: integer tensors as ``(q - zero_point) * scale``."""
    if np.issubdtype(x.dtype, np.integer):
        scale, zero = detail["quantization"]
        return (x.astype(np.float32) - zero) * scale
    return np.array(x, np.float32)


def fuse_decomposed_prelu(data: bytes, what: str = "--model") -> bytes | None:
    """``data`` with every PReLU that TOCO wrote as ``relu(x) + c * (x - abs(x))`` (five float32 ops over the
    whole activation) replaced by one ``PRELU(x, 2c)``; None when the graph has no such chain (or keeps its
    constants outside the flatbuffer).

    Bit for bit the same arithmetic: ``x - abs(x)`` is exactly 0 or ``2x``, ``c * 0`` is a zero and
    ``x + 0 == x``; for ``x < 0``, ``relu(x) = 0`` and ``c * (2x) == (2c) * x`` (doubling is exact), one
    rounding each. Callers still compare outputs before trusting the copy (``TFLiteEmbedder`` does).
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    check_tflite(data, what)
    model = schema.ModelT.InitFromPackedBuf(data, 0)
    if any((b.offset or 0) > 1 for b in model.buffers or []) or len(model.subgraphs or []) != 1:
        return None
    graph = model.subgraphs[0]
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}

    def name(op) -> str:
        code = model.operatorCodes[op.opcodeIndex]
        return op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "?")

    def float32(k: int) -> bool:
        return k >= 0 and graph.tensors[k].type == schema.TensorType.FLOAT32

    def constant(k: int):
        b = model.buffers[graph.tensors[k].buffer] if k >= 0 else None
        if b is None or b.data is None or len(b.data) == 0 or not float32(k):
            return None
        return np.frombuffer(np.asarray(b.data, np.uint8).tobytes(), np.float32)

    def unfused(op) -> bool:
        return getattr(op.builtinOptions, "fusedActivationFunction", 0) == schema.ActivationFunctionType.NONE

    consumers: dict = {}
    for op in graph.operators:
        for k in op.inputs:
            consumers.setdefault(int(k), []).append(op)
    outputs = {int(k) for k in graph.outputs}

    def only_consumer(k: int):
        ops = consumers.get(k, [])
        return ops[0] if len(ops) == 1 and k not in outputs else None

    replaced, prelus = set(), {}
    for relu in graph.operators:
        if name(relu) != "RELU" or not float32(relu.inputs[0]):
            continue
        x = int(relu.inputs[0])
        channels = graph.tensors[x].shape[-1] if graph.tensors[x].shape is not None and len(graph.tensors[x].shape) else 0
        absolute = next((o for o in consumers.get(x, []) if name(o) == "ABS"), None)
        sub = absolute and only_consumer(int(absolute.outputs[0]))
        if sub is None or name(sub) != "SUB" or list(sub.inputs) != [x, absolute.outputs[0]] or not unfused(sub):
            continue
        mul = only_consumer(int(sub.outputs[0]))
        if mul is None or name(mul) != "MUL" or not unfused(mul):
            continue
        c_id = next((int(k) for k in mul.inputs if k != sub.outputs[0]), -1)
        c = constant(c_id)
        add = only_consumer(int(mul.outputs[0]))
        if (c is None or add is None or name(add) != "ADD" or not unfused(add) or only_consumer(int(relu.outputs[0])) is not add
                or sorted(int(k) for k in add.inputs) != sorted((int(relu.outputs[0]), int(mul.outputs[0])))
                or c.size not in (1, channels) or np.prod(graph.tensors[c_id].shape or [1]) != c.size):
            continue
        slope = np.broadcast_to(2.0 * c, (channels,)).astype(np.float32)
        if not np.all(np.isfinite(slope)):
            continue
        buffer = schema.BufferT()
        buffer.data = list(slope.tobytes())
        model.buffers.append(buffer)
        tensor = schema.TensorT()
        tensor.shape, tensor.type, tensor.buffer = [1, 1, channels], schema.TensorType.FLOAT32, len(model.buffers) - 1
        tensor.name = (graph.tensors[c_id].name or b"prelu") + b"/fused_slope"
        graph.tensors.append(tensor)
        prelu = schema.OperatorT()
        prelu.inputs, prelu.outputs = [x, len(graph.tensors) - 1], list(add.outputs)
        prelus[id(add)] = prelu
        replaced.update(id(o) for o in (relu, absolute, sub, mul))
    if not prelus:
        return None
    code_index = next((i for i, c in enumerate(model.operatorCodes)
                       if max(c.builtinCode, c.deprecatedBuiltinCode) == schema.BuiltinOperator.PRELU), None)
    if code_index is None:
        code = schema.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.PRELU
        code.version = 1
        model.operatorCodes.append(code)
        code_index = len(model.operatorCodes) - 1
    for prelu in prelus.values():
        prelu.opcodeIndex = code_index
    graph.operators = [prelus.get(id(op), op) for op in graph.operators if id(op) not in replaced]
    builder = flatbuffers.Builder(len(data) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
