"""Errors a user can act on, raised by the storage layer (the CLI prints these as one line)."""


class StorageError(RuntimeError):
    """Base class for storage problems a user can act on."""
