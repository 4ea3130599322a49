"""Training methods (registered in ``lrfr_tf.train.method.METHODS``)."""

from lrfr_tf.train.methods import classifier, siamese  # noqa: F401  (registration)
