"""The model registry: versions (GridFS binaries checked by SHA-256), alias pointers with their history, and each
version's drift reference. MongoDB in ``store.py``; what is stored in ``records.py``; Prefect tasks in ``tasks.py``."""
