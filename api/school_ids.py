"""The school's own ids at the service's edge (``ids=sis``): each becomes its pseudonym with the service's key before
anything else reads it, and the answer carries the id back as it was sent. The store, the log and the monitors
see pseudonyms only."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request

from infra.pseudonyms import PseudonymKeyError, Pseudonyms, bind_to_store, load

MAX_ID_CHARS = 200


def service_pseudonyms(request: Request) -> Pseudonyms:
    """The service's pseudonyms (the store's key, checked once), or 503 saying what is missing."""
    found = getattr(request.app.state, "pseudonyms", None)
    if found is None:
        try:
            found = load(create=False)
            bind_to_store(request.app.state.serving.db(), found)
        except PseudonymKeyError:  # its message names fingerprints only; still, the caller needs less
            raise HTTPException(503, "the service cannot make pseudonyms: its pseudonym key is missing or is not "
                                     "the store's (see docs/privacy.md)") from None
        request.app.state.pseudonyms = found
    return found


def pseudonym_of(pseudonyms: Pseudonyms, sis_id: Any, where: str) -> int:
    """One school id's pseudonym; 422 for a value that is no id (missing, a boolean, a list, too long)."""
    if sis_id is None or isinstance(sis_id, bool | list | dict) or not str(sis_id).strip() \
            or len(str(sis_id)) > MAX_ID_CHARS:
        raise HTTPException(422, f"{where}: student_id must be the school's id (text or a number, 1 to "
                                 f"{MAX_ID_CHARS} characters) with ids=sis")
    return pseudonyms.of(sis_id)
