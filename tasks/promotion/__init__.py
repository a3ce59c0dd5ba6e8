"""Promotion: the first champion, whether to retrain, the statistical gate between champion and challenger, and
rollback. Pure decisions in ``decisions.py``; pointer moves in ``store.py``; Prefect tasks in ``tasks.py``."""
