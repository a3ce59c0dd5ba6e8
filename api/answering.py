"""Answering a batch of prediction requests: features for all their records at once (in this process, a share
checked against the store's aggregation; or in the store over ``$documents``), each student routed (the
champion, or a running A/B test's sticky arm), one prediction per model version, and every answer logged in one
insert before any is returned."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pandas as pd

from api.batching import Job
from api.state import ServingState
from infra.errors import UserError
from tasks.scoring.predict import predict_frame, prediction_documents
from tasks.scoring.reasons import contributions, top_reasons
from tasks.serving.abtest import route
from tasks.serving.features import in_process_features
from tasks.serving.store import log_predictions, request_features, stored_features
from tasks.serving.trust import PINNED, Provenance, provenance


class NoChampionError(UserError, LookupError):
    """The model has no champion yet (the service answers 503)."""


class LogWriteError(UserError, RuntimeError):
    """The prediction log could not be written, so no answer is given (the service answers 503)."""


ANSWER_FIELDS = ("student_id", "prediction", "probability", "model", "version", "arm", "counts")


def answer_jobs(state: ServingState, jobs: list[Job]) -> Callable[[], None]:
    """Compute every job's predictions; returns the second step, which logs them in one insert and then fills every
    job's answers (in its records' order), or raises: then no job is answered. (The batcher runs that step after
    handing the next batch to another worker: the log's write overlaps the next batch's computing.)"""
    name = jobs[0].name
    snapshot = state.snapshot  # one view of the registry for the whole batch
    champion = snapshot.champions.get(name)
    if champion is None:
        raise NoChampionError(f"model {name!r} has no champion yet: run python flows/main.py on a labeled batch")
    db = state.db()
    pinned = jobs[0].version  # an operator's request for a given version (every job of a batch asks the same)
    contract = state.model(name, pinned).contract if pinned else snapshot.contract(name)
    records = [record for job in jobs for record in job.records]
    if state.settings.api_features == "store":
        frame = request_features(db, records, jobs[0].request_id, contract)
    else:  # in this process; a share checked against the store's aggregation in the background
        frame = in_process_features(records, jobs[0].request_id, contract)
        state.parity.offer(name, records, jobs[0].request_id, contract, frame)
    test = snapshot.tests.get(name) if pinned is None else None  # a pinned version is no test's arm
    routes = route(frame["student_id"].tolist(), pinned or champion.version, test)
    frame = frame.assign(arm=[arm for arm, _ in routes], version=[version for _, version in routes])
    request_of = {student: job.request_id for job in jobs for student in job.students}
    asked_by = {student: job.asked_by for job in jobs for student in job.students}
    trusted = {student for job in jobs if job.official and not pinned for student in job.students}
    counted = provenance(frame, stored_features(db, sorted(trusted), contract.features) if trusted else [],
                         contract.features, trusted)
    if pinned:  # an operator's look at a given version: answered and logged, never a measurement
        counted = dict.fromkeys(counted, Provenance(False, PINNED))
    explained = {student for job in jobs if job.explain for student in job.students}
    now, documents, reasons = datetime.now(UTC), [], {}
    for (arm, version), part in frame.groupby(["arm", "version"], dropna=False, sort=False):
        arm = None if pd.isna(arm) else arm
        loaded = state.model(name, int(version))
        predictions = predict_frame(loaded.model, part, loaded.problem)
        asked = part[part["student_id"].isin(explained)]
        if len(asked):  # the reasons of the model that answered, from the same features
            found = top_reasons(contributions(loaded.model, asked), asked)
            reasons.update(zip(asked["student_id"].tolist(), found, strict=True))
        extra = {"source": "api", **({"ab_test": test["test_id"]} if test else {}),
                 **({"pinned": True} if pinned else {})}
        for request_id, rows in predictions.groupby(predictions["student_id"].map(request_of)):
            documents += prediction_documents(rows, f"api:{request_id}", name, loaded.version, arm, now,
                                              request_id=request_id, **extra)
    if test is not None and test.get("mode") == "shadow":  # B scores the same students; logged, never returned
        shadow = state.model(name, test["arms"]["B"]["version"])
        scored = predict_frame(shadow.model, frame, shadow.problem)
        for request_id, rows in scored.groupby(scored["student_id"].map(request_of)):
            documents += prediction_documents(rows, f"api:{request_id}", name, shadow.version, "B", now,
                                              request_id=request_id, source="api", ab_test=test["test_id"],
                                              shadow=True)
    for document in documents:  # who asked, and whether the monitors may count it (tasks/serving/trust.py)
        document["asked_by"] = asked_by[document["student_id"]]
        document.update(counted[document["student_id"]].as_fields())
    return lambda: _log_and_answer(db, jobs, documents, reasons)


def _log_and_answer(db, jobs: list[Job], documents: list[dict], reasons: dict) -> None:
    try:
        log_predictions(db, documents)
    except Exception as exc:  # noqa: BLE001 - an unlogged answer is never given
        raise LogWriteError(f"the predictions could not be logged ({type(exc).__name__}), so none are returned; "
                            "retry when the store answers") from None
    by_student = {doc["student_id"]: doc for doc in documents if not doc.get("shadow")}
    for job in jobs:
        job.answers = [{**{key: by_student[record["student_id"]][key] for key in ANSWER_FIELDS},
                        **({"explanation": reasons[record["student_id"]]} if job.explain else {})}
                       for record in job.records]
