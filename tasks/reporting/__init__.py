"""Reporting: the monitoring dashboard's pages and each scoring or retraining run's self-contained HTML report,
rendered from the same templates (Jinja2) with inline SVG charts and inline CSS: they work offline, with no
script, no CDN and no files beside them. Pages are pure (``pages.py``); their data comes from ``store.py``."""
