"""One export: SavedModel in TF Serving layout plus every TFLite precision, gated, with metadata.

Layout of ``OUT/NAME/<version>/`` (versions 1, 2, ... never overwritten; everything is written to
``OUT/NAME/.tmp-<version>-<pid>/`` and renamed into place only when complete and gated):

  saved_model.pb, variables/, fingerprint.pb   the SavedModel TF Serving loads (``serving_default``...)
  assets/preprocessing.json, assets/lrfr_export.json
  tflite/NAME_fp32.tflite (+ .json metadata, + .preprocessing.json), ..._fp16, _dynamic, _int8
  export.json, gate.png                        every format's metadata and the gate's figures

A failed gate leaves ``OUT/NAME/failed-<version>-<time>/`` (not a number: TF Serving and
``lrfr_tf.serve`` ignore it) holding the report, and raises ``GateFailed``.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

from lrfr_tf import model_metadata
from lrfr_tf.export.tflite import TFLITE_FORMATS

FORMATS = ("saved_model",) + TFLITE_FORMATS
_SUFFIX = {"tflite_fp32": "fp32", "tflite_fp16": "fp16", "tflite_dynamic": "dynamic", "tflite_int8": "int8"}


class GateFailed(RuntimeError):
    def __init__(self, message: str, report: Dict[str, object], where: str):
        super().__init__(message)
        self.report, self.where = report, where


def parse_formats(values: Sequence[str]) -> List[str]:
    formats = [v.strip() for v in values if v.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"--formats: unknown format(s) {unknown}; expected some of {', '.join(FORMATS)}")
    if not formats:
        raise ValueError("--formats: give at least one format")
    return [f for f in FORMATS if f in formats]


def next_version(model_dir: str) -> int:
    versions = [int(d) for d in os.listdir(model_dir) if d.isdigit()] if os.path.isdir(model_dir) else []
    return max(versions, default=0) + 1


def list_images(root: str, what: str) -> List[str]:
    """Every .jpg/.jpeg/.png below ``root`` (sorted), or ValueError naming ``what``."""
    from lrfr_tf.data.images import IMAGE_EXTENSIONS

    if not os.path.isdir(root):
        raise FileNotFoundError(f"{what}: {root} is not a directory")
    paths = sorted(os.path.join(d, f) for d, _, files in os.walk(root) for f in files
                   if f.lower().endswith(IMAGE_EXTENSIONS))
    if not paths:
        raise ValueError(f"{what}: no .jpg/.jpeg/.png images under {root}")
    return paths


def load_calibration_faces(root: str, count: int, size, what: str = "--calibration_data") -> np.ndarray:
    """``count`` faces spread evenly over the sorted files of ``root``, decode-checked first."""
    from lrfr_tf.data.images import check_images, load_images

    paths = list_images(root, what)
    picked = [paths[i] for i in np.linspace(0, len(paths) - 1, min(count, len(paths))).round().astype(int)]
    scan = check_images(picked, size=None)
    if not scan.ok:
        raise ValueError(f"{what}: {scan.summary(10)}")
    return load_images(picked, size=size, resize="area", progress=False)


def default_calibration_dir() -> str:
    """The face sample shipped with the package (300 CelebA faces)."""
    return os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "sample", "celeba")


def default_gate_dir() -> str:
    """$LRFR_GATE_DATA, else the packaged LFW sample (200 pairs)."""
    return os.environ.get("LRFR_GATE_DATA") or os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "sample", "lfw")


def _lrfr_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lrfr_tf")
    except PackageNotFoundError:
        return "unknown"


def export_model(source, out: str, name: Optional[str] = None, formats: Sequence[str] = FORMATS,
                 calibration_faces: Optional[np.ndarray] = None, gate_data=None, gate: bool = True,
                 int8_io: str = "int8", num_threads: Optional[int] = None, log=print,
                 thresholds: Optional[list] = None) -> Dict[str, object]:
    """Export ``source`` (an ``ExportSource``) to ``out``/NAME/<version>; returns the export report.

    ``gate_data`` (a ``parity.GateData``) is required unless ``gate`` is False (then the gate is
    skipped and the metadata says so). Raises ``GateFailed`` when the gate fails.
    """
    from lrfr_tf.export import parity, tflite
    from lrfr_tf.export.serving_graph import build_archive

    name = name or source.name
    model_dir = os.path.join(out, name)
    os.makedirs(model_dir, exist_ok=True)
    version = next_version(model_dir)
    tmp = os.path.join(model_dir, f".tmp-{version}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    pre = source.preprocessing
    timings: Dict[str, float] = {}
    if callable(getattr(source.model, "gallery_model", None)):
        log("note: the export holds the probe path (SR net + recognizer) for every face; the evaluation harness "
            "embeds full-resolution gallery faces with the recognizer alone (gallery_model), which is not exported")
    try:
        t = time.time()
        saved = tmp if "saved_model" in formats else os.path.join(tmp, ".saved_model")
        build_archive(source.model, pre).write_out(saved, verbose=False)
        timings["saved_model_s"] = time.time() - t
        log(f"SavedModel written ({timings['saved_model_s']:.0f} s)")
        calibration, preparation, quantized_source = None, None, None
        if any(f in tflite.QUANTIZED_FORMATS for f in formats):
            if calibration_faces is None:  # a caller without --calibration_data: the packaged sample
                calibration_faces = load_calibration_faces(default_calibration_dir(), 240, pre.aligned_size)
            calibration = tflite.calibration_inputs(calibration_faces, pre, _degrader())
            quantized_source = os.path.join(tmp, ".saved_model_quantized")
            preparation = tflite.write_quantization_source(source.model, pre, calibration, quantized_source)
            log(f"quantisation source prepared: {preparation}")
        tflite_files: Dict[str, str] = {}
        conversion: Dict[str, Dict[str, object]] = {}
        os.makedirs(os.path.join(tmp, "tflite"), exist_ok=True)
        for fmt in formats:
            if fmt == "saved_model":
                continue
            t = time.time()
            conversion[fmt] = {}
            try:
                data = tflite.convert(quantized_source if fmt in tflite.QUANTIZED_FORMATS else saved, fmt, calibration,
                                      io_dtype=int8_io, info=conversion[fmt])
            except Exception as e:  # ConverterError: name the op the model needs, one line
                if type(e).__name__ != "ConverterError":
                    raise
                raise ValueError(f"--model={source.path}: {fmt} conversion failed: {_converter_reason(e)}") from None
            path = os.path.join(tmp, "tflite", f"{name}_{_SUFFIX[fmt]}.tflite")
            with open(path, "wb") as f:
                f.write(data)
            tflite_files[fmt] = path
            timings[f"{fmt}_s"] = time.time() - t
            log(f"{fmt}: {len(data) / 1e6:.2f} MB ({timings[fmt + '_s']:.0f} s)")

        if quantized_source is not None:
            shutil.rmtree(quantized_source)
        gate_report = None
        if gate:
            t = time.time()
            gate_report = run_gate(source, saved if "saved_model" in formats else None, tflite_files, gate_data,
                                   num_threads, log)
            timings["gate_s"] = time.time() - t
            parity.plot(gate_report, os.path.join(tmp, "gate.png"))
        metadata = _write_metadata(source, name, formats, saved, tflite_files, gate_report, gate, tmp, thresholds,
                                   preparation, conversion)
        report = {"name": name, "version": version, "formats": metadata, "gate": gate_report,
                  "timings": timings, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        with open(os.path.join(tmp, "export.json"), "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1, sort_keys=True)
        if saved != tmp:
            shutil.rmtree(saved)
        if gate_report is not None and not gate_report["passed"]:
            where = os.path.join(model_dir, f"failed-{version}-{time.strftime('%Y%m%dT%H%M%S')}")
            os.rename(tmp, where)
            raise GateFailed("export parity gate failed:\n" + parity.format_table(gate_report), gate_report, where)
        final = os.path.join(model_dir, str(version))
        while os.path.exists(final):  # another export took this version meanwhile
            version += 1
            final = os.path.join(model_dir, str(version))
        report["version"] = version
        os.rename(tmp, final)
        report["path"] = final
        return report
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _converter_reason(error: Exception) -> str:
    """The line of a TFLite ConverterError that says what failed (e.g. "'tf.ResizeArea' op is neither a custom op
    nor a flex op": the model uses an op TFLite has no builtin kernel for)."""
    import re

    text = str(error)
    match = re.search(r"'(tf\.\w+)' op is neither a custom op nor a flex op", text)
    if match:
        return f"the model uses {match.group(1)}, which has no TFLite builtin kernel"
    lines = [l for l in text.splitlines() if "error:" in l]
    return (lines[0].split("error:", 1)[1].strip() if lines else text.splitlines()[0])[:300]


def _degrader():
    from lrfr_tf.eval.degradation import ResolutionDegradation

    return ResolutionDegradation()


def run_gate(source, saved_model_dir, tflite_files: Dict[str, str], data, num_threads=None, log=print) -> Dict[str, object]:
    """Parity figures of every export against ``source`` (``lrfr_tf.export.parity.run_gate``): the SavedModel
    through its uint8 ``serving_default`` signature, each .tflite through LiteRT."""
    import tensorflow as tf

    from lrfr_tf.eval.embedders import SavedModelEmbedder, TFLiteEmbedder
    from lrfr_tf.export import parity

    candidates = {}
    if saved_model_dir is not None:
        serving = tf.saved_model.load(saved_model_dir).signatures["serving_default"]

        def serve(x):
            return np.concatenate([serving(images=tf.constant(x[i:i + 64]))["embedding"].numpy()
                                   for i in range(0, len(x), 64)])

        candidates["saved_model"] = parity.Candidate(
            SavedModelEmbedder(saved_model_dir, source.preprocessing, name="saved_model"), "saved_model", serve)
    for fmt, path in tflite_files.items():
        candidates[fmt] = parity.Candidate(TFLiteEmbedder(path, source.preprocessing, name=fmt, num_threads=num_threads),
                                           fmt)
    return parity.run_gate(source, candidates, data, log=log)


def _write_metadata(source, name, formats, saved, tflite_files, gate_report, gate, tmp, thresholds, preparation=None,
                    conversion=None):
    from lrfr_tf.export.serving_graph import SIGNATURES
    from lrfr_tf.export.tflite import describe_io, describe_quantization

    pre = source.preprocessing
    common = {
        "format_version": model_metadata.METADATA_VERSION, "lrfr_tf_version": _lrfr_version(), "name": name,
        "source": {"kind": source.kind, "path": source.path, "sha256": source.sha256},
        "preprocessing": pre.get_config(), "embedding_dim": source.embedding_dim, "output": "l2_normalized",
        "thresholds": list(thresholds or []),
        "gate": "disabled (--no_gate)" if not gate else ("passed" if gate_report["passed"] else "failed"),
    }
    out = {}
    if "saved_model" in formats:
        meta = {**common, "format": "saved_model", "parity": gate_report["formats"]["saved_model"] if gate else None,
                "input": {"layout": "NHWC", "dtype": "uint8", "size": None, "contract": "uint8_pixels_any_size"},
                "signatures": list(SIGNATURES)}
        assets = os.path.join(saved, "assets")
        os.makedirs(assets, exist_ok=True)
        with open(os.path.join(assets, "lrfr_export.json"), "wb") as f:
            f.write(model_metadata.to_json_bytes(meta))
        with open(os.path.join(assets, "preprocessing.json"), "w", encoding="utf-8") as f:
            f.write(pre.to_json())
        out["saved_model"] = meta
    for fmt, path in tflite_files.items():
        with open(path, "rb") as f:
            data = f.read()
        io = describe_io(data)
        meta = {**common, "format": fmt, "parity": gate_report["formats"][fmt] if gate else None,
                "input": {"layout": "NHWC", "dtype": io["input"]["dtype"], "size": list(pre.size),
                          "contract": "normalized", "quantization": io["input"]["quantization"]},
                "output_quantization": io["output"]["quantization"], "size_bytes": len(data),
                "quantization": describe_quantization(fmt, preparation, (conversion or {}).get(fmt))}
        with open(path, "wb") as f:
            f.write(model_metadata.embed_in_tflite(data, meta, path))
        stem = os.path.splitext(path)[0]
        with open(stem + ".json", "wb") as f:
            f.write(model_metadata.to_json_bytes(meta))
        with open(stem + ".preprocessing.json", "w", encoding="utf-8") as f:
            f.write(pre.to_json())
        out[fmt] = meta
    return out
