"""Training methods (registered in ``lrfr_tf.train.method.METHODS``)."""

from lrfr_tf.train.methods import classifier, distill, rim, siamese, super_resolution  # noqa: F401  (registration)
