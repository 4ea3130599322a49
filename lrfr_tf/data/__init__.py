"""Readers, tf.data input pipelines and degradation ops."""
