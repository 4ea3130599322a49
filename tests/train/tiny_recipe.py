"""A recipe file for the subprocess tests: the tiny classifier on the embedded CelebA sample.

Command: python -m lrfr_tf.train --recipe=tests/train/tiny_recipe.py --workdir=DIR
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from train_fixtures import tiny_config  # noqa: E402


def get_config():
    return tiny_config(steps=12)
