"""Request guards of the web app, as one ASGI middleware around every route.

* **Host allow-list**: a request whose ``Host`` is not an allowed name gets a 400. A web page on
  another site that rebinds its DNS name to this machine (DNS rebinding) still sends its own name
  as ``Host``, so it cannot reach the API.
* **Origin check**: a ``POST`` whose ``Origin`` header is present must come from an allowed host on
  the port it was sent to; any other (another site's form or script, ``null``) gets a 403.
* **Security headers** on every answer, errors, static files and pictures included: a
  ``Content-Security-Policy`` (the page's own for ``/``, a looser one for the OpenAPI pages, which
  need inline scripts, and ``default-src 'none'`` for the rest) and ``X-Content-Type-Options: nosniff``.
* The same headers on the 400 that the HTTP layer (uvicorn) sends itself for a malformed request
  (a bad ``Content-Length``), which never reaches the app (:func:`uvicorn_config`).
* **JSON 500**: an unexpected exception (a model that fails, a bug) is logged with its traceback
  and answered as ``{"error": "one line"}``, never as a plain-text body.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._http import WebError

log = logging.getLogger(__name__)

#: Host names every server accepts, whatever address it is bound to.
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
#: The page loads nothing from elsewhere; this makes the browser refuse it if it ever tried.
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
#: The OpenAPI pages (/docs, /redoc) start their local scripts with inline code.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
#: Everything else (JSON, pictures, static files, errors) is never a document that runs anything.
DATA_POLICY = "default-src 'none'; base-uri 'none'; frame-ancestors 'none'"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_HOST = re.compile(r"(?P<name>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>[0-9]{1,5}))?")
_ORIGIN = re.compile(r"(?P<scheme>https?)://" + _HOST.pattern)


def normalise_host(name: str) -> str:
    """A host name as compared: lower case, without IPv6 brackets or a final dot."""
    return name.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")


def security_headers(policy: str) -> list[tuple[bytes, bytes]]:
    """The headers every answer carries, with the ``Content-Security-Policy`` ``policy``."""
    return [(b"content-security-policy", policy.encode()), (b"x-content-type-options", b"nosniff")]


def uvicorn_config(app: ASGIApp, host: str, port: int, log_level: str) -> Any:
    """uvicorn's config for ``app``, whose own 400s (malformed requests) carry the security headers too."""
    import h11
    import uvicorn
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11(H11Protocol):
        def send_400_response(self, msg: str) -> None:
            send = self.conn.send

            def with_headers(event: Any) -> Any:
                if isinstance(event, h11.Response):
                    headers = [*event.headers, *security_headers(DATA_POLICY)]
                    event = h11.Response(status_code=event.status_code, headers=headers, reason=event.reason)
                return send(event)

            self.conn.send = with_headers
            try:
                super().send_400_response(msg)
            finally:
                del self.conn.send  # back to the class's method

    return uvicorn.Config(app, host=host, port=port, log_level=log_level, http=GuardedH11)


def policy_for(path: str) -> str:
    """The ``Content-Security-Policy`` sent with an answer for ``path``."""
    if path == "/":
        return PAGE_POLICY
    if path in ("/docs", "/redoc") or path.startswith("/docs/"):
        return DOCS_POLICY
    return DATA_POLICY


class Guard:
    """ASGI middleware: Host allow-list, Origin check on POST, security headers, JSON 500s.

    Args:
        app: the application it wraps.
        hosts: names accepted in ``Host`` besides :data:`LOCAL_HOSTS` (the bound address, a LAN name).
    """

    def __init__(self, app: ASGIApp, hosts: Iterable[str] = ()) -> None:
        self.app = app
        self.hosts = frozenset(normalise_host(name) for name in (*LOCAL_HOSTS, *hosts))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(policy_for(scope["path"]))
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                kept = [
                    (key, value)
                    for key, value in message.get("headers", [])
                    if key.lower() not in (b"content-security-policy", b"x-content-type-options")
                ]
                message = {**message, "headers": kept + extra}
            await send(message)

        try:
            self.check(scope)
        except WebError as err:
            await err.response()(scope, receive, send_with_headers)
            return
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as err:
            log.exception("%s %s failed", scope["method"], scope["path"])
            if started:
                raise
            await _internal_error(err).response()(scope, receive, send_with_headers)

    def check(self, scope: Scope) -> None:
        """Refuse (:class:`WebError`) a request for another host, or a cross-origin POST."""
        headers = Headers(scope=scope)
        host = headers.get("host")
        if host is None:
            raise WebError(400, "the request has no Host header")
        matched = _HOST.fullmatch(host.strip())
        if matched is None or normalise_host(matched["name"]) not in self.hosts:
            raise WebError(
                400,
                f"unknown host {host!r}: this server answers to {', '.join(sorted(self.hosts))}; "
                "add a name with `inpaintkit serve --allow-host NAME`",
                allowed_hosts=sorted(self.hosts),
            )
        origin = headers.get("origin")
        if scope["method"] in _SAFE_METHODS or origin is None:
            return
        source = _ORIGIN.fullmatch(origin.strip())
        port = matched["port"] or ("443" if scope.get("scheme") == "https" else "80")
        if (
            source is None
            or normalise_host(source["name"]) not in self.hosts
            or (source["port"] or ("443" if source["scheme"] == "https" else "80")) != port
        ):
            raise WebError(
                403,
                f"cross-origin request refused: Origin {origin!r} is not this server (an allowed host on port {port})",
            )


def _internal_error(err: Exception) -> WebError:
    """A one-line JSON 500 for an exception nobody expected (its traceback goes to the log)."""
    if isinstance(err, MemoryError):
        return WebError(
            500, "the server ran out of memory on this request: send hd_strategy=crop or resize, or a smaller picture"
        )
    first = (str(err).strip().splitlines() or [""])[0][:200]
    return WebError(
        500, f"internal error: {type(err).__name__}{': ' + first if first else ''} (details in the server log)"
    )
