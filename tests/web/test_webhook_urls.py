"""Webhook URLs never answer a redirect: providers do not follow one on POST."""

from __future__ import annotations

import pytest
import requests

from tests.web.conftest import StandInProcessor, Start
from vbwd_plugins import PluginManager


def test_trailing_slash_reaches_the_pipeline(
    start: Start, manager: PluginManager, processor: StandInProcessor
) -> None:
    """``/webhooks/stripe/`` is handled like ``/webhooks/stripe`` (ASGI answered 307 once)."""
    base = start(manager)
    for path in ("/webhooks/stripe/", "/webhooks/stripe"):
        response = requests.post(f"{base}{path}", data=b"{}", allow_redirects=False, timeout=10)
        assert response.status_code == 200, path
    assert [call.provider for call in processor.calls] == ["stripe", "stripe"]


@pytest.mark.parametrize(
    "path", ["/webhooks/stripe//", "/webhooks//stripe", "/webhooks/", "/webhooks/stripe/x/"]
)
def test_near_miss_webhook_url_is_404_not_a_redirect(
    start: Start, manager: PluginManager, processor: StandInProcessor, path: str
) -> None:
    """Doubled slashes and extra segments answer 404 and never reach the pipeline."""
    base = start(manager)
    response = requests.post(f"{base}{path}", data=b"{}", allow_redirects=False, timeout=10)
    assert response.status_code == 404
    assert processor.calls == []
