"""Training engine: strategy, stages, checkpoints, CLI (python -m lrfr_tf.train)."""
