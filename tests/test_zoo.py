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
