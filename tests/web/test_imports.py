"""Web frameworks are optional: the core and ``vbwd_plugins.web`` import neither."""

from __future__ import annotations

import subprocess
import sys


def test_core_and_web_package_import_no_framework() -> None:
    """``import vbwd_plugins`` and ``vbwd_plugins.web`` leave flask and starlette unimported."""
    code = (
        "import sys, vbwd_plugins, vbwd_plugins.web, vbwd_plugins.cli\n"
        "loaded = [m for m in ('flask', 'starlette', 'uvicorn', 'werkzeug') if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


def test_web_public_surface() -> None:
    """``vbwd_plugins.web`` and its adapters list exactly what they export, sorted."""
    import vbwd_plugins.web
    from vbwd_plugins.web import asgi, flask

    for module, expected in (
        (
            vbwd_plugins.web,
            [
                "DEFAULT_MAX_BODY",
                "WebhookHandler",
                "bearer_token",
            ],
        ),
        (flask, ["create_blueprint"]),
        (asgi, ["Authorize", "create_app"]),
    ):
        assert list(module.__all__) == expected
        for name in expected:
            assert getattr(module, name) is not None
