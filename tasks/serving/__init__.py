"""Serving: online predictions for raw records (features from the same aggregation, over ``$documents``),
every answer logged, and A/B tests between model versions. The HTTP service itself is the ``api`` package.
Pure modules here (``abtest.py``); MongoDB in ``store.py``; parameters in ``params.py``."""
