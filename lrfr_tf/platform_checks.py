"""Known platform issues: a graph check for the op patterns that crash TF 2.21's oneDNN on AVX-512 CPUs.

On AMD EPYC CPUs with AVX-512 (README, "Known platform issues"; ``benchmarks/onednn_crash_repro.py``),
TensorFlow 2.21 with its default oneDNN kernels corrupts the heap, intermittently, in

* the filter gradient of a **1x1 convolution with stride > 1 and fewer than 16 input channels**
  (``Conv2DBackpropFilter``), and
* a **matmul with a rank >= 4 operand** (tensorflow/tensorflow#117700).

The library's own layers never build either pattern (``ConvBNAct`` runs a strided 1x1 conv as a
subsampling slice and a stride-1 conv), so every registered model trains with TF's default, fast
settings. A user's own layer may: ``onednn_hazards(graph)`` finds the patterns in a traced graph (a
pure graph check, the same answer on every machine), and the training engine runs it on its step
function before the first step. On a CPU that can crash it stops with the workaround instead of
crashing; elsewhere it logs a warning. The workaround, ``TF_ENABLE_ONEDNN_OPTS=0`` (or
``DNNL_MAX_CPU_ISA=AVX2``), must be set before TensorFlow is imported and costs speed.
"""

from __future__ import annotations

import os
import platform
from typing import Iterable, List

#: Strided 1x1 conv filter gradients crash below this many input channels (measured: 1-15 crash, 16 passes).
MIN_SAFE_CHANNELS = 16
WORKAROUND = ("set TF_ENABLE_ONEDNN_OPTS=0 (or DNNL_MAX_CPU_ISA=AVX2) in the environment before starting, "
              "or change the layer (README, 'Known platform issues')")


def cpu_flags() -> frozenset:
    """The CPU feature flags of /proc/cpuinfo (empty where unavailable)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def onednn_enabled(environ=None) -> bool:
    """Whether TF's oneDNN CPU kernels are on (the default on x86-64 Linux) at full AVX-512 ISA."""
    env = os.environ if environ is None else environ
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    if env.get("TF_ENABLE_ONEDNN_OPTS", "1").strip().lower() in ("0", "false", "off"):
        return False
    isa = env.get("DNNL_MAX_CPU_ISA", "").strip().upper()
    return not (isa and not isa.startswith("AVX512") and isa not in ("ALL", "AVX10_1_512"))


def crash_prone(environ=None, flags=None) -> bool:
    """True where the patterns can crash: oneDNN on, an AVX-512 CPU."""
    flags = cpu_flags() if flags is None else flags
    return onednn_enabled(environ) and "avx512f" in flags


def _graphs(graph) -> Iterable:
    """``graph`` and the bodies of the functions it calls (FuncGraphs of nested tf.functions)."""
    seen, stack = set(), [graph]
    while stack:
        g = stack.pop()
        if id(g) in seen:
            continue
        seen.add(id(g))
        yield g
        for fn in getattr(g, "_functions", {}).values():
            body = getattr(fn, "graph", None)
            if body is not None:
                stack.append(body)


def onednn_hazards(graph) -> List[str]:
    """Descriptions of the crash-prone ops in a ``tf.Graph`` / FuncGraph (or a ConcreteFunction)."""
    graph = getattr(graph, "graph", graph)
    found = []
    for g in _graphs(graph):
        for op in g.get_operations():
            if op.type == "Conv2DBackpropFilter":  # measured: the forward Conv2D does not crash
                strides = list(op.get_attr("strides"))
                fmt = op.get_attr("data_format").decode()
                spatial = strides[1:3] if fmt == "NHWC" else strides[2:4]
                x = op.inputs[0].shape
                cin = x[-1] if fmt == "NHWC" else x[1]
                kernel = _const_filter_hw(op)
                if kernel == (1, 1) and max(spatial) > 1 and cin is not None and cin < MIN_SAFE_CHANNELS:
                    found.append(f"{op.type} {op.name}: 1x1 kernel, strides {spatial}, {cin} input channels")
            elif op.type in ("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"):
                ranks = [t.shape.rank for t in op.inputs[:2]]
                if any(r is not None and r >= 4 for r in ranks):
                    found.append(f"{op.type} {op.name}: operand ranks {ranks} (tensorflow/tensorflow#117700)")
    return found


def _const_filter_hw(op):
    """(kh, kw) of a Conv2DBackpropFilter: its filter_sizes input is a constant or ``Shape(filter)``."""
    sizes = op.inputs[1]
    if sizes.op.type in ("Shape", "ShapeN"):  # ShapeN: the value_index-th input's shape
        source = sizes.op.inputs[sizes.value_index if sizes.op.type == "ShapeN" else 0]
        hw = tuple(source.shape[:2]) if source.shape.rank == 4 else (None,)
        return None if None in hw else hw
    try:
        from tensorflow.python.framework import tensor_util

        value = tensor_util.constant_value(op.inputs[1])
    except Exception:  # noqa: BLE001 - not constant: unknown kernel
        return None
    return None if value is None else (int(value[0]), int(value[1]))


def check_graph(graph, what: str, environ=None, flags=None) -> List[str]:
    """Raise RuntimeError on a crash-prone machine if ``graph`` has a hazard; return the hazards.

    On other machines the caller may log them (they would crash on an AVX-512 CPU with oneDNN).
    """
    hazards = onednn_hazards(graph)
    if hazards and crash_prone(environ, flags):
        raise RuntimeError(
            f"{what} contains ops that crash TensorFlow's oneDNN kernels on this AVX-512 CPU "
            f"({'; '.join(hazards[:3])}{' ...' if len(hazards) > 3 else ''}): {WORKAROUND}")
    return hazards
