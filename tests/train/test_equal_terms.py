"""Issue 14's comparison: every recipe with a ``scales.equal_terms`` trains on the distill recipe's terms.

Same starting point, data, faces seen, optimizer and evaluation as ``recipes/distill.py`` (the reference run);
only the method, its losses and its views differ.
"""

import pytest

from lrfr_tf.train import recipes

COMPARED = [name for name in recipes.recipe_names() if "equal_terms" in recipes.load_config(name).scales]
SHARED = [("data", "train"), ("data", "identities"), ("data", "batch_size"), ("data", "image_size"), ("data", "flip"),
          ("model", "init"), ("model", "init_batch_norm"), ("model", "embedding_dim"),
          ("eval", "data_dir"), ("eval", "pairs_file"), ("eval", "sizes"), ("eval", "every")]
OPTIMIZER = ("name", "lr", "schedule", "warmup_steps", "final_fraction", "weight_decay", "clipnorm")


def test_the_compared_methods_have_the_scale():
    assert {"bt_m", "st_m1", "maug_logexp"} <= set(COMPARED)


@pytest.mark.parametrize("name", COMPARED)
def test_equal_terms_match_the_distill_reference(name):
    reference = recipes.load_config("distill")
    config = recipes.load_config(name, ["scale=equal_terms"])
    for group, key in SHARED:
        assert config[group][key] == reference[group][key], (name, group, key)
    assert list(config.stages.keys()) == ["head_warmup", "train"] and list(reference.stages.keys()) == ["train"]
    assert config.stages.train.steps == reference.stages.train.steps  # the backbone's updates: same faces
    (warmup,) = config.stages.head_warmup.updates.values()
    assert list(warmup.train) == ["head"] and warmup.losses.to_dict() == {"ce": 1.0}  # the backbone stays frozen
    (update,), (ref_update,) = config.stages.train.updates.values(), reference.stages.train.updates.values()
    for key in OPTIMIZER:
        assert update.optimizer[key] == ref_update.optimizer[key], (name, key)
    assert config.method != "distill" and config.model.head  # the compared methods train a margin head
    assert config.eval.pairs_file != "pairs.txt"  # View 1 only: View 2 is test data


def test_logexp_weight_follows_the_embedding_size():
    """25 D (the calibrated weight of recipes/maug_logexp.py) with the MobileFaceNet's D = 192."""
    config = recipes.load_config("maug_logexp", ["scale=equal_terms"])
    assert config.model.embedding_dim == 192
    assert config.stages.train.updates.main.losses.distance == pytest.approx(25.0 * 192)


def test_logexp_claim_scale_is_equal_terms_at_a_quarter_of_the_faces():
    """Claim S4's runs: the equal-terms setting with 300 steps of 32 faces (not 600 of 64), View 1 at 7 and 14 px."""
    full = recipes.load_config("maug_logexp", ["scale=equal_terms"])
    claim = recipes.load_config("maug_logexp", ["scale=claim"])
    assert claim.data.batch_size * claim.stages.train.steps * 4 == full.data.batch_size * full.stages.train.steps
    assert claim.model.init == full.model.init and claim.data.identities == full.data.identities == "train"
    assert claim.stages.train.updates.main.optimizer.to_dict() == full.stages.train.updates.main.optimizer.to_dict()
    assert claim.eval.pairs_file == "pairsDevTest.txt" and list(claim.eval.sizes) == [7, 14]
    # p = 2 where the pretrained network is fine-tuned (p = 1 collapsed there; chosen on View 1), p = 1 otherwise
    assert claim.siamese.distance_kwargs.p == full.siamese.distance_kwargs.p == 2.0
    assert recipes.load_config("maug_logexp").siamese.distance_kwargs.p == 1.0


def test_sl_margin_claim_starts_from_the_pretrained_recognizer():
    """Claim S0: the pretrained MobileFaceNet stands for the stage-1 recognizer (only the new head warms up on HR
    faces), the SR net learns the pixel loss with the recognizer frozen, then both train on CE alone."""
    reference = recipes.load_config("distill")
    config = recipes.load_config("sl_margin", ["scale=claim"])
    assert config.model.init == reference.model.init and config.model.backbone == "mobilefacenet"
    assert config.data.identities == "train" and config.eval.pairs_file == "pairsDevTest.txt"
    stages = config.stages
    assert list(stages.keys()) == ["recognizer", "sr", "joint"]
    assert list(stages.recognizer.updates.main.train) == ["head"]
    assert stages.recognizer.updates.main.losses.to_dict() == {"ce_hr": 1.0}
    assert list(stages.sr.updates.main.train) == ["sr_net"] and stages.sr.updates.main.losses.to_dict() == {"pixel": 1.0}
    assert stages.joint.updates.main.losses.to_dict() == {"ce": 1.0, "pixel": 0.0}  # the paper drops the pixel loss
    for stage in stages.values():
        assert stage.updates.main.optimizer.weight_decay == 0.0  # Adam fine-tuning, as on equal terms
