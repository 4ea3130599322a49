"""The ``distill`` method: its terms are the cosine distances of eq. (module docstring) computed in NumPy, the
teacher never changes, and a student equal to the teacher starts with distill_hr = 0."""

import numpy as np
import pytest

SMALL = {"stem_channels": 8, "head_channels": 16, "stages": [[1, 8, 1, 2], [1, 16, 1, 2]]}


def _method(views=("resolution(size=8)|resize()",), head=""):
    from lrfr_tf.train import methods  # noqa: F401  (registration)
    from lrfr_tf.train.method import METHODS
    from lrfr_tf.train.recipes import load_config

    config = load_config("distill")
    config.model.init = ""
    config.model.embedding_dim = 16
    config.model.backbone_kwargs = dict(SMALL)
    config.model.head = head
    config.model.head_kwargs = {}
    config.distill.teacher.init = ""
    config.distill.teacher.embedding_dim = 16
    config.distill.teacher.backbone_kwargs = dict(SMALL)
    config.distill.views = list(views)
    method = METHODS.get("distill")(config, num_classes=3)
    return method, method.build_models()


def _batch(n=4, seed=0):
    import tensorflow as tf

    from tests.export.conftest import faces

    return {"image": tf.constant(faces(n, seed=seed), tf.float32), "label": tf.constant([0, 1, 2, 0][:n])}


def _cos_dist(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return 1.0 - np.sum(a * b, axis=1)


def test_terms_are_cosine_distances_to_the_teachers_hr_embedding():
    method, models = _method(views=("resolution(size=8)|resize()", "resolution(size=16)|resize()"))
    student, teacher = models["student"], models["teacher"]
    features = method.map_fn()(dict(_batch()), np.array([1, 2], np.int64))  # HR flipped alike, two LR views
    terms = method.loss_terms(models, features, trainable=[], needed=["distill_hr", "distill_lr"])  # BN in inference
    norm = lambda m, x: m(m.preprocessing.normalize(x), training=False).numpy()  # noqa: E731
    t = norm(teacher, features["image"])
    np.testing.assert_allclose(terms["distill_hr"].numpy(), _cos_dist(t, norm(student, features["image"])), atol=2e-5)
    lr = (_cos_dist(t, norm(student, features["lr0"])) + _cos_dist(t, norm(student, features["lr1"]))) / 2
    np.testing.assert_allclose(terms["distill_lr"].numpy(), lr, atol=2e-5)
    assert terms["distill_hr"].shape == (4,) and float(np.max(lr)) > 1e-3


def test_a_student_equal_to_the_teacher_starts_at_zero_and_only_the_student_learns():
    import tensorflow as tf

    method, models = _method()
    student, teacher = models["student"], models["teacher"]
    student.set_weights(teacher.get_weights())
    features = method.map_fn()(dict(_batch()), np.array([3, 4], np.int64))
    terms = method.loss_terms(models, features, [], ["distill_hr"])  # BN in inference: the same function
    assert float(tf.reduce_max(tf.abs(terms["distill_hr"]))) < 1e-6
    assert not teacher.trainable_variables
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(method.loss_terms(models, features, ["student"], ["distill_lr"])["distill_lr"])
    grads = tape.gradient(loss, student.trainable_variables)
    assert all(g is not None for g in grads) and max(float(tf.norm(g)) for g in grads) > 0


def test_ce_needs_a_head_and_mismatched_embeddings_are_named():
    method, models = _method()
    features = method.map_fn()(dict(_batch()), np.array([5, 6], np.int64))
    with pytest.raises(ValueError, match="model.head"):
        method.loss_terms(models, features, ["student"], ["ce"])
    method, models = _method(head="arcface")
    terms = method.loss_terms(models, features, ["student", "head"], ["ce"])
    assert terms["ce"].shape == (4,) and np.all(np.isfinite(terms["ce"].numpy()))
    from lrfr_tf.train.method import METHODS

    method.config.distill.teacher.embedding_dim = 32
    with pytest.raises(ValueError, match="embedding size"):
        METHODS.get("distill")(method.config, 3).build_models()


def test_relu_anneal_scales_the_frozen_slopes_to_zero_and_exports_the_relu_build():
    """distill.relu_anneal_steps = N: before step s the slopes are a_0 * max(0, 1 - s/N) (a_0 the initialised
    student's), never trained; from step N the student is a ReLU network and is exported as its ReLU build,
    which computes the same embeddings. Off (N = 0), nothing changes."""
    import tensorflow as tf

    from lrfr_tf.models.layers import prelu_layers

    method, models = _method()
    method.config.distill.relu_anneal_steps = 4
    method.anneal_steps = 4
    student = models["student"] = method.build_models()["student"]  # rebuilt with the slopes frozen
    method.initialize(models)
    layers = prelu_layers(student)
    assert all(np.array_equal(a, layer.get_weights()[0]) for a, layer in zip(method._initial_slopes, layers))
    assert layers and not any(layer.trainable for layer in layers)
    assert not {id(v) for layer in layers for v in layer.weights} & {id(v) for v in student.trainable_variables}
    rng = np.random.default_rng(0)
    initial = [rng.uniform(-0.5, 0.5, layer.get_weights()[0].shape).astype(np.float32) for layer in layers]
    method._initial_slopes = initial  # as read from a freshly initialised student (no pretrained file here)
    x = tf.constant(_batch()["image"]) / 128.0 - 1.0
    for step, factor in ((0, 1.0), (1, 0.75), (3, 0.25), (4, 0.0), (7, 0.0)):
        method.on_step(models, step)
        for layer, a0 in zip(layers, initial):
            np.testing.assert_allclose(layer.get_weights()[0], a0 * factor, atol=1e-7)
        exported = method.embedding_model(models)
        assert (exported is student) is (factor > 0)
    assert exported.get_config()["activation"] == "relu" and not prelu_layers(exported)
    np.testing.assert_allclose(exported(x).numpy(), student(x, training=False).numpy(), atol=1e-5)

    off, off_models = _method()
    assert off.anneal_steps == 0 and all(layer.trainable for layer in prelu_layers(off_models["student"]))
    off.on_step(off_models, 5)
    assert off.embedding_model(off_models) is off_models["student"]


def test_relu_anneal_needs_a_prelu_student():
    method, _ = _method()
    method.config.model.backbone_kwargs = {**SMALL, "activation": "relu"}
    method.anneal_steps = 2
    with pytest.raises(ValueError, match="relu_anneal_steps needs a student with PReLU"):
        method.build_models()


def test_relu_copy_refuses_nonzero_slopes():
    from lrfr_tf.models import create_backbone
    from lrfr_tf.models.layers import relu_copy

    model = create_backbone("mobilefacenet", embedding_dim=16, **SMALL)
    model(np.zeros((1, 112, 112, 3), np.float32))
    with pytest.raises(ValueError, match="non-zero slopes"):
        relu_copy(model)
