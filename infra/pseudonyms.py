"""Keyed pseudonyms for the ids a school's information system gives its students.

A mapped source's student id (one column, or several made into one) never enters the store: at ingest it becomes
HMAC-SHA-256 of the id's text under the school's pseudonym key, cut to a number below 2**52 (exact in JSON and
BSON, the type every collection already holds). The same id under the same key is always the same pseudonym, so a
student who returns next term is the same student; without the key nobody can tell which SIS id a pseudonym
stands for, not even by trying every plausible id (an unkeyed hash could be reversed that way).

The key is ``PIPELINE_PSEUDONYM_KEY`` where it is set (production: a secret of the deployment, the same for every
worker and the service), else a key file in the data folder made on first use (``pseudonym.key``, readable only
by its owner) so a local run needs no set-up. The key never reaches the store, a log or an exception; the store
keeps only its fingerprint (an HMAC of a fixed text), so a worker holding another key is refused before it writes
pseudonyms no one could match with the store's.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.errors import UserError

KEY_FILE = "pseudonym.key"
MIN_KEY_CHARS = 32
META = "meta"  # infra.collections.META (not imported: a preview of a mapping loads no driver)
STORE_FACT = "pseudonyms"  # the META document that says which key made this store's pseudonyms


class PseudonymKeyError(UserError):
    """The pseudonym key is missing, too short, or not the key this store's pseudonyms were made with."""


def canonical(value: Any) -> str:
    """An id value as the text its pseudonym is made from: a whole number read as a float (a spreadsheet's 123.0)
    is its integer's digits; text is stripped (leading zeros stay: "00123" and "123" are different ids)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value).strip()


@dataclass(frozen=True)
class Pseudonyms:
    """Pseudonyms under one key."""

    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) < MIN_KEY_CHARS:
            raise PseudonymKeyError(f"the pseudonym key is shorter than {MIN_KEY_CHARS} characters: make one with "
                                    "`python -m tasks.privacy new-key`")

    def __repr__(self) -> str:  # never the key, not even in a traceback's locals
        return f"Pseudonyms(fingerprint={self.fingerprint})"

    def of(self, sis_id: Any) -> int:
        """The pseudonym of one SIS id (a value, or several columns' values in their declared order)."""
        text = "\x1f".join(canonical(part) for part in sis_id) if isinstance(sis_id, list | tuple) else canonical(
            sis_id)
        digest = hmac.new(self.key, b"student:" + text.encode("utf-8"), hashlib.sha256).hexdigest()
        return int(digest[:13], 16) + 1  # 1 .. 2**52: exact in JSON and BSON

    def many(self, sis_ids: Iterable[Any]) -> dict[str, int]:
        """Each SIS id's text with its pseudonym."""
        return {canonical(sis_id): self.of(sis_id) for sis_id in sis_ids}

    @property
    def fingerprint(self) -> str:
        """A fixed text's HMAC under the key: tells keys apart, reveals nothing of the key."""
        return hmac.new(self.key, b"pseudonym key fingerprint", hashlib.sha256).hexdigest()[:16]


def key_file(data_path: Path) -> Path:
    """Where a local run keeps its key when PIPELINE_PSEUDONYM_KEY is not set."""
    return data_path / KEY_FILE


def load(create: bool = True) -> Pseudonyms:
    """The pseudonyms of this installation: PIPELINE_PSEUDONYM_KEY, else the data folder's key file (made now,
    readable by its owner only, when ``create`` and there is none yet)."""
    from infra.settings import get_settings

    settings = get_settings()
    secret = settings.pseudonym_key.get_secret_value()
    if secret:
        return Pseudonyms(secret.encode("utf-8"))
    path = key_file(settings.data_path)
    if not path.exists():
        if not create:
            raise PseudonymKeyError(f"no pseudonym key: PIPELINE_PSEUDONYM_KEY is not set and {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    return Pseudonyms(path.read_text(encoding="ascii").strip().encode("utf-8"))


def bind_to_store(db, pseudonyms: Pseudonyms) -> None:
    """Record which key makes this store's pseudonyms (its fingerprint), or refuse a different key: pseudonyms
    made under two keys would split every returning student in two."""
    fact = db[META].find_one_and_update({"_id": STORE_FACT},
                                        {"$setOnInsert": {"fingerprint": pseudonyms.fingerprint}},
                                        upsert=True, return_document=True)
    if fact["fingerprint"] != pseudonyms.fingerprint:
        raise PseudonymKeyError(
            f"this store's pseudonyms were made with the key whose fingerprint is {fact['fingerprint']}; this "
            f"process holds the key {pseudonyms.fingerprint}: give every worker and the service the store's key "
            "(PIPELINE_PSEUDONYM_KEY), or restore the data folder's pseudonym.key from its backup")


def rebind_store(db, pseudonyms: Pseudonyms) -> None:
    """The store's pseudonyms are now ``pseudonyms``' (after every one was recomputed: rekey)."""
    db[META].update_one({"_id": STORE_FACT}, {"$set": {"fingerprint": pseudonyms.fingerprint}}, upsert=True)


def store_fingerprint(db) -> str | None:
    """The fingerprint of the key this store's pseudonyms were made with (None: no mapped source yet)."""
    fact = db[META].find_one({"_id": STORE_FACT})
    return fact["fingerprint"] if fact else None


def erased_digest(student_id: int) -> str:
    """What an erasure's record keeps of the student: enough to refuse them at a later import, not their id."""
    return hashlib.sha256(f"erased student:{student_id}".encode()).hexdigest()


def erased_digests(db) -> set[str]:
    """The digests of every erased student (a later import leaves them out)."""
    return {doc["digest"] for doc in db["erasures"].find({}, {"digest": 1})}  # infra.collections.ERASURES
