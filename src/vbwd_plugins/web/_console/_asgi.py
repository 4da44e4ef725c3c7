"""The console mounted on the ASGI app (``vbwd_plugins.web.asgi``).

Starlette is imported when the console is mounted (``web.asgi`` has imported it by then).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from vbwd_plugins.web._console._console import Console
from vbwd_plugins.web._console._http import ConsoleRequest, parse_form
from vbwd_plugins.web._console._session import COOKIE_NAME

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from vbwd_plugins.admin._response import AdminResponse

__all__ = ["console_routes"]


def console_routes(
    console: Console,
    check: Callable[[Request], Awaitable[AdminResponse | None]],
    prefix: str,
    read_body: Callable[[Request], Awaitable[bytes | None]],
) -> list[Route]:
    """Routes serving ``console`` under ``prefix``; ``check`` runs the host's ``authorize``."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response
    from starlette.routing import Route

    prefix = "/" + prefix.strip("/")

    async def console_endpoint(request: Request) -> Response:
        path = str(request.path_params.get("path", ""))
        full = request.scope.get("root_path", "") + request.scope["path"]
        if request.scope.get("root_path") and request.scope["path"].startswith(
            request.scope["root_path"]
        ):
            full = request.scope["path"]  # Starlette >= 0.33 keeps the mount in ``path``
        base = full[: len(full) - len(path)].rstrip("/") if path else full.rstrip("/")
        form: dict[str, list[str]] = {}
        if request.method == "POST":
            body = await read_body(request)
            form = parse_form(body or b"", request.headers.get("content-type")) or {}
        refused = await check(request)
        answer = await run_in_threadpool(
            console.handle,
            ConsoleRequest(
                method=request.method,
                path="/" + path,
                base=base,
                query=dict(request.query_params),
                form=form,
                cookie=request.cookies.get(COOKIE_NAME),
                secure=request.url.scheme == "https",
                fetch_site=request.headers.get("sec-fetch-site"),
            ),
            refused,
        )
        response = Response(answer.body, status_code=answer.status, headers=answer.headers)
        if answer.set_cookie is not None:
            response.raw_headers.append((b"set-cookie", answer.set_cookie.encode("latin-1")))
        return response

    methods = ["GET", "POST"]
    return [
        Route(prefix, console_endpoint, methods=methods),
        Route(prefix + "/", console_endpoint, methods=methods),
        Route(prefix + "/{path:path}", console_endpoint, methods=methods),
    ]
