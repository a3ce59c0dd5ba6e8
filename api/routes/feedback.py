"""POST /feedback: true outcomes for students, so live performance per arm and per version can be measured."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.schemas import FeedbackRequest
from tasks.serving.store import record_feedback

router = APIRouter(tags=["feedback"])


@router.post("/feedback")
def feedback(body: FeedbackRequest, request: Request) -> dict:
    """Store each student's true outcome (the latest posted wins); A/B tests and live performance read them."""
    stored = record_feedback(request.app.state.serving.db(),
                             [outcome.model_dump(exclude_none=True) for outcome in body.outcomes])
    return {"stored": stored}
