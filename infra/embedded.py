"""What the embedded engine (litemongo) needs to be used safely: one writer process, one operation at a time.

- Two processes writing to litemongo's SQLite files lose updates silently, so a process takes an exclusive
  file lock on the store for its lifetime; a second one waits, then fails with a clear message.
- Within a process, threads with their own clients still collide (first-time collection creation,
  "database is locked"), so every operation of the engine is serialised by one re-entrant lock.
"""

from __future__ import annotations

import fcntl
import functools
import importlib
import os
import threading
import time
from pathlib import Path
from typing import Any

from infra.errors import StorageError


class EmbeddedStoreBusyError(StorageError):
    """Another process holds the embedded store's single-writer lock."""


_writer_locks: dict[Path, Any] = {}
_writer_lock_guard = threading.Lock()


def acquire_writer_lock(path: Path, timeout_s: float) -> None:
    """Hold the embedded store's single-writer lock for the life of this process."""
    with _writer_lock_guard:  # threads of this process share the process's lock
        if path not in _writer_locks:
            _writer_locks[path] = _lock_file(path, timeout_s)


def _lock_file(path: Path, timeout_s: float):
    lock_file = open(path / ".writer.lock", "a+")  # noqa: SIM115 - held open on purpose
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                lock_file.seek(0)
                holder = lock_file.read().strip() or "unknown"
                lock_file.close()
                raise EmbeddedStoreBusyError(
                    f"the embedded store at {path} is in use by another process (pid {holder}); it allows one "
                    f"writer process at a time. Waited {timeout_s:.0f} s. Wait for that run to finish, or point "
                    "MONGO_URI at a MongoDB server for concurrent runs."
                ) from None
            time.sleep(0.2)
    lock_file.seek(0)
    lock_file.truncate()
    lock_file.write(str(os.getpid()))
    lock_file.flush()
    return lock_file


# litemongo's SQLite files are not safe for concurrent use even by threads with their own clients: two threads
# creating the same collection collide ("UNIQUE constraint failed: info.key"), concurrent writers get
# "database is locked". The embedded engine is a stand-in for one writer, so every operation on it is serialised
# per process. (A real server gets none of this: pymongo clients are thread-safe.)
_EMBEDDED_ENGINE_LOCK = threading.RLock()
_SERIALISED = {
    "collection.Collection": (
        "insert_one", "insert_many", "update_one", "update_many", "replace_one", "delete_one", "delete_many",
        "bulk_write", "find_one", "find_one_and_update", "find_one_and_replace", "find_one_and_delete",
        "count_documents", "estimated_document_count", "distinct", "aggregate", "drop", "create_index",
        "create_indexes", "drop_index", "drop_indexes", "index_information", "list_indexes", "rename"),
    "collection.Cursor": ("_compute_results",),
    "database.Database": ("get_collection", "create_collection", "drop_collection", "list_collection_names"),
}


def serialise_embedded_engine() -> None:
    """Wrap the embedded engine's operations in one re-entrant lock (once per process)."""
    with _EMBEDDED_ENGINE_LOCK:
        for dotted, names in _SERIALISED.items():
            module_name, class_name = dotted.rsplit(".", 1)
            cls = getattr(importlib.import_module(f"litemongo._vendor.mongomock.{module_name}"), class_name)
            if getattr(cls, "_serialised_by_student_pipeline", False):
                continue
            for name in names:
                original = getattr(cls, name)

                @functools.wraps(original)
                def locked(*args, _original=original, **kwargs):
                    with _EMBEDDED_ENGINE_LOCK:
                        return _original(*args, **kwargs)

                setattr(cls, name, locked)
            cls._serialised_by_student_pipeline = True
