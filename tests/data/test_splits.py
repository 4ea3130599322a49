"""The fixed identity split (lrfr_tf.data.splits): by name hash, disjoint, complete, honoured by the readers."""

import hashlib
import pathlib

import numpy as np
import pytest

from lrfr_tf.data import splits
from lrfr_tf.data.folders import IdentityFolder

SAMPLE_CELEBA = pathlib.Path(__file__).resolve().parents[2] / "lrfr_tf" / "data" / "sample" / "celeba"


def test_is_holdout_is_the_name_hash_rule():
    names = [f"id_{i}" for i in range(2000)] + ["Ünïcode", ""]
    for name in names:
        h = int(hashlib.sha256(name.encode()).hexdigest()[:16], 16)
        assert splits.is_holdout(name) == (h < 0.2 * 2**64)
    share = np.mean([splits.is_holdout(n) for n in names])
    assert 0.17 < share < 0.23


def test_identity_folder_sides_are_disjoint_and_complete():
    every = IdentityFolder(SAMPLE_CELEBA)
    train = IdentityFolder(SAMPLE_CELEBA, identities="train")
    held = IdentityFolder(SAMPLE_CELEBA, identities="holdout")
    assert set(train.class_names).isdisjoint(held.class_names)
    assert sorted(train.class_names + held.class_names) == every.class_names
    assert len(train) + len(held) == len(every)
    assert all(splits.is_holdout(n) for n in held.class_names) and not any(splits.is_holdout(n) for n in train.class_names)
    assert sorted(set(train.labels.tolist())) == list(range(train.num_classes))  # labels stay contiguous


def test_bad_split_and_tfrecord_selection_are_named():
    with pytest.raises(ValueError, match="identities must be one of all, train, holdout"):
        IdentityFolder(SAMPLE_CELEBA, identities="test")
    with pytest.raises(ValueError, match="no identity of its 1 falls in the 'holdout' split"):
        splits.select_identities(["x"] if not splits.is_holdout("x") else ["a"], "holdout", "d")
    from lrfr_tf.train.engine import open_source

    with pytest.raises(ValueError, match="data.identities='train' selects identity folders"):
        open_source("/nonexistent/*.tfrecord", "tfrecord", "train")


def test_identification_data_on_holdout_identities():
    from lrfr_tf.eval.identification import IdentificationData

    data = IdentificationData(str(SAMPLE_CELEBA), identities="holdout")
    held = IdentityFolder(SAMPLE_CELEBA, identities="holdout")
    assert data.describe()["identities"] == "holdout"
    assert [data.class_names[i] for i in data.gallery_labels] == held.class_names
