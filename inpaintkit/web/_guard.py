"""Request guards of the web app, as one ASGI middleware around every route.

* **Host allow-list**: a request whose ``Host`` is not an allowed name gets a 400. A web page on
  another site that rebinds its DNS name to this machine (DNS rebinding) still sends its own name
  as ``Host``, so it cannot reach the API.
* **Origin check**: a ``POST`` whose ``Origin`` header is present must come from an allowed host on
  the port it was sent to; any other (another site's form or script, ``null``) gets a 403.
* **Security headers** on every answer, errors, static files and pictures included: a
  ``Content-Security-Policy`` (the page's own for ``/``, a looser one for the OpenAPI pages, which
  need inline scripts, and ``default-src 'none'`` for the rest) and ``X-Content-Type-Options: nosniff``.
* **JSON 500**: an unexpected exception (a model that fails, a bug) is logged with its traceback
  and answered as ``{"error": "one line"}``, never as a plain-text body.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

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
        extra = [
            (b"content-security-policy", policy_for(scope["path"]).encode()),
            (b"x-content-type-options", b"nosniff"),
        ]
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
