"""``vbwd-plugins serve`` mounts the plugin console: a token login, then the pages."""

from __future__ import annotations

from collections.abc import Callable

import requests

from tests.cli.test_serve import TOKEN, Served, deliver
from tests.cli.test_serve import serve as serve  # the fixture
from tests.web._console_host import csrf_of


def test_serve_mounts_the_console_behind_its_admin_token(serve: Callable[..., Served]) -> None:
    """The console asks for VBWD_ADMIN_TOKEN, then lists the plugins and the webhook inbox."""
    served = serve()
    console = f"{served.base}/admin/console"
    assert deliver(served.base).json()["status"] == "processed"
    session = requests.Session()
    page = session.get(f"{console}/", timeout=10)
    assert page.url.endswith("/admin/console/login")
    signed_in = session.post(
        f"{console}/login", data={"csrf_token": csrf_of(page.text), "token": TOKEN}, timeout=10
    )
    assert signed_in.status_code == 200
    assert 'id="plugin-mock" data-status="enabled"' in signed_in.text
    inbox = session.get(f"{console}/webhooks", timeout=10)
    assert "<td>mock</td>" in inbox.text
    assert served.stop()[0] == 0


def test_serve_without_a_token_keeps_the_console_closed(serve: Callable[..., Served]) -> None:
    """Without VBWD_ADMIN_TOKEN the console answers 403 and says how to open it."""
    served = serve(token=None)
    answer = requests.get(f"{served.base}/admin/console/", timeout=10)
    assert answer.status_code == 403
    assert "VBWD_ADMIN_TOKEN" in answer.text
