"""Read a MobileFaceNet-style float32 TFLite file: its architecture and BN-folded weights.

The graph is read with the TFLite flatbuffer schema (ops, their options,
tensors and constant buffers), reduced to a chain of convolution units (conv
or depthwise conv with batch norm folded into weights and bias, an optional
activation: fused RELU, a PRELU op, or the PReLU that TOCO decomposes into
relu(x) + c * (x - |x|), i.e. slope 2c) and residual additions, and matched
to the MobileFaceNet layout:

    conv3x3 s2 (act) -> depthwise3x3 (act) [-> linear conv1x1]
    -> bottlenecks: conv1x1 (act) -> depthwise3x3 stride s (act) -> linear conv1x1 [+ shortcut]
    -> conv1x1 (act) -> linear global depthwise conv (GDC, kernel = whole map)
    [-> linear conv1x1] -> linear conv1x1 (embedding) -> reshape [B, D]

Channel counts, expansion ratios, strides, the GDC size and the optional
layers come from the graph; anything else raises ``TFLiteImportError``
naming the op. ``lrfr_tf.models.mobilefacenet.load_mobilefacenet_tflite``
builds the Keras model from what this module reads (this module imports no
model).

    python -m lrfr_tf.models.tflite_import path/to/MobileFaceNet.tflite   # op list and derived config
"""

from __future__ import annotations

import dataclasses
import pathlib
import struct
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np


class TFLiteImportError(ValueError):
    """The .tflite graph is not one the importer understands."""


@dataclasses.dataclass
class Tensor:
    name: str
    shape: Tuple[int, ...]
    dtype: str
    data: Optional[np.ndarray]  # constant value, None for activations


@dataclasses.dataclass
class Op:
    index: int
    name: str
    inputs: List[int]
    outputs: List[int]
    options: object


@dataclasses.dataclass
class ConvUnit:
    """One convolution of the graph with its folded bias and the activation that follows it."""

    op: Op
    depthwise: bool
    kernel: np.ndarray  # Keras layout: [kh, kw, in, out] or depthwise [kh, kw, C, 1]
    bias: np.ndarray
    strides: Tuple[int, int]
    padding: str  # "same" | "valid"
    input: int
    output: int  # tensor id after the activation
    in_shape: Tuple[int, ...]
    out_shape: Tuple[int, ...]
    activation: Optional[str] = None
    alpha: Optional[np.ndarray] = None

    @property
    def kernel_size(self) -> Tuple[int, int]:
        return self.kernel.shape[0], self.kernel.shape[1]

    @property
    def filters(self) -> int:
        return self.out_shape[-1]

    def describe(self) -> str:
        kind = "depthwise" if self.depthwise else "conv"
        return (f"op {self.op.index} {self.op.name} ({kind} {self.kernel_size[0]}x{self.kernel_size[1]} "
                f"stride {self.strides[0]} {self.padding}, {self.in_shape[-1]}->{self.filters}, "
                f"activation {self.activation})")


