"""Losses of the implemented methods, each citing its paper equation.

Importing this package registers every loss in ``LOSSES``:
``create_loss("logexp", p=2)``.
"""

from lrfr_tf.losses import classification, distance, distillation, identity, mmd, pixel, prior_losses  # noqa: F401
from lrfr_tf.losses.loss_registry import LOSSES, create_loss  # noqa: F401
