"""POST /predict: raw records in, one logged prediction per record out (the champion's, or a running A/B test's
sticky arm)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request

from api.answering import LogWriteError, NoChampionError
from api.auth import Predictor
from api.batching import Job
from api.guards import RETRY_AFTER_S
from api.schemas import PredictRequest, PredictResponse
from api.school_ids import pseudonym_of, service_pseudonyms
from infra.errors import StorageError
from tasks.registry.store import ModelNotFoundError
from tasks.serving.trust import OFFICIAL
from validation.contracts import DEFAULT_PROBLEM, TARGETS, Problem
from validation.records import split_records

router = APIRouter(tags=["predictions"])


@router.post("/predict", response_model=PredictResponse, responses={
    413: {"description": "too many records"}, 422: {"description": "invalid records, with their reasons"},
    503: {"description": "no champion yet, or the store (and so the prediction log) unreachable"}})
def predict(body: PredictRequest, request: Request, caller: Predictor,
            problem: Annotated[Problem, Query(description="which model answers")] = DEFAULT_PROBLEM,
            version: Annotated[int | None, Query(ge=1, description="a version to answer instead of the champion "
                                                                   "(scope operate); logged like any prediction")]
            = None,
            explain: Annotated[bool, Query(description="answer each prediction with the inputs that moved it most "
                                                       "(its reasons: docs/service.md)")] = False,
            ids: Annotated[Literal["pseudonyms", "sis"], Query(
                description="what the records' student_id is: the pseudonym the store holds, or the school's own "
                            "id (made its pseudonym with the service's key; answered as sent)")] = "pseudonyms",
            ) -> PredictResponse:
    """Predict every record with the champion (or its A/B arm; or, asked by an operator, a given version) and log
    every answer before returning it."""
    state = request.app.state.serving
    if not body.records:
        raise HTTPException(422, "records is empty: send at least one student record")
    if len(body.records) > state.settings.api_max_records:
        raise HTTPException(413, f"{len(body.records)} records in one request; at most "
                                 f"{state.settings.api_max_records} (PIPELINE_API_MAX_RECORDS)")
    name = TARGETS[problem]
    if name not in state.snapshot.champions:
        raise HTTPException(503, f"model {name!r} has no champion yet: run python flows/main.py on a labeled batch")
    contract = state.snapshot.contract(name)  # the champion's inputs: a dataset's extras are checked like ours
    if version is not None:
        if "operate" not in caller.scopes:
            raise HTTPException(403, "answering with a given version needs a key with the 'operate' scope")
        try:
            contract = state.model(name, version).contract
        except ModelNotFoundError:
            raise HTTPException(404, f"model {name!r} has no version {version}") from None
    records, sent = body.records, {}
    if ids == "sis":
        pseudonyms, records = service_pseudonyms(request), []
        for position, record in enumerate(body.records):
            if isinstance(record, dict):
                pseudonym = pseudonym_of(pseudonyms, record.get("student_id"), f"records[{position}]")
                sent[pseudonym], record = record.get("student_id"), {**record, "student_id": pseudonym}
            records.append(record)
    accepted, rejected = split_records(records, labeled=False, contract=contract)
    if rejected:
        raise HTTPException(422, {"message": f"{len(rejected)} of {len(body.records)} records are invalid; nothing "
                                             "was predicted", "invalid": [
            {"position": r["position"], "student_id": sent.get(r["student_id"], r["student_id"]),
             "reasons": r["reasons"]} for r in rejected]})
    job = Job(name, uuid.uuid4().hex, [record for _, record in accepted], version=version, explain=explain,
              asked_by=caller.who, official=OFFICIAL in caller.scopes)
    try:
        answers = request.app.state.batcher.submit(job)
    except (NoChampionError, LogWriteError, StorageError) as exc:
        retry = {} if isinstance(exc, NoChampionError) else {"Retry-After": str(RETRY_AFTER_S)}
        raise HTTPException(503, str(exc), headers=retry) from None
    if sent:
        answers = [{**answer, "student_id": sent.get(answer["student_id"], answer["student_id"])} for answer in answers]
    return PredictResponse(request_id=job.request_id, predictions=answers)
