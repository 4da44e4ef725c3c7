"""The plugin console over real HTTP (no browser): authorization, CSRF, security headers and
secrets, through the Flask blueprint and the ASGI app alike."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
import requests

from tests.web._console_host import (
    NEW_SECRET,
    SECRET,
    TOKEN,
    ConsoleHost,
    console_host,
    csrf_of,
    logged_in,
    shop_config,
)
from vbwd_plugins import PluginStatus
from vbwd_plugins.config._schema import MASK
from vbwd_plugins.web._console import COOKIE_NAME, SessionSigner
from vbwd_plugins.web._console._session import Session

PAGES = ["", "plugins/shop", "plugins/base", "plugins/child", "deliveries", "webhooks"]


@pytest.fixture(params=["flask", "asgi"])
def console(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ConsoleHost]:
    """The console behind ``bearer_token(TOKEN)``, once per adapter."""
    with console_host(str(request.param), tmp_path) as served:
        yield served


def assert_clean(html: str) -> None:
    """No stored secret, no mask, no token: not in a value attribute, nowhere."""
    for value in (SECRET, SECRET + "_wh", NEW_SECRET, MASK, TOKEN):
        assert value not in html
    for tag in re.findall(r"<input[^>]*type=\"password\"[^>]*>", html):
        assert 'value=""' in tag or "value=" not in tag


def test_every_page_needs_a_sign_in(console: ConsoleHost) -> None:
    """Without a session, pages send the browser to the login form and forms answer 401."""
    for path in PAGES:
        answer = requests.get(console.page(path), allow_redirects=False, timeout=10)
        assert answer.status_code == 303
        assert answer.headers["Location"].endswith("/admin/console/login")
    answer = requests.post(
        console.page("plugins/base/enable"), data={"csrf_token": "x"}, timeout=10
    )
    assert answer.status_code == 401
    bearer = {"Authorization": f"Bearer {TOKEN}"}  # what the admin API accepts works too
    assert requests.get(console.page(""), headers=bearer, timeout=10).status_code == 200
    assert console.manager.get_plugin("base").status is PluginStatus.REGISTERED  # type: ignore[union-attr]


def test_a_wrong_token_or_a_forged_cookie_does_not_sign_in(console: ConsoleHost) -> None:
    """A wrong token answers 401 with the error at the field; a cookie signed with another
    key, or altered, counts as no session."""
    session = requests.Session()
    page = session.get(console.page("login"), timeout=10)
    answer = session.post(
        console.page("login"), data={"csrf_token": csrf_of(page.text), "token": "nope"}, timeout=10
    )
    assert answer.status_code == 401
    assert 'id="token-error"' in answer.text
    assert session.get(console.page(""), allow_redirects=False, timeout=10).status_code == 303
    forged = SessionSigner(b"not-the-console-key-0123456789").dump(Session.new(auth=True))
    for cookie in (forged, forged[:-2] + "AA"):
        answer = requests.get(
            console.page(""), cookies={COOKIE_NAME: cookie}, allow_redirects=False, timeout=10
        )
        assert answer.status_code == 303


def test_the_session_cookie_is_http_only_strict_and_scoped(console: ConsoleHost) -> None:
    """The cookie is HttpOnly, SameSite=Strict, limited to the console's path, and a login
    gets a new session id (a planted one is worth nothing)."""
    session = requests.Session()
    page = session.get(console.page("login"), timeout=10)
    header = page.headers["Set-Cookie"]
    assert "HttpOnly" in header
    assert "SameSite=Strict" in header
    assert "Path=/api/v1/admin/console" in header
    before = session.cookies[COOKIE_NAME]
    session.post(
        console.page("login"), data={"csrf_token": csrf_of(page.text), "token": TOKEN}, timeout=10
    )
    after = session.cookies[COOKIE_NAME]
    signer = SessionSigner(b"x" * 16)
    assert before != after
    assert signer.load(before) is None  # signed with the console's key, not this one


def test_forms_without_the_right_csrf_token_are_refused(console: ConsoleHost) -> None:
    """403 without a token, with a wrong one, with another session's, or from another site;
    nothing changes."""
    session = logged_in(console)
    other = logged_in(console)
    others_token = csrf_of(other.get(console.page(""), timeout=10).text)
    url = console.page("plugins/base/enable")
    for data, headers in [
        ({}, {}),
        ({"csrf_token": "wrong"}, {}),
        ({"csrf_token": others_token}, {}),
        (
            {"csrf_token": csrf_of(session.get(console.page(""), timeout=10).text)},
            {"Sec-Fetch-Site": "cross-site"},
        ),
    ]:
        answer = session.post(url, data=data, headers=headers, allow_redirects=False, timeout=10)
        assert answer.status_code == 403
        assert "CSRF" in answer.text
    answer = session.post(console.page("login"), data={"token": TOKEN}, timeout=10)
    assert answer.status_code == 403
    assert console.manager.get_plugin("base").status is PluginStatus.REGISTERED  # type: ignore[union-attr]
    token = csrf_of(session.get(console.page(""), timeout=10).text)
    answer = session.post(url, data={"csrf_token": token}, allow_redirects=False, timeout=10)
    assert answer.status_code == 303
    assert console.manager.get_plugin("base").status is PluginStatus.ENABLED  # type: ignore[union-attr]


def test_security_headers_on_every_answer(console: ConsoleHost) -> None:
    """A strict CSP (no inline code), no framing, no sniffing, no caching of live pages;
    the pages carry no inline script, style or event handler."""
    session = logged_in(console)
    answers = [session.get(console.page(path), timeout=10) for path in PAGES]
    answers.append(requests.get(console.page("login"), timeout=10))
    answers.append(requests.get(console.page("static/console.css"), timeout=10))
    answers.append(session.post(console.page("plugins/base/enable"), timeout=10))  # 403
    for answer in answers:
        csp = answer.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp
        assert "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        if answer.headers["Content-Type"].startswith("text/html"):
            assert answer.headers["Cache-Control"] == "no-store"
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", answer.text)
            assert not re.search(r"<style|\sstyle=|\son[a-z]+=", answer.text)


def test_no_secret_in_any_rendered_page(console: ConsoleHost) -> None:
    """Stored secrets, typed secrets and the mask never reach the HTML: not on the pages,
    not after a refused or an accepted form."""
    session = logged_in(console)
    for path in PAGES:
        answer = session.get(console.page(path), timeout=10)
        assert answer.status_code == 200
        assert_clean(answer.text)
    token = csrf_of(session.get(console.page("plugins/shop"), timeout=10).text)
    refused = session.post(
        console.page("plugins/shop/config"),
        data={"csrf_token": token, "api_key": NEW_SECRET, "retries": "oops"},
        timeout=10,
    )
    assert refused.status_code == 422
    assert 'id="field-retries-error"' in refused.text
    assert_clean(refused.text)
    saved = session.post(
        console.page("plugins/shop/config"),
        data={"csrf_token": token, "api_key": NEW_SECRET},
        timeout=10,
    )
    assert saved.status_code == 200
    assert "Saved shop" in saved.text
    assert_clean(saved.text)
    assert shop_config(console).api_key.get_secret_value() == NEW_SECRET


def test_changing_a_trusted_field_without_the_secret_is_refused_at_the_field(
    console: ConsoleHost,
) -> None:
    """A new api_base without api_key again: the refusal is shown next to api_base."""
    session = logged_in(console)
    token = csrf_of(session.get(console.page("plugins/shop"), timeout=10).text)
    data = {"csrf_token": token, "api_base": "https://evil.example"}
    answer = session.post(console.page("plugins/shop/config"), data=data, timeout=10)
    assert answer.status_code == 422
    error = re.search(r'id="field-api_base-error">([^<]*)<', answer.text)
    assert error is not None
    assert "api_key" in error.group(1)
    assert console.manager.get_public_config("shop")["api_base"] == "https://api.shop.example"


def test_an_unchanged_form_changes_nothing(console: ConsoleHost) -> None:
    """Sending the form back as rendered saves nothing (secrets left empty are kept)."""
    session = logged_in(console)
    page = session.get(console.page("plugins/shop"), timeout=10).text
    data: dict[str, list[str]] = {}
    for name, value in re.findall(
        r'<input type="(?:text|number|hidden)"[^>]*?name="([^"]+)" '
        r'value="([^"]*)"',
        page,
    ):
        data.setdefault(name, []).append(value)
    data["capture"] = ["false", "true"]
    data["mode"] = ["test"]
    data["currencies"] = ['[\n  "EUR"\n]']
    data["api_key"] = [""]
    answer = session.post(console.page("plugins/shop/config"), data=data, timeout=10)
    assert "Nothing changed." in answer.text
    assert shop_config(console).api_key.get_secret_value() == SECRET


def test_the_console_is_closed_without_an_authorization_check(tmp_path: Path) -> None:
    """No ``authorize``: the console answers 403 and says how to open it, like the API."""
    with console_host("asgi", tmp_path, authorize=None) as console:
        answer = requests.get(console.page(""), timeout=10)
        assert answer.status_code == 403
        assert "authorize=" in answer.text
        assert requests.get(console.page("login"), timeout=10).status_code == 403


def test_a_host_check_that_accepts_the_browser_needs_no_login(tmp_path: Path) -> None:
    """When the host's own ``authorize`` accepts the browser (its session), the console opens
    directly; forms still need the CSRF token of the cookie it sets."""
    with console_host("flask", tmp_path, authorize=lambda request: True) as console:
        session = requests.Session()
        page = session.get(console.page(""), timeout=10)
        assert page.status_code == 200
        login = session.get(console.page("login"), allow_redirects=False, timeout=10)
        assert login.status_code == 303
        url = console.page("plugins/base/enable")
        assert session.post(url, data={}, timeout=10).status_code == 403
        answer = session.post(url, data={"csrf_token": csrf_of(page.text)}, timeout=10)
        assert answer.status_code == 200
        assert "Enabled base." in answer.text


def test_an_expired_session_is_no_session() -> None:
    """A token login lasts eight hours; the signature covers the expiry."""
    signer = SessionSigner(b"k" * 32)
    session = Session.new(auth=True, now=1_000_000)
    loaded = signer.load(signer.dump(session))
    assert loaded == session
    assert loaded.logged_in(now=1_000_000 + 60)
    assert not loaded.logged_in(now=1_000_000 + 8 * 3600 + 1)
    assert signer.csrf_ok(session, signer.csrf_token(session))
    assert not signer.csrf_ok(Session.new(), signer.csrf_token(session))


def test_templates_and_static_files_are_package_data() -> None:
    """The installed distribution carries the templates and static files (nox installs it
    non-editable, so a missing package-data entry fails here)."""
    root = resources.files("vbwd_plugins.web._console")
    names = {entry.name for entry in root.joinpath("templates").iterdir()}
    assert {"base.html", "login.html", "plugins.html", "plugin.html"} <= names
    assert root.joinpath("static", "console.css").is_file()
    assert root.joinpath("static", "console.js").is_file()


def test_static_files_and_unknown_pages(console: ConsoleHost) -> None:
    """The stylesheet and script are served with their types; other names answer 404."""
    css = requests.get(console.page("static/console.css"), timeout=10)
    assert (css.status_code, css.headers["Content-Type"]) == (200, "text/css; charset=utf-8")
    js = requests.get(console.page("static/console.js"), timeout=10)
    assert js.headers["Content-Type"].startswith("text/javascript")
    for name in ("static/missing.css", "static/.hidden.css", "static/base.html"):
        assert requests.get(console.page(name), timeout=10).status_code == 404
    session = logged_in(console)
    assert session.get(console.page("nowhere"), timeout=10).status_code == 404
    assert session.get(console.page("plugins/ghost"), timeout=10).status_code == 404
