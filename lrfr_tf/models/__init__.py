"""Backbones, margin heads and super-resolution nets (Keras subclassed models)."""
