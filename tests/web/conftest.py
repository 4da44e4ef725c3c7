"""Fixtures: a manager with test plugins, a stand-in webhook processor, and both adapters
served over real HTTP on 127.0.0.1 (werkzeug for Flask, uvicorn for ASGI)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import flask
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.web._plugins import Base, Child, Exploding, Keyed
from tests.web._servers import serve_asgi, serve_wsgi
from vbwd_plugins import PluginManager
from vbwd_plugins.web import asgi
from vbwd_plugins.web import flask as flask_adapter

#: Where the tests mount the adapters (a host's usual API prefix).
MOUNT = "/api/v1"


@dataclass(frozen=True)
class StandInResponse:
    """The shape of ``WebhookResponse``."""

    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class ProcessCall:
    """One call of :meth:`StandInProcessor.process`."""

    provider: str
    headers: dict[str, str]
    body: bytes
    remote_addr: str | None


@dataclass
class StandInProcessor:
    """Records what the adapter passes; answers 404 for provider ``missing``, else ``status``."""

    status: int = 200
    calls: list[ProcessCall] = field(default_factory=list)

    def process(
        self,
        provider: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        remote_addr: str | None = None,
    ) -> StandInResponse:
        """Record the call and answer."""
        self.calls.append(ProcessCall(provider, dict(headers), body, remote_addr))
        if provider == "missing":
            return StandInResponse(404, {"error": "unknown_provider"})
        return StandInResponse(self.status, {"result": "handled", "provider": provider})


@pytest.fixture
def manager() -> PluginManager:
    """An in-memory manager with ``base``, ``child`` (needs base), ``keyed`` and ``exploding``."""
    manager = PluginManager()
    for plugin in (Base(), Child(), Keyed(), Exploding()):
        manager.register_plugin(plugin)
    return manager


@pytest.fixture
def processor() -> StandInProcessor:
    """A stand-in for the webhook pipeline."""
    return StandInProcessor()


def build_app(adapter: str, manager: PluginManager, processor: Any, **options: Any) -> Any:
    """The adapter's app mounted under :data:`MOUNT` in a host app of its framework."""
    if adapter == "flask":
        app = flask.Flask("vbwd_web_test")
        app.register_blueprint(
            flask_adapter.create_blueprint(manager, processor, **options), url_prefix=MOUNT
        )
        return app
    return Starlette(routes=[Mount(MOUNT, app=asgi.create_app(manager, processor, **options))])


Start = Callable[..., str]


@pytest.fixture(params=["flask", "asgi"])
def adapter(request: pytest.FixtureRequest) -> str:
    """Each test runs once per adapter."""
    return str(request.param)


@pytest.fixture
def start(adapter: str, processor: StandInProcessor) -> Iterator[Start]:
    """``start(manager, proc=..., **options)`` serves the adapter; returns the base URL
    (``http://127.0.0.1:PORT/api/v1``). ``proc`` defaults to the stand-in processor;
    ``None`` lets the adapter build a real ``WebhookProcessor``."""
    with ExitStack() as stack:

        def factory(manager: PluginManager, proc: Any = processor, **options: Any) -> str:
            app = build_app(adapter, manager, proc, **options)
            serve = serve_wsgi if adapter == "flask" else serve_asgi
            return stack.enter_context(serve(app)) + MOUNT

        yield factory
