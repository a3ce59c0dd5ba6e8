"""POST /predict: raw records in, one logged prediction per record out (the champion's, or a running A/B test's
sticky arm)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, HTTPException, Query, Request

from api.schemas import PredictRequest, PredictResponse
from tasks.scoring.predict import predict_frame, prediction_documents
from tasks.serving.abtest import route
from tasks.serving.store import log_predictions, request_features
from validation.contracts import TARGETS, Problem
from validation.records import split_records

router = APIRouter(tags=["predictions"])


@router.post("/predict", response_model=PredictResponse, responses={
    413: {"description": "too many records"}, 422: {"description": "invalid records, with their reasons"},
    503: {"description": "no champion yet, or the store (and so the prediction log) unreachable"}})
def predict(body: PredictRequest, request: Request,
            problem: Annotated[Problem, Query(description="which model answers")] = "classification",
            ) -> PredictResponse:
    """Predict every record with the champion (or its A/B arm) and log every answer before returning it."""
    state = request.app.state.serving
    if not body.records:
        raise HTTPException(422, "records is empty: send at least one student record")
    if len(body.records) > state.settings.api_max_records:
        raise HTTPException(413, f"{len(body.records)} records in one request; at most "
                                 f"{state.settings.api_max_records} (PIPELINE_API_MAX_RECORDS)")
    name = TARGETS[problem]
    snapshot = state.snapshot  # one view of the registry for the whole request
    champion = snapshot.champions.get(name)
    if champion is None:
        raise HTTPException(503, f"model {name!r} has no champion yet: run python flows/main.py on a labeled batch")
    accepted, rejected = split_records(body.records, labeled=False)
    if rejected:
        raise HTTPException(422, {"message": f"{len(rejected)} of {len(body.records)} records are invalid; nothing "
                                             "was predicted", "invalid": [
            {"position": r["position"], "student_id": r["student_id"], "reasons": r["reasons"]} for r in rejected]})
    request_id = uuid.uuid4().hex
    db = state.db()
    frame = request_features(db, [record for _, record in accepted], request_id)
    test = snapshot.tests.get(name)
    routes = route(frame["student_id"].tolist(), champion.version, test)
    frame = frame.assign(arm=[arm for arm, _ in routes], version=[version for _, version in routes])
    now, documents = datetime.now(UTC), []
    for (arm, version), part in frame.groupby(["arm", "version"], dropna=False, sort=False):
        arm = None if pd.isna(arm) else arm
        loaded = state.model(name, int(version))
        predictions = predict_frame(loaded.model, part, loaded.problem)
        documents += prediction_documents(predictions, f"api:{request_id}", name, loaded.version, arm, now,
                                          request_id=request_id, source="api",
                                          **({"ab_test": test["test_id"]} if test else {}))
    try:
        log_predictions(db, documents)
    except Exception as exc:  # noqa: BLE001 - an unlogged answer is never given
        raise HTTPException(503, f"the predictions could not be logged ({type(exc).__name__}), so none are "
                                 "returned; retry when the store answers") from None
    by_student = {doc["student_id"]: doc for doc in documents}
    return PredictResponse(request_id=request_id, predictions=[
        {key: by_student[record["student_id"]][key] for key in ("student_id", "prediction", "probability", "model",
                                                                 "version", "arm")}
        for _, record in accepted])
