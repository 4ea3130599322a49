"""Losses of the implemented methods, each citing its paper equation."""