class TFLiteGraph:
    """Ops and tensors of the first subgraph of a .tflite file."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such TFLite file")
        from tensorflow.lite.python import schema_py_generated as schema

        buf = self.path.read_bytes()
        if len(buf) < 16 or buf[4:8] != b"TFL3":
            raise TFLiteImportError(f"{self.path}: not a TFLite flatbuffer (identifier {buf[4:8]!r}, expected b'TFL3')")
        root = int.from_bytes(buf[:4], "little")
        if root + 4 > len(buf):
            raise TFLiteImportError(f"{self.path}: truncated TFLite file (root table at byte {root}, file is {len(buf)} bytes)")
        try:
            self._parse(schema, buf)
        except TFLiteImportError:
            raise
        except (struct.error, IndexError, ValueError, TypeError, AttributeError, OverflowError) as e:
            raise TFLiteImportError(f"{self.path}: corrupt or truncated TFLite file ({type(e).__name__}: {e})") from None

    def _parse(self, schema, buf: bytes) -> None:
        model = schema.ModelT.InitFromPackedBuf(buf, 0)
        if len(model.subgraphs) != 1:
            raise TFLiteImportError(f"{self.path}: {len(model.subgraphs)} subgraphs, expected 1")
        graph = model.subgraphs[0]
        op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
        type_names = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
        self.tensors: List[Tensor] = []
        for t in graph.tensors:
            data = None
            b = model.buffers[t.buffer] if t.buffer < len(model.buffers) else None
            raw = None
            if b is not None and b.data is not None and len(b.data):
                raw = np.asarray(b.data, np.uint8).tobytes()
            elif b is not None and b.offset > 1:
                if b.offset + b.size > len(buf):
                    raise TFLiteImportError(f"{self.path}: truncated TFLite file (tensor {t.name!r} data at bytes "
                                            f"{b.offset}..{b.offset + b.size}, file is {len(buf)} bytes)")
                raw = buf[b.offset:b.offset + b.size]
            dtype = type_names.get(t.type, str(t.type))
            shape = tuple(int(s) for s in (t.shape if t.shape is not None else ()))
            if raw is not None:
                np_dtype = {"float32": np.float32, "int32": np.int32, "int64": np.int64}.get(dtype)
                data = np.frombuffer(raw, np_dtype).reshape(shape) if np_dtype else np.frombuffer(raw, np.uint8)
            self.tensors.append(Tensor(t.name.decode() if t.name else "", shape, dtype, data))
        self.ops: List[Op] = []
        for i, op in enumerate(graph.operators):
            code = model.operatorCodes[op.opcodeIndex]
            builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
            name = op_names.get(builtin, f"BUILTIN_{builtin}")
            if name == "CUSTOM":
                name = f"CUSTOM({code.customCode.decode() if code.customCode else '?'})"
            self.ops.append(Op(i, name, [int(k) for k in op.inputs], [int(k) for k in op.outputs], op.builtinOptions))
        self.inputs = [int(k) for k in graph.inputs]
        self.outputs = [int(k) for k in graph.outputs]
        self.padding_names = {v: k.lower() for k, v in vars(schema.Padding).items() if not k.startswith("_")}
        self.activation_names = {v: k for k, v in vars(schema.ActivationFunctionType).items()
                                 if not k.startswith("_")}

    def error(self, op: Op, problem: str) -> TFLiteImportError:
        return TFLiteImportError(f"{self.path}: op {op.index} {op.name}: {problem}")

    def constant(self, tensor_id: int) -> Optional[np.ndarray]:
        return None if tensor_id < 0 else self.tensors[tensor_id].data

    def describe(self) -> str:
        """The op list: index, op, input and output tensor shapes (constants marked)."""

        def fmt(k):
            if k < 0:
                return "-"
            t = self.tensors[k]
            return f"{'const' if t.data is not None else 't'}{k}{list(t.shape)}"

        lines = [f"{self.path}: {len(self.ops)} ops, {len(self.tensors)} tensors; inputs "
                 f"{[fmt(k) for k in self.inputs]}, outputs {[fmt(k) for k in self.outputs]}"]
        for op in self.ops:
            lines.append(f"{op.index:4d} {op.name:18s} {', '.join(fmt(k) for k in op.inputs)} -> "
                         f"{', '.join(fmt(k) for k in op.outputs)}")
        return "\n".join(lines)


def _fused_activation(graph: TFLiteGraph, op: Op) -> Optional[str]:
    act = graph.activation_names.get(getattr(op.options, "fusedActivationFunction", 0), "?")
    if act == "NONE":
        return None
    if act == "RELU":
        return "relu"
    raise graph.error(op, f"fused activation {act} is not supported (NONE, RELU)")


def _conv_unit(graph: TFLiteGraph, op: Op) -> ConvUnit:
    x, w_id = op.inputs[0], op.inputs[1]
    w = graph.constant(w_id)
    if w is None or graph.tensors[w_id].dtype != "float32":
        raise graph.error(op, f"weights must be a float32 constant (got {graph.tensors[w_id].dtype}); "
                              "quantised or dynamically fed weights are not supported")
    if graph.constant(x) is not None:
        raise graph.error(op, "the input is a constant")
    opts = op.options
    if (opts.dilationHFactor, opts.dilationWFactor) != (1, 1):
        raise graph.error(op, "dilated convolutions are not supported")
    in_shape, out_shape = graph.tensors[x].shape, graph.tensors[op.outputs[0]].shape
    depthwise = op.name == "DEPTHWISE_CONV_2D"
    if depthwise:
        if w.shape[-1] != in_shape[-1]:
            raise graph.error(op, f"depth multiplier {w.shape[-1] // in_shape[-1]} is not supported (only 1)")
        kernel = w.reshape(w.shape[1], w.shape[2], w.shape[3], 1)
    else:
        kernel = np.transpose(w, (1, 2, 3, 0))  # [O, kh, kw, I] -> [kh, kw, I, O]
    bias = graph.constant(op.inputs[2]) if len(op.inputs) > 2 else None
    if bias is None:
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            raise graph.error(op, "the bias is not a constant")
        bias = np.zeros(out_shape[-1], np.float32)
    return ConvUnit(op=op, depthwise=depthwise, kernel=np.array(kernel, np.float32), bias=np.array(bias, np.float32),
                    strides=(opts.strideH, opts.strideW), padding=graph.padding_names[opts.padding], input=x,
                    output=op.outputs[0], in_shape=in_shape, out_shape=out_shape,
                    activation=_fused_activation(graph, op))


def parse_units(graph: TFLiteGraph) -> Tuple[List[ConvUnit], Dict[int, Tuple[int, int, Op]], int]:
    """Reduce the graph to conv units, residual additions {output: (a, b, op)} and the embedding tensor."""
    consumers: Dict[int, List[Op]] = {}
    for op in graph.ops:
        for k in op.inputs:
            consumers.setdefault(k, []).append(op)
    units: List[ConvUnit] = []
    by_output: Dict[int, ConvUnit] = {}
    residuals: Dict[int, Tuple[int, int, Op]] = {}
    consumed = set()
    embedding = None

    def unit_for_activation(op: Op, x: int) -> ConvUnit:
        unit = by_output.get(x)
        if unit is None or unit.activation is not None:
            raise graph.error(op, f"activation on tensor {x}, which is not the output of a linear convolution")
        return unit

    def attach(unit: ConvUnit, activation: str, alpha, output: int) -> None:
        del by_output[unit.output]
        unit.activation, unit.alpha, unit.output = activation, alpha, output
        by_output[output] = unit

    def prelu_pattern(relu: Op):
        """relu(x) + c * (x - abs(x)) as TOCO writes tf PReLU: returns (slopes 2c, ops, output) or None."""
        x = relu.inputs[0]
        abs_op = next((o for o in consumers.get(x, []) if o.name == "ABS"), None)
        if abs_op is None:
            return None
        sub = next((o for o in consumers.get(x, []) if o.name == "SUB" and o.inputs == [x, abs_op.outputs[0]]), None)
        if sub is None or len(consumers.get(sub.outputs[0], [])) != 1:
            return None
        mul = consumers[sub.outputs[0]][0]
        if mul.name != "MUL":
            return None
        c_id = next(k for k in mul.inputs if k != sub.outputs[0])
        c = graph.constant(c_id)
        add = consumers.get(mul.outputs[0], [None])[0]
        if c is None or add is None or add.name != "ADD" or set(add.inputs) != {relu.outputs[0], mul.outputs[0]}:
            return None
        for o in (sub, mul, add):
            if _fused_activation(graph, o) is not None:
                return None
        return 2.0 * np.asarray(c, np.float32).reshape(-1), (abs_op, sub, mul, add), add.outputs[0]

    for op in graph.ops:
        if op.index in consumed:
            continue
        if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            unit = _conv_unit(graph, op)
            units.append(unit)
            by_output[unit.output] = unit
        elif op.name == "PRELU":
            unit = unit_for_activation(op, op.inputs[0])
            alpha = graph.constant(op.inputs[1])
            if alpha is None:
                raise graph.error(op, "PReLU slopes are not a constant")
            attach(unit, "prelu", np.asarray(alpha, np.float32).reshape(-1), op.outputs[0])
        elif op.name == "RELU":
            unit = unit_for_activation(op, op.inputs[0])
            pattern = prelu_pattern(op)
            if pattern is None:
                attach(unit, "relu", None, op.outputs[0])
            else:
                alpha, ops, output = pattern
                consumed.update(o.index for o in ops)
                attach(unit, "prelu", alpha, output)
        elif op.name == "ADD" and all(graph.constant(k) is None for k in op.inputs):
            if _fused_activation(graph, op) is not None:
                raise graph.error(op, "a residual addition with a fused activation is not supported")
            residuals[op.outputs[0]] = (op.inputs[0], op.inputs[1], op)
        elif op.name in ("RESHAPE", "SQUEEZE") and op.outputs[0] in graph.outputs:
            embedding = op.inputs[0]
        else:
            raise graph.error(op, "not an op of a MobileFaceNet-style graph (conv, depthwise conv, PReLU/ReLU, "
                                  "residual add, final reshape)")
    if embedding is None:
        if len(graph.outputs) == 1 and graph.outputs[0] in by_output:
            embedding = graph.outputs[0]
        else:
            raise TFLiteImportError(f"{graph.path}: the output {graph.outputs} is not a reshaped convolution output")
    return units, residuals, embedding


def mobilefacenet_config(graph: TFLiteGraph) -> Tuple[dict, List[ConvUnit]]:
    """MobileFaceNet constructor arguments read from the graph, and its conv units in the model's order."""
    units, residuals, embedding = parse_units(graph)
    if len(graph.inputs) != 1 or len(graph.tensors[graph.inputs[0]].shape) != 4 \
            or graph.tensors[graph.inputs[0]].shape[-1] != 3:
        raise TFLiteImportError(f"{graph.path}: expected one [B, H, W, 3] image input, got "
                                f"{[graph.tensors[k].shape for k in graph.inputs]}")
    pos = 0
    cur = graph.inputs[0]
    used_residuals = set()

    def matches(unit: ConvUnit, depthwise: bool, kernel: Optional[int], act: bool) -> bool:
        return (unit.depthwise == depthwise and (kernel is None or unit.kernel_size == (kernel, kernel))
                and (unit.activation is not None) == act)

    def take(what: str, depthwise: bool, kernel: Optional[int], act: bool, strides=None,
             same_padding: bool = True) -> ConvUnit:
        nonlocal pos, cur
        if pos >= len(units):
            raise TFLiteImportError(f"{graph.path}: the graph ends before the {what}")
        unit = units[pos]
        if unit.input != cur or not matches(unit, depthwise, kernel, act):
            kind = "depthwise" if depthwise else "conv"
            raise graph.error(unit.op, f"expected the {what} ({kind} {kernel or 'kxk'}, "
                                       f"{'with' if act else 'without'} activation, on tensor {cur}), got "
                                       f"{unit.describe()} on tensor {unit.input}")
        if strides is not None and unit.strides != (strides, strides):
            raise graph.error(unit.op, f"the {what} must have stride {strides}, got {unit.strides}")
        if same_padding and unit.kernel_size != (1, 1) and unit.padding != "same":
            raise graph.error(unit.op, f"the {what} must use SAME padding, got {unit.padding}")
        pos += 1
        cur = unit.output
        return unit

    def next_is(depthwise: bool, kernel: Optional[int], act: bool, offset: int = 0) -> bool:
        return pos + offset < len(units) and matches(units[pos + offset], depthwise, kernel, act)

    ordered = [take("stem conv3x3", False, 3, True, strides=2), take("stem depthwise conv3x3", True, 3, True, 1)]
    stem_channels = ordered[0].filters
    stem_pointwise = next_is(False, 1, False) and next_is(False, 1, True, 1)
    if stem_pointwise:
        ordered.append(take("stem pointwise conv1x1", False, 1, False, 1))
    blocks = []  # (expand channels, out channels, stride, in channels)
    channels = ordered[-1].filters
    while next_is(False, 1, True) and next_is(True, 3, True, 1) and next_is(False, 1, False, 2):
        expand = take("bottleneck expansion", False, 1, True, 1)
        dw = take("bottleneck depthwise conv3x3", True, 3, True)
        if dw.strides[0] != dw.strides[1]:
            raise graph.error(dw.op, f"non-square stride {dw.strides}")
        project = take("bottleneck projection", False, 1, False, 1)
        block_in = expand.input
        residual = next((k for k, (a, b, _) in residuals.items() if {a, b} == {project.output, block_in}), None)
        expected = dw.strides[0] == 1 and project.filters == channels
        if (residual is not None) != expected:
            raise graph.error(project.op, f"bottleneck {channels}->{project.filters} stride {dw.strides[0]} "
                                          f"{'has no' if expected else 'has a'} residual addition; MobileFaceNet "
                                          "adds the input exactly when stride = 1 and channels are unchanged")
        if residual is not None:
            used_residuals.add(residual)
            cur = residual
        blocks.append((expand.filters, project.filters, dw.strides[0], channels))
        channels = project.filters
        ordered += [expand, dw, project]
    if not blocks:
        raise TFLiteImportError(f"{graph.path}: no bottleneck (conv1x1+act, depthwise3x3+act, linear conv1x1) "
                                f"after {ordered[-1].describe()}")
    head_conv = take("head conv1x1", False, 1, True, 1)
    gdc = take("GDC (linear global depthwise conv)", True, None, False, 1, same_padding=False)
    if gdc.padding != "valid" or gdc.kernel_size != tuple(gdc.in_shape[1:3]) or tuple(gdc.out_shape[1:3]) != (1, 1):
        raise graph.error(gdc.op, f"the GDC must be a VALID depthwise conv over the whole {gdc.in_shape[1:3]} map, "
                                  f"got kernel {gdc.kernel_size} {gdc.padding}")
    ordered += [head_conv, gdc]
    gdc_pointwise = 0
    if next_is(False, 1, False) and next_is(False, 1, False, 1):
        ordered.append(take("pointwise conv1x1 after the GDC", False, 1, False, 1))
        gdc_pointwise = ordered[-1].filters
    final = take("embedding conv1x1", False, 1, False, 1)
    ordered.append(final)
    if pos != len(units):
        raise graph.error(units[pos].op, f"unexpected {units[pos].describe()} after the embedding conv")
    unused = set(residuals) - used_residuals
    if unused:
        raise graph.error(residuals[min(unused)][2], "residual addition outside a bottleneck")
    if embedding != final.output:
        raise TFLiteImportError(f"{graph.path}: the output is not the embedding conv {final.describe()}")
    activations = {u.activation for u in ordered if u.activation is not None}
    if len(activations) != 1:
        raise TFLiteImportError(f"{graph.path}: mixed activations {sorted(activations)}; MobileFaceNet uses one")

    stages: List[List] = []
    for expand, out, stride, cin in blocks:
        t = expand / cin
        last = stages[-1] if stages else None
        if last and stride == 1 and out == last[1] and int(round(last[0] * out)) == expand:
            last[2] += 1
        else:
            stages.append([t, out, 1, stride])
    input_shape = graph.tensors[graph.inputs[0]].shape
    config = dict(embedding_dim=final.filters, stem_channels=stem_channels, stages=stages,
                  head_channels=head_conv.filters, stem_pointwise=stem_pointwise, gdc_pointwise=gdc_pointwise,
                  activation=activations.pop(), input_size=(input_shape[1], input_shape[2]),
                  gdc_size=gdc.kernel_size)
    return config, ordered


def main(argv: List[str]) -> None:
    if len(argv) != 2:
        sys.exit("usage: python -m lrfr_tf.models.tflite_import FILE.tflite")
    graph = TFLiteGraph(argv[1])
    print(graph.describe())
    config, units = mobilefacenet_config(graph)
    print(f"\nMobileFaceNet config ({len(units)} convolutions, GDC head {config['gdc_size']}):")
    for key, value in config.items():
        print(f"  {key}: {value}")


if __name__ == "__main__":
    main(sys.argv)
