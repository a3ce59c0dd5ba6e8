"""An ASGI guard in front of the routes: a request with a body must be JSON and at most ``max_bytes`` long.
Checked before anything is parsed, so an oversized or wrongly typed body costs almost nothing."""

from __future__ import annotations

import json

RETRY_AFTER_S = 5  # what a 503 asks a client to wait while the store is not answering


class BodyTooLarge(Exception):
    """The body grew past the limit while it was being received."""


class JsonBodyGuard:
    """415 for a body that is not JSON, 413 for one over the size limit (declared or actually received)."""

    def __init__(self, app, max_bytes: int, form_paths: tuple[str, ...] = ("/dashboard/",)) -> None:
        self.app, self.max_bytes, self.form_paths = app, max_bytes, form_paths

    async def __call__(self, scope, receive, send) -> None:
        """Check the request's headers, then count its body's bytes as they arrive."""
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH") \
                or scope["path"].startswith(self.form_paths):  # the dashboard's buttons post forms, no body
            await self.app(scope, receive, send)
            return
        headers = {key.decode().lower(): value.decode() for key, value in scope["headers"]}
        declared = headers.get("content-length")
        if declared in (None, "0") and "transfer-encoding" not in headers:  # no body: nothing to check
            await self.app(scope, receive, send)
            return
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            await self._answer(send, 415, f"the body must be JSON (Content-Type: application/json), got "
                                          f"{content_type or 'no content type'!r}")
            return
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            await self._answer(send, 413, f"the body is {declared} bytes; at most {self.max_bytes} "
                                          "(PIPELINE_API_MAX_BODY_BYTES)")
            return
        received, started = 0, False

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
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
                await self._answer(send, 413, f"the body is over {self.max_bytes} bytes (PIPELINE_API_MAX_BODY_BYTES)")

    @staticmethod
    async def _answer(send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
