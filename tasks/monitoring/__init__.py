"""Monitoring: drift of a batch against the champion's reference, prediction drift, and live performance once
labels arrive. Pure modules here; Prefect tasks in ``tasks.py``."""
