"""Prediction models: a small protocol and the built-in models bettors use.

A model gets one player's validated lines for one market (a polars frame of `prop_lines`
rows) and returns at most one prediction row (a dict of `PREDICTION_FIELDS`). Models are
declared in the pipeline YAML by import path plus parameters.
"""

from lineflow.models.base import PREDICTION_FIELDS, Model, book_pairs, load_model

__all__ = ["PREDICTION_FIELDS", "Model", "book_pairs", "load_model"]
