"""The console mounted on the Flask blueprint (``vbwd_plugins.web.flask``).

Flask is imported when the console is mounted (``web.flask`` has imported it by then).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from vbwd_plugins.web._common import refusal
from vbwd_plugins.web._console._console import Console
from vbwd_plugins.web._console._http import ConsoleRequest, ConsoleResponse, parse_form
from vbwd_plugins.web._console._session import COOKIE_NAME

if TYPE_CHECKING:
    import flask

__all__ = ["add_console"]


def add_console(
    blueprint: flask.Blueprint,
    console: Console,
    authorize: Callable[[flask.Request], bool] | None,
    prefix: str,
    read_body: Callable[[flask.Request], bytes | None],
) -> None:
    """Serve ``console`` under ``prefix`` of ``blueprint`` (GET and form POSTs)."""
    import flask

    prefix = "/" + prefix.strip("/")

    def console_route(path: str = "") -> flask.Response:
        request = flask.request
        sub = "/" + path
        full = request.script_root + request.path
        base = full[: len(full) - len(path)].rstrip("/") if path else full.rstrip("/")
        form: dict[str, list[str]] = {}
        if request.method == "POST":
            body = read_body(request)
            form = parse_form(body or b"", request.content_type) or {}
        answer = console.handle(
            ConsoleRequest(
                method=request.method,
                path=sub,
                base=base,
                query=request.args.to_dict(),
                form=form,
                cookie=request.cookies.get(COOKIE_NAME),
                secure=request.is_secure,
                fetch_site=request.headers.get("Sec-Fetch-Site"),
            ),
            refusal(authorize, request),
        )
        return _response(answer)

    methods = ["GET", "POST"]
    blueprint.add_url_rule(prefix, "console", console_route, methods=methods, strict_slashes=False)
    blueprint.add_url_rule(f"{prefix}/<path:path>", "console_path", console_route, methods=methods)


def _response(answer: ConsoleResponse) -> flask.Response:
    import flask

    response = flask.Response(answer.body, status=answer.status, headers=answer.headers)
    if answer.set_cookie is not None:
        response.headers.add("Set-Cookie", answer.set_cookie)
    return response
