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
