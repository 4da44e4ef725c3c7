"""``requests`` transport adapters that keep a test's traffic on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import requests
from requests.adapters import HTTPAdapter

if TYPE_CHECKING:
    from requests.adapters import _HostParams, _PoolKwargs

_Timeout = float | tuple[float, float] | tuple[float, None] | None
_Cert = bytes | str | tuple[bytes | str, bytes | str] | None


class LoopbackTLSAdapter(HTTPAdapter):
    """Sends ``https://<PayPal host>/...`` to the fake's TLS port on 127.0.0.1.

    The TLS handshake still verifies the fake's certificate **for the PayPal host name**
    against the test CA, so the plugin's production path (https, allow-listed host,
    certificate-verified TLS) is exercised unchanged; only the address is local.
    Mount it on the plugin's session for ``https://<host>/v1/notifications/certs/``.
    """

    def __init__(self, port: int, ca_file: str) -> None:
        super().__init__(max_retries=0)
        self._port = port
        self._ca_file = ca_file
        #: Every URL this adapter was asked to send, in order.
        self.sent: list[str] = []

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: _Timeout = None,
        verify: bool | str = True,
        cert: _Cert = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send to 127.0.0.1, verifying TLS against the test CA (unless ``verify=False``)."""
        self.sent.append(str(request.url))
        if verify is not False:
            verify = self._ca_file
        return super().send(request, stream, timeout, verify, cert, proxies)

    def build_connection_pool_key_attributes(
        self,
        request: requests.PreparedRequest,
        verify: bool | str,
        cert: str | tuple[str, str] | None = None,
    ) -> tuple[_HostParams, _PoolKwargs]:
        """Connect to the local port but check the certificate for the requested host."""
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        name = host_params["host"]
        host_params["host"] = "127.0.0.1"
        host_params["port"] = self._port
        # urllib3 takes these pool keys; the stubs' TypedDict does not list them.
        pool_kwargs["server_hostname"] = name  # type: ignore[typeddict-unknown-key]
        pool_kwargs["assert_hostname"] = name  # type: ignore[typeddict-unknown-key]
        return host_params, pool_kwargs


class NoNetworkAdapter(HTTPAdapter):
    """Records and refuses every request it is asked to send (no traffic leaves the test)."""

    def __init__(self) -> None:
        super().__init__(max_retries=0)
        #: Every URL a request was attempted to, in order.
        self.attempts: list[str] = []

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: _Timeout = None,
        verify: bool | str = True,
        cert: _Cert = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Record the URL and raise ``requests.ConnectionError``."""
        self.attempts.append(str(request.url))
        raise requests.ConnectionError(f"test network guard: refused {request.url}")
