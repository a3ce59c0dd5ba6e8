"""Batch scoring: the champion predicts a batch in bulk and every prediction is logged. Pure modules here;
the Prefect task in ``tasks.py``."""
