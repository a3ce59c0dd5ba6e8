"""The service's HTTP protocol: uvicorn's (httptools), with a bound on what an unauthenticated client can make it do
before a request reaches the application.

- A request line and headers larger than ``PIPELINE_API_MAX_HEADER_BYTES`` are refused with 431 before the parser
  has seen more than that: the parser accumulates a header's value by concatenation, so a 64 MB header cost it
  tens of seconds of CPU (measured: 23.9 s while other clients waited). Bytes are fed to it in slices while the
  head is incomplete and counted as they go.
- A connection that has not sent a whole head within ``PIPELINE_API_HEADER_TIMEOUT_S`` is closed (a client that
  opens connections and sends nothing, or a byte at a time, holds none of them for long).
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

SLICE = 4096  # bytes fed to the parser at a time while a request's head is incomplete

STATUS_431 = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
              b"connection: close\r\ncontent-length: %d\r\n\r\n%s")


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded request head and a deadline for it."""

    max_head: int | None = None
    head_timeout: float | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        """Start counting the first request's head, and its deadline."""
        if BoundedHttpProtocol.max_head is None:  # read once per process, when the first client connects
            from infra.settings import get_settings

            settings = get_settings()
            BoundedHttpProtocol.max_head = settings.api_max_header_bytes
            BoundedHttpProtocol.head_timeout = settings.api_header_timeout_s
        super().connection_made(transport)
        self._head_bytes, self._in_head, self._head_timer = 0, True, None
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the head's deadline with the connection."""
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser; while a head is incomplete, in slices, counted against the limit."""
        if not self._in_head:
            super().data_received(data)
            return
        view = memoryview(data)
        for start in range(0, len(data), SLICE):
            if not self._in_head:
                super().data_received(bytes(view[start:]))
                return
            piece = bytes(view[start:start + SLICE])
            self._head_bytes += len(piece)
            if self._head_bytes > self.max_head:
                self._refuse_head()
                return
            super().data_received(piece)
            if self.transport.is_closing():
                return

    def _refuse_head(self) -> None:
        body = (b'{"detail": "the request line and headers are over %d bytes (PIPELINE_API_MAX_HEADER_BYTES)"}'
                % self.max_head)
        self.transport.write(STATUS_431 % (len(body), body))
        self.transport.close()

    def on_message_begin(self) -> None:
        """A new request on the connection: its head is counted and timed afresh."""
        super().on_message_begin()
        self._in_head, self._head_bytes = True, 0
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        """The head is whole: the request goes on as uvicorn handles it."""
        self._in_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().on_headers_complete()


def uvicorn_options() -> dict:
    """What every uvicorn serving this app is started with (``python -m api``, the tests, the benchmarks): the
    bounded protocol, and no proxy-header rewriting of the client's address by uvicorn (the service decides whom to
    believe: ``PIPELINE_API_FORWARDED_ALLOW_IPS``, ``api/auth.py``)."""
    BoundedHttpProtocol.max_head = BoundedHttpProtocol.head_timeout = None  # read again by this server's first client
    return {"http": BoundedHttpProtocol, "proxy_headers": False}
