"""uvicorn's HTTP protocols with a deadline for request headers, which uvicorn lacks."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT = 10.0  # seconds from a connection's (or a request's) first byte to its headers


class _HeaderDeadline:
    """Close a connection whose request headers take longer than ``header_timeout`` seconds
    from its first byte (or from the connection, for one that sends nothing): uvicorn has no
    such limit, and a client that trickles headers would hold a connection forever."""

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    config: Any
    cycle: Any

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_bytes = False
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        if self._awaiting_headers():
            self._header_bytes = True
            if self._header_timer is None:
                self._arm_header_timer()
        super().data_received(data)  # type: ignore[misc]
        if not self._awaiting_headers():
            self._cancel_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)  # type: ignore[misc]

    def _awaiting_headers(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm_header_timer(self) -> None:
        seconds = getattr(self.config, "header_timeout", HEADER_TIMEOUT)
        self._header_timer = self.loop.call_later(seconds, self._headers_late)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        self._header_bytes = False

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not self._awaiting_headers():
            return
        if self._header_bytes:
            body = b'{"error": "the request headers did not arrive in time"}'
            self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/"
                                 b"json\r\nconnection: close\r\ncontent-length: "
                                 + str(len(body)).encode() + b"\r\n\r\n" + body)
        self.transport.close()


class H11WithDeadline(_HeaderDeadline, H11Protocol):
    pass


try:  # httptools parses faster than h11; h11 is the fallback uvicorn always has
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HttpToolsWithDeadline(_HeaderDeadline, HttpToolsProtocol):
        pass

    PROTOCOL: type = HttpToolsWithDeadline
except ImportError:  # pragma: no cover
    PROTOCOL = H11WithDeadline


def protocol(parser: str = "auto") -> type:
    """The protocol class for uvicorn's ``http`` setting: httptools when there, else h11."""
    return H11WithDeadline if parser == "h11" else PROTOCOL
