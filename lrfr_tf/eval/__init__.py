"""Evaluation harness: verification and identification under resolution loss."""
