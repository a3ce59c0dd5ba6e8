"""A student's data for the school's data protection officer (scope ``operate``): where it is held, all of it as a
ZIP, erasure, and the audit log of who read it. Every call about a student is itself audited."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request, Response

from api.auth import Operator
from api.school_ids import pseudonym_of, service_pseudonyms
from tasks.privacy import audit, subject

router = APIRouter(prefix="/privacy", tags=["privacy"])
STUDENT = "the student's pseudonym, or with sis=true the school's own id"


def _student(request: Request, student: str, sis: bool) -> int:
    """The pseudonym the request names: the path's number, or the school's id made one with the service's key."""
    if not sis:
        if not student.isdigit() or len(student) > 16:
            raise HTTPException(422, "student: a pseudonym is a whole number (send sis=true for the school's id)")
        return int(student)
    return pseudonym_of(service_pseudonyms(request), student, "student")


@router.get("/students/{student}")
def find_student(student: str, request: Request, caller: Operator, sis: bool = Query(False)) -> dict:
    """Where the student is held: documents per kind, files, the model versions trained on their rows."""
    db, student_id = request.app.state.serving.db(), _student(request, student, sis)
    found = subject.find(db, student_id)
    audit.record(db, f"api, {caller.who}", "find", student_id, "GET /privacy/students")
    return {"student": student_id, "places": found.count, "documents": found.summary(),
            "files": sorted(found.files), "models": subject.trained_on(db, found)}


@router.get("/students/{student}/export", response_class=Response,
            responses={200: {"content": {"application/zip": {}}, "description": "everything held on the student"}})
def export_student(student: str, request: Request, caller: Operator, sis: bool = Query(False)) -> Response:
    """Everything held on the student, as one ZIP (documents, files' rows and lines, models trained on them)."""
    db, student_id = request.app.state.serving.db(), _student(request, student, sis)
    data = subject.export(db, student_id)
    audit.record(db, f"api, {caller.who}", "export", student_id, "GET /privacy/students/export")
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="student-{student_id}.zip"'})


@router.post("/students/{student}/erase")
def erase_student(student: str, request: Request, caller: Operator, sis: bool = Query(False)) -> dict:
    """Erase the student everywhere; the erasure's record (what was found, which model versions were trained on
    their rows) is kept, their id is not."""
    db, student_id = request.app.state.serving.db(), _student(request, student, sis)
    record = subject.erase(db, student_id, by=f"api, {caller.who}")
    audit.record(db, f"api, {caller.who}", "erase", subject.ERASED, f"POST /privacy/students/erase "
                                                                     f"({record['erasure_id']})")
    return {k: v for k, v in record.items() if k != "digest"}


@router.get("/audit")
def audit_log(request: Request, caller: Operator, student: int | None = None,
              limit: int = Query(200, ge=1, le=5000)) -> list[dict]:
    """Who read a student's data (their page, an export) or erased it, newest first."""
    return audit.entries(request.app.state.serving.db(), student, limit)


@router.get("/erasures")
def erasures(request: Request, caller: Operator) -> list[dict]:
    """Every erasure: when, by whom, what it found."""
    from infra.collections import ERASURES

    return list(request.app.state.serving.db()[ERASURES].find({}, {"_id": 0, "digest": 0}).sort("at", -1))
