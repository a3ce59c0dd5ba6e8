"""The data stage: generate or load a batch, ingest it (raw layer and quarantine), check its quality, compute
its features in MongoDB, export them. Pure modules here; Prefect tasks in ``tasks.py``; MongoDB in ``store.py``."""
