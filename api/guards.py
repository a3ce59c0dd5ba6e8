"""An ASGI guard in front of the routes: a request with a body must be JSON and at most ``max_bytes`` long, and a
dashboard form at most ``max_form_bytes``. Checked before anything is parsed, so an oversized or wrongly typed body
costs almost nothing, on every route."""

from __future__ import annotations

import json

RETRY_AFTER_S = 5  # what a 503 asks a client to wait while the store is not answering


class BodyTooLarge(Exception):
    """The body grew past the limit while it was being received."""


FORM_TYPES = ("application/x-www-form-urlencoded", "")  # what the dashboard's forms post (a button: no body)


class JsonBodyGuard:
    """415 for a body that is not JSON (not a form, on the dashboard), 413 for one over its size limit (declared
    or actually received)."""

    def __init__(self, app, max_bytes: int, max_form_bytes: int = 65_536,
                 form_paths: tuple[str, ...] = ("/dashboard/",)) -> None:
        self.app, self.max_bytes, self.max_form_bytes, self.form_paths = app, max_bytes, max_form_bytes, form_paths

    async def __call__(self, scope, receive, send) -> None:
        """Check the request's headers, then count its body's bytes as they arrive."""
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH", "DELETE"):
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        declared = headers.get("content-length")
        if declared in (None, "0") and "transfer-encoding" not in headers:  # no body: nothing to check
            await self.app(scope, receive, send)
            return
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        form = scope["path"].startswith(self.form_paths)
        limit, setting = ((self.max_form_bytes, "PIPELINE_API_MAX_FORM_BYTES") if form
                          else (self.max_bytes, "PIPELINE_API_MAX_BODY_BYTES"))
        if form and content_type not in FORM_TYPES:
            await self._answer(send, 415, f"a dashboard form is posted as application/x-www-form-urlencoded, got "
                                          f"{content_type!r}")
            return
        if not form and content_type != "application/json":
            await self._answer(send, 415, f"the body must be JSON (Content-Type: application/json), got "
                                          f"{content_type or 'no content type'!r}")
            return
        if declared and declared.isdigit() and int(declared) > limit:
            await self._answer(send, 413, f"the body is {declared} bytes; at most {limit} ({setting})")
            return
        received, started = 0, False

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if not started:
                await self._answer(send, 413, f"the body is over {limit} bytes ({setting})")

    @staticmethod
    async def _answer(send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
