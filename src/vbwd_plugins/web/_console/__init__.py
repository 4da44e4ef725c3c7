"""The plugin admin web page ("console"), framework-neutral; the adapters mount it.

Server-rendered with Jinja2 (templates and static files are package data), protected by the
host's ``authorize`` check or a token login, a CSRF token on every form and a strict
Content-Security-Policy. See ``docs/operating.md``.
"""

from vbwd_plugins.web._console._console import Console as Console
from vbwd_plugins.web._console._console import create_console as create_console
from vbwd_plugins.web._console._http import ConsoleRequest as ConsoleRequest
from vbwd_plugins.web._console._http import ConsoleResponse as ConsoleResponse
from vbwd_plugins.web._console._http import parse_form as parse_form
from vbwd_plugins.web._console._session import COOKIE_NAME as COOKIE_NAME
from vbwd_plugins.web._console._session import SessionSigner as SessionSigner

__all__ = [
    "COOKIE_NAME",
    "Console",
    "ConsoleRequest",
    "ConsoleResponse",
    "SessionSigner",
    "create_console",
    "parse_form",
]
