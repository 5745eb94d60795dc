"""Serve a fake two ways: as an ``httpx`` transport in-process, or as a real loopback HTTP server.

Every fake in ``afk.testing`` is one function ``handle(httpx.Request) -> httpx.Response``. This
module runs that function behind ``httpx.MockTransport`` (fast, for unit and contract tests) or
behind a threaded HTTP server bound to 127.0.0.1 on an ephemeral port (for subprocess tests of the
installed ``afk`` and for benchmarks with real sockets). A handler raises ``DropConnection`` to
simulate a reply lost on the wire: the server closes the socket without answering and the mock
transport raises the ``httpx`` error a real client would see. The loopback server can also
speak TLS, and trickle its replies a byte at a time (a slow or hostile server).
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

import httpx

Handler = Callable[[httpx.Request], httpx.Response]


class DropConnection(Exception):
    """Raised by a fake's handler: close the connection without a reply."""


def mock_transport(handler: Handler, *, latency_s: float = 0.0) -> httpx.MockTransport:
    """An in-process transport: ``httpx.Client(transport=mock_transport(fake.handle))``."""

    def handle(request: httpx.Request) -> httpx.Response:
        if latency_s > 0:
            time.sleep(latency_s)
        request.read()
        try:
            return handler(request)
        except DropConnection:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None

    return httpx.MockTransport(handle)


Trickle = Literal["reply", "body"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    afk_handler: Handler
    afk_latency_s: float
    afk_trickle_s: float
    afk_trickle: Trickle

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet: a client that gave up (a timeout, a deadline) closes mid-reply on purpose."""


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else every small reply waits ~40 ms for a delayed ACK
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests read the fakes' own records, not access logs."""

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        host = self.headers.get("host", "127.0.0.1")
        request = httpx.Request(
            self.command,
            f"http://{host}{self.path}",
            headers=list(self.headers.items()),
            content=body,
        )
        if self.server.afk_latency_s > 0:
            time.sleep(self.server.afk_latency_s)
        try:
            response = self.server.afk_handler(request)
        except DropConnection:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return
        content = response.read()
        if self.server.afk_trickle_s > 0:
            self._trickle(response, content)
            return
        self.send_response(response.status_code)
        for name, value in response.headers.items():
            if name.lower() not in {"content-length", "transfer-encoding", "connection"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    def _trickle(self, response: httpx.Response, content: bytes) -> None:
        """Send the reply one byte at a time (from its first byte, or from its body's), each
        well inside any read timeout: only a deadline on the whole exchange ends it."""
        lines = [f"HTTP/1.1 {response.status_code} {response.reason_phrase}"]
        lines += [
            f"{name}: {value}"
            for name, value in response.headers.items()
            if name.lower() not in {"content-length", "transfer-encoding", "connection"}
        ]
        lines.append(f"Content-Length: {len(content)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        data = head + (b"" if self.command == "HEAD" else content)
        start = len(head) if self.server.afk_trickle == "body" else 0
        self.close_connection = True
        try:
            self.wfile.write(data[:start])
            for index in range(start, len(data)):
                time.sleep(self.server.afk_trickle_s)
                self.wfile.write(data[index : index + 1])
        except OSError:
            return  # the client gave up

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve


@contextlib.contextmanager
def loopback_server(
    handler: Handler,
    *,
    latency_s: float = 0.0,
    tls: ssl.SSLContext | None = None,
    trickle_s: float = 0.0,
    trickle: Trickle = "body",
) -> Iterator[str]:
    """Run ``handler`` on 127.0.0.1 (ephemeral port) for the ``with`` block; yields the base URL.

    With ``tls`` (a server-side context holding the certificate) it speaks HTTPS, so a client's
    certificate checks (which CA it trusts, from where) are tested as they run in production.
    With ``trickle_s`` every reply is sent a byte at a time, ``trickle_s`` apart: its body, or
    with ``trickle="reply"`` its status line and headers too.
    """
    server = _Server(("127.0.0.1", 0), _RequestHandler)
    server.afk_handler = handler
    server.afk_latency_s = latency_s
    server.afk_trickle_s = trickle_s
    server.afk_trickle = trickle
    scheme = "http"
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, name="afk-fake", daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"{scheme}://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
