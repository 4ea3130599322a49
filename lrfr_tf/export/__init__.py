"""Deployment: one command from any embedder the toolkit can evaluate to a gated SavedModel (TF Serving
layout) and TFLite files in every precision (``python -m lrfr_tf.export``).

- ``sources``: load what can be exported (``.keras``, workdir, SavedModel, ``.tflite``);
- ``serving_graph``: the SavedModel signatures, preprocessing in the graph;
- ``tflite``: conversion (fp32, fp16, dynamic, int8) and calibration inputs;
- ``parity``: the gate (per-image cosine at 112/8/14/28 px, accuracy through the harness);
- ``exporter``: versioned layout, atomic writes, metadata (``lrfr_tf.model_metadata``).
"""
