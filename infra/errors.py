"""Errors a user can act on. The command line prints them as one ``error:`` line, without a traceback."""


class UserError(Exception):
    """An expected failure whose message says what to do (a bad file, an unreachable store, too few rows)."""


class StorageError(UserError, RuntimeError):
    """Base class for storage problems a user can act on."""


class IntegrityError(UserError):
    """A stored binary (a model, a drift reference) is missing or no longer matches the SHA-256 recorded when it
    was written: it is refused, never loaded."""
