"""The training stage: the labeled window, seeded splits, the models, their evaluation against the baseline and
the oracle, and the report. Pure modules here; Prefect tasks in ``tasks.py``; MongoDB in ``store.py``."""
