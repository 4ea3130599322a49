"""Main environment: the export's parity gate on int8 .tflite files from other routes, and their metadata.

``gate_routes`` measures any number of .tflite files against one source model with the export's gate
(``lrfr_tf.export.parity``: per-image cosine at 112, 8, 14 and 28 px, 10-fold accuracy at 112 px and on
``low_res_focus``, the ``tflite_int8`` limits), computing the source's figures once. ``finish`` embeds the
export's metadata document (``lrfr_tf.model_metadata``) in a .tflite and writes it beside it as ``.json``
and ``.preprocessing.json``, the way ``python -m lrfr_tf.export`` lays out ``tflite/NAME_int8.tflite``.
"""

from __future__ import annotations

import datetime
import os
from typing import Callable, Dict, Optional

import numpy as np

GATE_FORMAT = "tflite_int8"


def gate_routes(source, routes: Dict[str, str], data, num_threads: Optional[int] = None,
                log: Callable[[str], None] = print, source_accuracy: Optional[Dict[str, float]] = None,
                on_stage: Optional[Callable[[Dict[str, object]], None]] = None) -> Dict[str, object]:
    """{route: .tflite path} -> the export's gate report (``lrfr_tf.export.parity.run_gate``, ``formats``
    keyed by route), every route held to the ``tflite_int8`` limits."""
    from lrfr_tf.eval.embedders import TFLiteEmbedder
    from lrfr_tf.export import parity

    candidates = {route: parity.Candidate(TFLiteEmbedder(path, source.preprocessing, name=route,
                                                         num_threads=num_threads), GATE_FORMAT)
                  for route, path in routes.items()}
    return parity.run_gate(source, candidates, data, source_accuracy, log, on_stage, progress=True)


def metadata(source, name: str, model_bytes: bytes, quantization: Dict[str, object],
             parity_figures: Optional[Dict[str, object]], gate: str) -> Dict[str, object]:
    """The export's metadata document (``lrfr_tf.model_metadata`` fields) for an int8 .tflite of ``source``."""
    from importlib.metadata import PackageNotFoundError, version

    from lrfr_tf import model_metadata
    from lrfr_tf.export.tflite import describe_io

    try:
        lrfr_version = version("lrfr_tf")
    except PackageNotFoundError:
        lrfr_version = "unknown"
    io = describe_io(model_bytes)
    return {
        "format_version": model_metadata.METADATA_VERSION, "lrfr_tf_version": lrfr_version, "name": name,
        "format": GATE_FORMAT, "source": {"kind": source.kind, "path": source.path, "sha256": source.sha256},
        "preprocessing": source.preprocessing.get_config(), "embedding_dim": source.embedding_dim,
        "output": "l2_normalized", "thresholds": [], "gate": gate, "parity": parity_figures,
        "input": {"layout": "NHWC", "dtype": io["input"]["dtype"], "size": list(source.preprocessing.size),
                  "contract": "normalized", "quantization": io["input"]["quantization"]},
        "output_quantization": io["output"]["quantization"], "size_bytes": len(model_bytes),
        "quantization": quantization, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def finish(source, tflite_path: str, out_path: str, quantization: Dict[str, object],
           gate_report: Optional[Dict[str, object]], route: str) -> Dict[str, object]:
    """Write ``out_path`` (the .tflite with its metadata embedded) and the ``.json`` / ``.preprocessing.json``
    beside it; returns the metadata."""
    from lrfr_tf import model_metadata

    with open(tflite_path, "rb") as f:
        data = f.read()
    figures = gate_report["formats"][route] if gate_report else None
    gate = "disabled (--no_gate)" if gate_report is None else ("passed" if figures["passed"] else "failed")
    name = os.path.splitext(os.path.basename(out_path))[0]
    meta = metadata(source, name, data, quantization, figures, gate)
    tmp = out_path + f".tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(model_metadata.embed_in_tflite(data, meta, out_path))
    os.replace(tmp, out_path)
    stem = os.path.splitext(out_path)[0]
    with open(stem + ".json", "wb") as f:
        f.write(model_metadata.to_json_bytes(meta))
    with open(stem + ".preprocessing.json", "w", encoding="utf-8") as f:
        f.write(source.preprocessing.to_json())
    return meta


def latency_ms(path: str, runs: int = 50, num_threads: int = 1) -> float:
    """Median LiteRT latency of one face (batch 1) over ``runs`` invocations after 5 warm-up runs."""
    import time

    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path, num_threads=num_threads)
    (inp,) = interp.get_input_details()
    shape = [1, *inp["shape"][1:]]
    interp.resize_tensor_input(inp["index"], shape)
    interp.allocate_tensors()
    x = np.zeros(shape, inp["dtype"])
    times = []
    for i in range(runs + 5):
        interp.set_tensor(inp["index"], x)
        t = time.perf_counter()
        interp.invoke()
        if i >= 5:
            times.append(1000 * (time.perf_counter() - t))
    return float(np.median(times))
