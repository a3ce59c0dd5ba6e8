"""POST /feedback: true outcomes for students, so live performance per arm and per version can be measured, and
retraining can learn from them. Only a key with the ``label`` scope may post them (they become labels that training
and A/B conclusions trust); each is stored with the key that posted it, and an outcome for a student no model
ever scored is refused."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request

from api.auth import Labeller
from api.schemas import FeedbackRequest
from api.school_ids import pseudonym_of, service_pseudonyms
from tasks.serving.store import never_scored, record_feedback

router = APIRouter(tags=["feedback"])


@router.post("/feedback", responses={401: {"description": "no key"}, 403: {"description": "a key without 'label'"},
                                     422: {"description": "invalid outcomes, or students never scored"}})
def feedback(body: FeedbackRequest, request: Request, caller: Labeller,
             ids: Annotated[Literal["pseudonyms", "sis"], Query(
                 description="what student_id is: the pseudonym, or the school's own id")] = "pseudonyms") -> dict:
    """Store each student's true outcome (the latest posted wins), with who posted it."""
    db = request.app.state.serving.db()
    outcomes = [outcome.model_dump(exclude_none=True) for outcome in body.outcomes]
    sent: dict[int, int | str] = {}
    if ids == "sis":
        pseudonyms = service_pseudonyms(request)
        for position, outcome in enumerate(outcomes):
            pseudonym = pseudonym_of(pseudonyms, outcome["student_id"], f"outcomes[{position}]")
            sent[pseudonym], outcome["student_id"] = outcome["student_id"], pseudonym
    elif any(isinstance(outcome["student_id"], str) for outcome in outcomes):
        raise HTTPException(422, "student_id: a pseudonym is a whole number (send ids=sis for the school's own ids)")
    unknown = never_scored(db, [outcome["student_id"] for outcome in outcomes])
    if unknown:
        raise HTTPException(422, {"message": f"{len(unknown)} of {len(body.outcomes)} outcomes are for students no "
                                             "model scored (by a batch or this service); nothing was stored",
                                  "students": [sent.get(student, student) for student in unknown[:20]]})
    stored = record_feedback(db, outcomes, posted_by=caller.key_id)
    return {"stored": stored, "by": caller.who}
