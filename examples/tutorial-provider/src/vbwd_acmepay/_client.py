"""A minimal AcmePay HTTP client (standard library only).

AcmePay is the fictional provider of the tutorial: a JSON API with bearer-token auth,
amounts in minor units, an ``Idempotency-Key`` header and errors shaped
``{"error": {"type": ..., "message": ...}}``.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any


class AcmePayError(Exception):
    """An error answer from AcmePay: HTTP status, AcmePay's error type and message."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(f"AcmePay {status} {error_type}: {message}")
        self.status = status
        self.error_type = error_type


class AcmePayClient:
    """One client per plugin instance: its own key and base URL, no global state."""

    def __init__(self, api_key: str, api_base: str, timeout: float) -> None:
        self._api_key = api_key
        self._api_base = api_base.rstrip("/")
        self._timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Send one request; return the JSON answer or raise.

        Raises :class:`AcmePayError` for error answers, ``TimeoutError`` when AcmePay does
        not answer in time and ``ConnectionError`` when it cannot be reached.
        """
        headers = {"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        request = urllib.request.Request(
            self._api_base + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                answer: dict[str, Any] = json.loads(response.read())
                return answer
        except urllib.error.HTTPError as exc:
            raise _error_from(exc) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, socket.timeout | TimeoutError):
                raise TimeoutError(f"AcmePay did not answer {method} {path}") from exc
            raise ConnectionError(f"AcmePay unreachable: {exc.reason}") from exc
        except TimeoutError as exc:
            raise TimeoutError(f"AcmePay did not answer {method} {path}") from exc


def _error_from(exc: urllib.error.HTTPError) -> AcmePayError:
    try:
        error = json.loads(exc.read()).get("error", {})
    except (ValueError, AttributeError):
        error = {}
    finally:
        exc.close()
    return AcmePayError(
        exc.code, str(error.get("type", "api_error")), str(error.get("message", exc.reason))
    )
