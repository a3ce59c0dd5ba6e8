"""The dashboard's sign-in: a key typed once into a form becomes a session cookie (the key never rides in URLs or
pages). The cookie is HttpOnly and SameSite=Strict, scoped to /dashboard, Secure over https; the store keeps only
the hash of its id, with the key's id and scopes, a CSRF token and an expiry (a TTL index removes it). Every form
that changes state carries the session's CSRF token, checked on the post: a form on another site can neither send
the cookie (SameSite) nor know the token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from fastapi import HTTPException, Request

COOKIE = "sp_session"
SIGN_IN_COOKIE = "sp_sign_in"  # the sign-in form's own token (login CSRF), set with the form
LIFETIME = timedelta(hours=8)


def _hash(session: str) -> str:
    return hashlib.sha256(session.encode()).hexdigest()


def start_session(request: Request, caller) -> tuple[str, dict]:
    """A new session for a verified caller: (the cookie's value, the stored document)."""
    from tasks.serving.store import insert_session

    session, now = secrets.token_urlsafe(32), datetime.now(UTC)
    document = {"session": _hash(session), "key_id": caller.key_id, "name": caller.name,
                "scopes": sorted(caller.scopes), "csrf": secrets.token_urlsafe(24), "created_at": now,
                "expires_at": now + LIFETIME}
    insert_session(request.app.state.serving.db(), document)
    return session, document


def current_session(request: Request) -> dict | None:
    """The live session the request's cookie names, if any."""
    from tasks.serving.store import find_session

    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    return find_session(request.app.state.serving.db(), _hash(cookie), datetime.now(UTC))


def session_caller(request: Request):
    """The caller a dashboard session stands for (only on the dashboard's own paths), or None."""
    from api.auth import Caller, key_is_active

    if not request.url.path.startswith("/dashboard"):
        return None
    session = current_session(request)
    if session is None or not key_is_active(request, session["key_id"]):  # a revoked key's sessions end with it
        return None
    request.state.session = session
    return Caller(session["key_id"], session.get("name", ""), frozenset(session["scopes"]))


def end_session(request: Request) -> None:
    """Sign out: the session is gone from the store."""
    from tasks.serving.store import end_session as forget

    cookie = request.cookies.get(COOKIE)
    if cookie:
        forget(request.app.state.serving.db(), _hash(cookie))


def check_csrf(request: Request, token: str | None) -> None:
    """A state-changing form must carry its session's CSRF token (403 otherwise)."""
    session = getattr(request.state, "session", None) or current_session(request)
    if session is None or not token or not hmac.compare_digest(session["csrf"], token):
        raise HTTPException(403, "this form is not from this dashboard's session (missing or wrong CSRF token): "
                                 "reload the page and try again")
