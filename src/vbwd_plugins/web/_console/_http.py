"""The console's requests and responses, framework-neutral, with its security headers.

The Flask and ASGI adapters translate to :class:`ConsoleRequest` and from
:class:`ConsoleResponse`; everything else happens here, so both serve the same bytes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs

if TYPE_CHECKING:
    import jinja2

__all__ = [
    "SECURITY_HEADERS",
    "ConsoleRequest",
    "ConsoleResponse",
    "html",
    "parse_form",
    "redirect",
    "static_file",
]

#: Sent with every console response: no inline script or style, no framing, no sniffing.
SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

_STATIC_TYPES: Final = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class ConsoleRequest:
    """One browser request, as the console sees it."""

    method: str
    #: The path below the console's mount point (``/plugins/stripe``).
    path: str
    #: The URL path the console is mounted at (``/api/v1/admin/console``), for links.
    base: str
    query: Mapping[str, str] = field(default_factory=dict)
    form: Mapping[str, list[str]] = field(default_factory=dict)
    #: The value of the console's cookie, if the browser sent one.
    cookie: str | None = None
    #: Served over https (the cookie is then ``Secure``).
    secure: bool = False
    #: ``Sec-Fetch-Site`` (browsers send it; ``cross-site`` on a forged form).
    fetch_site: str | None = None


@dataclass(slots=True)
class ConsoleResponse:
    """An answer: status, body and headers (``Set-Cookie`` at most once)."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    set_cookie: str | None = None


def parse_form(body: bytes, content_type: str | None) -> dict[str, list[str]] | None:
    """An ``application/x-www-form-urlencoded`` body as lists of values; ``None`` for any
    other content type (the console's forms send nothing else)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        return None
    text = body.decode("utf-8", "replace")
    return parse_qs(text, keep_blank_values=True, max_num_fields=1000)


@functools.cache
def environment() -> jinja2.Environment:
    """The template environment (autoescaping everything; templates are package data)."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("vbwd_plugins.web._console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def html(status: int, template: str, context: Mapping[str, Any]) -> ConsoleResponse:
    """A rendered page; never cached (it shows live state)."""
    body = environment().get_template(template).render(**context).encode("utf-8")
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        **SECURITY_HEADERS,
    }
    return ConsoleResponse(status, body, headers)


def redirect(location: str) -> ConsoleResponse:
    """303 See Other: after a form, the browser GETs ``location``."""
    return ConsoleResponse(
        303, b"", {"Location": location, "Cache-Control": "no-store", **SECURITY_HEADERS}
    )


def static_file(name: str) -> ConsoleResponse:
    """A stylesheet or script of the console (package data), or 404."""
    suffix = name[name.rfind(".") :] if "." in name else ""
    kind = _STATIC_TYPES.get(suffix)
    if kind is None or "/" in name or name.startswith("."):
        return ConsoleResponse(
            404, b"Not found", {"Content-Type": "text/plain", **SECURITY_HEADERS}
        )
    resource = resources.files("vbwd_plugins.web._console").joinpath("static", name)
    if not resource.is_file():
        return ConsoleResponse(
            404, b"Not found", {"Content-Type": "text/plain", **SECURITY_HEADERS}
        )
    headers = {"Content-Type": kind, "Cache-Control": "public, max-age=3600", **SECURITY_HEADERS}
    return ConsoleResponse(200, resource.read_bytes(), headers)
