"""Training recipes: one file per method, each with get_config() (python -m lrfr_tf.train --recipe=NAME)."""
