"""The ML engineer's hand-off: the exported features as PyTorch Datasets and DataLoaders with a registered version's
own fitted preprocessing and its student-level split (``torch_data.py``: pure, needs the ``torch`` extra; ``store.py``:
the version, its split and the export, read from the store and the export folder)."""
