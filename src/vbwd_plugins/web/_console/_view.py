"""One request being answered by a console view: the page renderer and the flash message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vbwd_plugins.web._console._http import ConsoleRequest, ConsoleResponse, html, redirect
from vbwd_plugins.web._console._session import Session

__all__ = ["Route", "View"]


@dataclass
class View:
    """One authorized request being answered: renders pages with the console's context."""

    request: ConsoleRequest
    session: Session
    csrf: str
    flash: str | None

    def url(self, path: str = "") -> str:
        """An absolute URL path inside the console."""
        return f"{self.request.base}/{path.lstrip('/')}"

    def page(self, status: int, template: str, **context: Any) -> ConsoleResponse:
        """A page with the navigation, the CSRF token and the pending flash message."""
        kind, _, text = (self.flash or "").partition(":")
        return html(
            status,
            template,
            {
                "base": self.request.base,
                "csrf": self.csrf,
                "flash": {"kind": kind, "text": text} if self.flash else None,
                "signed_in": self.session.logged_in(),
                "path": self.request.path,
                **context,
            },
        )

    def done(self, path: str, message: str, *, error: bool = False) -> ConsoleResponse:
        """Redirect to ``path`` showing ``message`` there once."""
        self.session = self.session.with_flash(f"{'error' if error else 'ok'}:{message}")
        return redirect(self.url(path))


#: A view: the request and the path parts after its own name -> the answer.
Route = Callable[[View, list[str]], ConsoleResponse]
