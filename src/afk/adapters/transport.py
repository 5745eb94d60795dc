"""afk's HTTP transport: httpx over httpcore, with every socket operation held to the call's
deadline.

Why a transport of its own: httpx's timeouts bound each connect, write and read, never a whole
exchange, so a server that sends its reply a byte at a time (status line and headers included)
holds a call for as long as it likes. Reading the body as a stream and checking the clock
between chunks would miss trickled headers, and a watchdog thread cannot reach the socket. The
one seam that sees every socket operation is httpcore's network backend: ``_DeadlineBackend``
wraps the default one and gives each connect, TLS handshake, write and read at most what is
left of the current call's deadline (``afk.adapters.deadline.call_deadline``, a context variable
of the calling thread; outside any call nothing changes). When it is spent, the operation fails
with httpcore's own timeout, which httpx and afk's retry policy already understand. httpx does
not let a network backend be passed in, so this module builds the httpcore pools itself.

What it cannot bound: name resolution inside ``connect`` (the system resolver has its own
timeouts).

httpx applies the environment's proxies (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``,
``NO_PROXY``) only when no transport is given, so ``environment_mounts`` reads them the way
httpx does and routes them through this transport too.
"""

from __future__ import annotations

import ipaddress
import ssl
import typing
import urllib.request
from collections.abc import Iterable, Iterator

import httpcore
import httpx

from afk.adapters.deadline import call_remaining_s
from afk.errors import ConfigError

_DEADLINE_SPENT = "the call's overall deadline passed"

# Most specific first: the first match maps an httpcore failure to httpx's own class.
_MAPPED: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


def _clamped(timeout: float | None, spent: type[Exception]) -> float | None:
    """``timeout`` cut to what is left of the call's deadline; ``spent`` once nothing is."""
    remaining = call_remaining_s()
    if remaining is None:
        return timeout
    if remaining <= 0:
        raise spent(_DEADLINE_SPENT)
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamped(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamped(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        limit = _clamped(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, limit))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        limit = _clamped(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, limit, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        limit = _clamped(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, limit, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _mapped(exc: Exception) -> httpx.TransportError | None:
    for source, target in _MAPPED:
        if isinstance(exc, source):
            return target(str(exc))
    return None


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes]) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self._inner)
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            except Exception as exc:
                failure = _mapped(exc)
                if failure is None:
                    raise
            else:
                yield chunk
                continue
            raise failure

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if callable(close):
            close()


class DeadlineTransport(httpx.BaseTransport):
    """What ``httpx.HTTPTransport`` does for HTTP/1.1, over the deadline-aware backend."""

    def __init__(self, *, limits: httpx.Limits, proxy: str | None = None) -> None:
        context = httpx.create_ssl_context()
        backend = _DeadlineBackend()
        pool: httpcore.ConnectionPool
        if proxy is None:
            pool = httpcore.ConnectionPool(
                ssl_context=context,
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
                network_backend=backend,
            )
        else:
            url = httpx.URL(proxy)
            if url.scheme not in ("http", "https"):
                raise ConfigError(
                    f"proxy scheme {url.scheme!r} is not supported (use an http:// proxy)"
                )
            described = httpx.Proxy(url)
            pool = httpcore.HTTPProxy(
                proxy_url=httpcore.URL(
                    scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
                ),
                proxy_auth=described.raw_auth,
                proxy_headers=described.headers.raw,
                ssl_context=context,
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
                network_backend=backend,
            )
        self._pool = pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        failure: httpx.TransportError | None = None
        try:
            reply = self._pool.handle_request(core)
        except Exception as exc:
            failure = _mapped(exc)
            if failure is None:
                raise
        if failure is not None:
            raise failure
        assert isinstance(reply.stream, Iterable)
        return httpx.Response(
            status_code=reply.status,
            headers=reply.headers,
            stream=_ResponseStream(reply.stream),
            extensions=reply.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def environment_mounts(limits: httpx.Limits) -> dict[str, httpx.BaseTransport | None]:
    """The environment's proxies as httpx mounts, read as httpx reads them (curl's rules)."""
    found = urllib.request.getproxies()
    proxies: dict[str, str | None] = {}
    for scheme in ("http", "https", "all"):
        if found.get(scheme):
            address = found[scheme]
            proxies[f"{scheme}://"] = address if "://" in address else f"http://{address}"
    for host in (part.strip() for part in found.get("no", "").split(",")):
        if host == "*":
            return {}
        if host:
            proxies[_bypass_pattern(host)] = None
    return {
        pattern: None if url is None else DeadlineTransport(limits=limits, proxy=url)
        for pattern, url in proxies.items()
    }


def _bypass_pattern(host: str) -> str:
    if "://" in host:
        return host
    try:
        address = ipaddress.ip_address(host.split("/")[0])
    except ValueError:
        address = None
    if address is not None:
        return f"all://[{host}]" if address.version == 6 else f"all://{host}"
    if host.lower() == "localhost":
        return f"all://{host}"
    return f"all://*{host}"
