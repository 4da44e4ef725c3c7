"""A host for the console tests: plugins with a rich schema, a store with a dead delivery and
webhook inbox rows, served by the Flask blueprint or the ASGI app on 127.0.0.1."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import ClassVar, Literal

import flask
import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.web._plugins import Base, Child
from tests.web._servers import serve_asgi, serve_wsgi
from vbwd_plugins import BasePlugin, Event, PluginManager, PluginMetadata, SQLiteStateStore
from vbwd_plugins.config import BaseURL, FernetSecretBox
from vbwd_plugins.delivery._policy import RetryPolicy
from vbwd_plugins.delivery._runner import DeliveryRunner
from vbwd_plugins.web import asgi, bearer_token
from vbwd_plugins.web import flask as flask_adapter

TOKEN = "console-admin-token-0123456789"
#: The stored secret; no page may ever contain it.
SECRET = "sk_console_secret_value_7f3a9c"
#: A second secret typed into the form in the tests.
NEW_SECRET = "sk_console_new_secret_4b8e21"
MOUNT = "/api/v1"
CONSOLE = f"{MOUNT}/admin/console"


class ShopConfig(BaseModel):
    """A provider-like configuration: secrets, a trusted base URL, a choice, a list."""

    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr = Field(min_length=8, description="The provider's secret API key.")
    api_base: BaseURL = "https://api.shop.example"
    mode: Literal["test", "live"] = "test"
    retries: int = Field(default=1, ge=0, le=5, description="Attempts per API call.")
    capture: bool = True
    currencies: list[str] = Field(default_factory=lambda: ["EUR"])
    region: str = "eu"
    webhook_secret: SecretStr | None = None


class Shop(BasePlugin):
    """A payment-provider-like plugin that depends on ``base``."""

    metadata = PluginMetadata("shop", "3.1.0", "tests", "a provider-like plugin", ["base>=1"])
    config_schema: ClassVar[type[BaseModel] | None] = ShopConfig


class Host:
    """The host's listeners: ``steady``, and ``flaky`` until it is fixed."""

    def __init__(self) -> None:
        self.fixed = False

    def steady(self, event: Event) -> None:
        """Always succeeds."""

    def flaky(self, event: Event) -> None:
        """Fails until fixed."""
        if not self.fixed:
            raise RuntimeError("warehouse API unavailable")


@dataclass
class ConsoleHost:
    """What a test needs: the console URL, the manager, its store and the host listeners."""

    url: str
    manager: PluginManager
    store: SQLiteStateStore
    host: Host

    def page(self, path: str = "") -> str:
        """The absolute URL of a console page."""
        return f"{self.url}/{path.lstrip('/')}"


def build_manager(store: SQLiteStateStore, host: Host) -> PluginManager:
    """A manager with ``base``, ``child`` and ``shop`` (its secret stored, encrypted), one
    event whose ``flaky`` delivery is dead, and a failed and a processed inbox row."""
    box = FernetSecretBox([FernetSecretBox.generate_key()])
    manager = PluginManager(store=store, secret_box=box)
    for plugin in (Base(), Child(), Shop()):
        manager.register_plugin(plugin)
    manager.configure_plugin("shop", {"api_key": SECRET, "webhook_secret": SECRET + "_wh"})
    manager.event_dispatcher.add_listener("order.placed", host.steady, id="steady")
    manager.event_dispatcher.add_listener("order.placed", host.flaky, id="flaky")
    manager.publish(Event("order.placed", {"order": 7}))
    (flaky,) = store.deliveries_list(listener_id="flaky")
    runner = DeliveryRunner(store, manager.event_dispatcher, policy=RetryPolicy(max_attempts=1))
    runner.run(flaky.id, due_only=False)
    for event_id, fail in (("evt_failed_1", True), ("evt_done_2", False)):
        claim = store.inbox_claim(
            "shop",
            event_id,
            event_type="payment.succeeded",
            payload=json.dumps({"id": event_id}),
            lease=timedelta(minutes=5),
        )
        assert claim.token is not None
        if fail:
            store.inbox_fail("shop", event_id, claim.token, "RuntimeError: listener failed")
        else:
            store.inbox_complete("shop", event_id, claim.token)
    return manager


@contextmanager
def console_host(adapter: str, tmp_path: Path, **options: object) -> Iterator[ConsoleHost]:
    """Serve the adapter (``flask`` or ``asgi``) with ``authorize=bearer_token(TOKEN)``."""
    options.setdefault("authorize", bearer_token(TOKEN))
    with ExitStack() as stack:
        store = stack.enter_context(SQLiteStateStore(tmp_path / "console.sqlite3"))
        host = Host()
        manager = build_manager(store, host)
        if adapter == "flask":
            app = flask.Flask("vbwd_console_test")
            blueprint = flask_adapter.create_blueprint(manager, **options)  # type: ignore[arg-type]
            app.register_blueprint(blueprint, url_prefix=MOUNT)
            base = stack.enter_context(serve_wsgi(app))
        else:
            inner = asgi.create_app(manager, **options)  # type: ignore[arg-type]
            base = stack.enter_context(serve_asgi(Starlette(routes=[Mount(MOUNT, app=inner)])))
        yield ConsoleHost(base + CONSOLE, manager, store, host)


def shop_config(console: ConsoleHost) -> ShopConfig:
    """``shop``'s configuration as the running plugin holds it."""
    plugin = console.manager.get_plugin("shop")
    assert plugin is not None
    assert isinstance(plugin.config, ShopConfig)
    return plugin.config


def csrf_of(html: str) -> str:
    """The CSRF token in a page's first form."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, "no CSRF token in the page"
    return found.group(1)


def logged_in(console: ConsoleHost) -> requests.Session:
    """A requests session signed in through the login form."""
    session = requests.Session()
    page = session.get(console.page("login"), timeout=10)
    answer = session.post(
        console.page("login"),
        data={"csrf_token": csrf_of(page.text), "token": TOKEN},
        timeout=10,
        allow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return session


Adapter = Literal["flask", "asgi"]
