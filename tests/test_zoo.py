"""The shipped model (lrfr_tf.zoo): present in the package, loads through --model=zoo:NAME, close to its teacher at
112 px (distillation keeps the high-resolution function), with its model card."""

import os

import numpy as np
import pytest

from lrfr_tf import zoo

NAME = "mobilefacenet_lr_distill"
SAMPLE_LFW = os.path.join(os.path.dirname(zoo.ROOT), "data", "sample", "lfw", "aligned112")


def test_resolve_model_passes_paths_and_names_bad_entries():
    assert zoo.resolve_model("runs/x.tflite") == "runs/x.tflite"
    assert zoo.resolve_model(f"zoo:{NAME}.keras") == zoo.zoo_path(NAME, "keras")
    with pytest.raises(ValueError, match="zoo:nope: no such shipped model; shipped: mobilefacenet_lr_distill"):
        zoo.resolve_model("zoo:nope")
    with pytest.raises(ValueError, match="no 'onnx' file"):
        zoo.zoo_path(NAME, "onnx")


def test_shipped_model_fits_the_budget_and_has_a_card():
    assert os.path.getsize(zoo.zoo_path(NAME, "keras")) < 10e6
    assert os.path.getsize(zoo.zoo_path(NAME, "tflite")) < 4e6
    assert zoo.resolve_model(f"zoo:{NAME}") == zoo.zoo_path(NAME, "tflite")
    text = open(zoo.zoo_path(NAME, "card"), encoding="utf-8").read()
    for needed in ("python -m lrfr_tf.train --recipe=distill", "View 1", "CelebA"):
        assert needed in text


def test_shipped_model_embeds_real_faces_like_its_teacher_at_112px():
    from lrfr_tf.data.images import load_images
    from lrfr_tf.eval.embedders import load_embedder

    files = sorted(os.path.join(r, f) for r, _, fs in os.walk(SAMPLE_LFW) for f in fs)[:16]
    faces = load_images(files, size=(112, 112), progress=False)
    student = load_embedder(f"zoo:{NAME}")
    assert student.embedding_dim == 192
    a = student.embed(faces)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
    teacher_path = os.path.join(os.path.dirname(zoo.ROOT), "..", "..", "shared", "data", "models", "mobilefacenet",
                                "MobileFaceNet.tflite")
    assert os.path.isfile(teacher_path), teacher_path  # tests may read ../shared; the library does not need it
    b = load_embedder(teacher_path, "arcface").embed(faces)
    cos = np.sum(a * b, axis=1)
    assert cos.mean() > 0.9, cos  # distill_hr ended near 0.03 (1 - cos) in training


def test_shipped_tflite_is_the_keras_model_with_gated_metadata_and_thresholds():
    """The fp16 export: same embeddings as the Keras file (the export gate's 0.9999 floor), its metadata says the
    gate passed, and it carries the calibrated per-resolution thresholds with the 5-7 px bucket abstaining."""
    import json

    from lrfr_tf.data.images import load_images
    from lrfr_tf.eval.embedders import load_embedder
    from lrfr_tf.model_metadata import parse_thresholds

    files = sorted(os.path.join(r, f) for r, _, fs in os.walk(SAMPLE_LFW) for f in fs)[:16]
    faces = load_images(files, size=(112, 112), progress=False)
    a = load_embedder(f"zoo:{NAME}").embed(faces)
    b = load_embedder(f"zoo:{NAME}.keras").embed(faces)
    assert np.min(np.sum(a * b, axis=1)) >= 0.9999
    meta = json.load(open(zoo.zoo_path(NAME, "metadata"), encoding="utf-8"))
    assert meta["format"] == "tflite_fp16" and meta["gate"] == "passed" and meta["parity"]["passed"]
    buckets = parse_thresholds(meta["thresholds"], zoo.zoo_path(NAME, "metadata"))
    assert len(buckets) == 6 and buckets[0].threshold is None  # 5-7 px: too small to decide
    assert all(0.3 < b.threshold < 0.7 for b in buckets[1:])


def test_shipped_int8_export_is_gated_small_and_close_to_the_keras_model():
    """The int8 export: under 3 MB, its metadata says the full-LFW gate passed with the same calibrated thresholds
    as the fp16 file, and its embeddings of real faces stay close to the Keras model's (the gate's floor)."""
    import json

    from lrfr_tf.data.images import load_images
    from lrfr_tf.eval.embedders import load_embedder

    path = zoo.zoo_path(NAME, "tflite_int8")
    assert os.path.getsize(path) < 3e6
    meta = json.load(open(zoo.zoo_path(NAME, "metadata_int8"), encoding="utf-8"))
    fp16 = json.load(open(zoo.zoo_path(NAME, "metadata"), encoding="utf-8"))
    assert meta["format"] == "tflite_int8" and meta["gate"] == "passed" and meta["parity"]["passed"]
    assert meta["thresholds"] == fp16["thresholds"]
    files = sorted(os.path.join(r, f) for r, _, fs in os.walk(SAMPLE_LFW) for f in fs)[:16]
    faces = load_images(files, size=(112, 112), progress=False)
    a = load_embedder(path).embed(faces)
    b = load_embedder(f"zoo:{NAME}.keras").embed(faces)
    cos = np.sum(a * b, axis=1)
    assert cos.min() > 0.97, cos  # gate at export: min cosine 0.988 over 500 LFW faces at 112 px
