"""Files that appear whole or not at all: every file the project writes goes through here, so a crash never
leaves half a report, export or state file, and one temporary-name scheme is used everywhere
(``.<name>.tmp<pid>`` beside the target, so two processes never share a temporary file)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_twin(path: Path) -> Path:
    """The temporary name for ``path``: hidden, beside it, unique to this process."""
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def write_atomically(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary twin of ``path``, then rename it into place in one step (the folder is
    made first). A failed write leaves no temporary file and the old ``path``, if any, as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_twin(path)
    try:
        write(tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text_atomically(path: Path, text: str) -> Path:
    """``path`` holds ``text`` (UTF-8), whole or not at all."""
    return write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


@contextmanager
def new_folder(folder: Path) -> Iterator[Path]:
    """Fill a temporary twin of ``folder``, then rename it into place; refuses to replace an existing folder (a
    version folder is never overwritten). On any error the twin is removed."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_twin(folder)
    try:
        tmp.mkdir()
        yield tmp
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
