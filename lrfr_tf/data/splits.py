"""A fixed identity split: which identities of a dataset are held out of training.

An identity is held out when the first 8 bytes of sha256(its folder name), read as a fraction of 2**64, fall
below ``HOLDOUT_FRACTION``. The split depends only on the name, so it is the same on every machine, for every
copy of the data and however many identities a folder holds; a model trained on ``"train"`` identities (config
``data.identities``) is tested on ``"holdout"`` identities (``python -m lrfr_tf.evaluate
--identification_identities=holdout``) that it never saw. On ../shared/data/celeba/aligned112 this holds out
58 of 299 identities (1,208 of 6,209 faces).
"""

from __future__ import annotations

import hashlib
from typing import List, Sequence

HOLDOUT_FRACTION = 0.2
SPLITS = ("all", "train", "holdout")


def is_holdout(name: str, fraction: float = HOLDOUT_FRACTION) -> bool:
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < fraction


def select_identities(names: Sequence[str], split: str, what: str = "dataset") -> List[str]:
    """``names`` on the ``split`` side ("all", "train" or "holdout"); ValueError naming ``what`` when none are."""
    if split not in SPLITS:
        raise ValueError(f"identities must be one of {', '.join(SPLITS)}, got {split!r}")
    if split == "all":
        return list(names)
    chosen = [n for n in names if is_holdout(n) == (split == "holdout")]
    if not chosen:
        raise ValueError(f"{what}: no identity of its {len(names)} falls in the {split!r} split")
    return chosen
