"""The paper recipes do what their papers say (issue 15): Knoche et al.'s eq. 7 for the siamese recipes, the
Knoche training settings, SL-margin's stage 3 without the pixel loss.

The weight-decay form (coupled L2 in the SGD paper recipes) is checked in test_train_optim.py.
"""

import numpy as np
import pytest

from lrfr_tf.train.recipes import load_config, load_recipe

KNOCHE = ("bt", "bt_m", "st", "st_m1", "st_m2")
SIAMESE = {"st": 25.0, "st_m1": 25.0, "st_m2": 3.0}


def _tiny(name, *overrides):
    """The recipe at smoke scale with the tiny test backbone (no BatchNorm, no dropout: one function in
    training and inference, so embeddings computed branch by branch equal the step's)."""
    import train_fixtures  # noqa: F401  (registers tiny_test)

    config = load_config(name, ["scale=smoke", *overrides])
    config.model.backbone = "tiny_test"
    config.model.embedding_dim = 16
    config.model.backbone_kwargs = {}
    config.data.verify = "none"
    config.log.progress = False
    config.eval.enabled = False
    return config


def _ce(logits, labels):
    """Softmax cross-entropy per row, float64."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(labels)), labels]


def _cos_dist(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return 1.0 - np.sum(a * b, axis=1)


def _branches(models, batch, keys):
    """Embeddings and head logits (with the labels' margin, as in training) of each branch, in NumPy."""
    backbone, head = models["backbone"], models["head"]
    emb = [backbone(backbone.preprocessing.normalize(batch[k]), training=True) for k in keys]
    logits = [head(e, batch["label"], training=True).numpy() for e in emb]
    return [e.numpy() for e in emb], logits


@pytest.mark.parametrize("name", ["st", "st_m1"])
def test_siamese_total_loss_is_eq7(name, tmp_path):
    """Knoche et al. eq. 7: L = CE(HR) + CE(LR) + w * (1 - cos(f(HR), f(LR))), averaged over the batch; the
    total the engine optimises in the first step (before the update) equals it. Averaging the two
    cross-entropies instead (the old behaviour) halves them against the distance and fails here."""
    from lrfr_tf.train.engine import Trainer

    config = _tiny(name)
    assert config.siamese.ce_reduction == "sum"
    trainer = Trainer(config, str(tmp_path))
    stage = trainer.stages[0]
    assert stage.updates[0].losses == {"ce": 1.0, "distance": SIAMESE[name]}
    batch = next(iter(trainer.strategy.experimental_distribute_dataset(trainer.dataset(stage, 0))))
    (hr, lr), (logits_hr, logits_lr) = _branches(trainer.models, batch, ["image", "lr0"])
    labels = batch["label"].numpy()
    ce = _ce(logits_hr, labels) + _ce(logits_lr, labels)
    dist = _cos_dist(hr, lr)
    expected = np.mean(ce + SIAMESE[name] * dist)
    logs = {k: float(v) for k, v in trainer._step_fn(stage)(batch).items()}
    assert logs["main/ce"] == pytest.approx(np.mean(ce), rel=1e-4)
    assert logs["main/distance"] == pytest.approx(np.mean(dist), rel=1e-4, abs=1e-6)
    assert logs["main/total"] == pytest.approx(expected, rel=1e-4)
    assert abs(expected - np.mean(ce / 2 + SIAMESE[name] * dist)) > 1e-2  # the averaged form is far off


def test_st_m2_sums_five_cross_entropies_and_averages_four_distances():
    """ST-M2: eq. 7 over five branches (the CE summed), 3 * the mean of the four HR-LR distances; with
    ce_reduction "mean" the CE term is the five-branch average."""
    import tensorflow as tf

    from lrfr_tf.train import methods  # noqa: F401  (registration)
    from lrfr_tf.train.method import METHODS
    from tests.export.conftest import faces

    config = _tiny("st_m2")
    method = METHODS.get("siamese")(config, num_classes=3)
    models = method.build_models()
    features = method.map_fn()({"image": tf.constant(faces(4, seed=1), tf.float32),
                                "label": tf.constant([0, 1, 2, 0])}, np.array([1, 2], np.int64))
    terms = method.loss_terms(models, features, trainable=[], needed=["ce", "distance"])
    keys = ["image"] + [f"lr{k}" for k in range(4)]
    emb, logits = _branches(models, features, keys)
    ces = np.stack([_ce(z, features["label"].numpy()) for z in logits])
    np.testing.assert_allclose(terms["ce"].numpy(), ces.sum(0), rtol=1e-4)
    np.testing.assert_allclose(terms["distance"].numpy(), np.mean([_cos_dist(emb[0], e) for e in emb[1:]], 0),
                               rtol=1e-4, atol=1e-6)
    config.siamese.ce_reduction = "mean"
    mean_terms = METHODS.get("siamese")(config, num_classes=3).loss_terms(models, features, [], ["ce"])
    np.testing.assert_allclose(mean_terms["ce"].numpy(), ces.mean(0), rtol=1e-4)
    config.siamese.ce_reduction = "average"
    with pytest.raises(ValueError, match="ce_reduction"):
        METHODS.get("siamese")(config, num_classes=3)


@pytest.mark.parametrize("name", KNOCHE)
def test_knoche_recipes_use_the_papers_settings_and_state_their_departures(name):
    """Batch 128, SGD lr 0.01 (momentum 0.9, coupled decay), dropout 0.5 in the built backbone; ImageNet
    initialisation and colour augmentation, which the toolkit cannot do, stated as departures."""
    from lrfr_tf.train.method import create_backbone

    config = load_config(name)
    assert config.data.batch_size == 128
    (update,) = [u for s in config.stages.values() for u in s.updates.values()]
    opt = update.optimizer
    assert (opt.name, opt.lr, opt.momentum, opt.weight_decay_mode) == ("sgd", 0.01, 0.9, "coupled")
    assert config.model.backbone_kwargs.dropout == 0.5
    smoke = load_config(name, ["scale=smoke"])
    assert create_backbone(smoke.model).head_dropout.rate == 0.5  # the IResNet's dropout before the FC
    doc = load_recipe(name).__doc__
    departures = [p.split("\n\n")[0] for p in doc.split("Departure from the paper:")[1:]]
    assert any("ImageNet" in p for p in departures) and any("colour" in p for p in departures), name
    assert all("because" in p for p in departures), departures


@pytest.mark.parametrize("name", ["st_m1", "st_m2"])
def test_st_m_recipes_do_not_claim_bt_ms_figure(name):
    """97.72% is the abstract's best multi-resolution figure (BT-M's), not ST-M1's or ST-M2's."""
    doc = load_recipe(name).__doc__
    expected = doc[doc.index("Expected"):]
    assert "97.72" not in expected or f"not {name.upper().replace('_', '-')}'s" in expected, expected


def test_sl_margin_stage3_drops_the_pixel_loss(tmp_path):
    """The paper's third stage trains the cascade on the recognition loss alone: pixel weight 0, so the
    engine's joint update has no pixel term (the command line can put it back)."""
    from lrfr_tf.train.engine import Trainer

    config = load_config("sl_margin")
    assert config.stages.joint.updates.main.losses.to_dict() == {"ce": 1.0, "pixel": 0.0}
    assert load_config("sl_margin", ["stages.joint.updates.main.losses.pixel=1.0"]).stages.joint.updates.main.losses.pixel == 1.0
    smoke = load_config("sl_margin", ["scale=smoke"])
    smoke.data.verify, smoke.log.progress, smoke.eval.enabled = "none", False, False
    trainer = Trainer(smoke, str(tmp_path))
    joint = [s for s in trainer.stages if s.name == "joint"][0]
    assert [u.losses for u in joint.updates] == [{"ce": 1.0}]
    expected = " ".join(load_recipe("sl_margin").__doc__.split("Expected")[1].split())
    claim, _, rest = expected.partition("Not a target of this recipe:")
    assert rest and "99.42" not in claim and "SphereFace" in rest  # SphereFace's figure only as not a target
