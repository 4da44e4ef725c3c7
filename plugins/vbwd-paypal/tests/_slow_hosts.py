"""Certificate hosts that misbehave on 127.0.0.1: ones that never answer, one that drips.

Reached through the kit's ``LoopbackTLSAdapter`` (mounted for a PayPal certificate URL), so
the plugin's download path runs unchanged against them.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from types import TracebackType


class SlowHost:
    """A TCP server that accepts connections and then never answers.

    Without ``tls`` the TLS handshake hangs (the client's connect timeout ends it); with
    ``tls`` the handshake completes and the request is read, then nothing comes back (the
    read timeout ends it) or, with ``drip``, a 200 whose body arrives ``drip`` bytes every
    ``interval`` seconds.

    ``accepted`` counts connections; :meth:`close` drops them all, so clients still
    waiting fail at once.
    """

    def __init__(
        self,
        *,
        tls: ssl.SSLContext | None = None,
        drip: bytes | None = None,
        interval: float = 0.02,
    ) -> None:
        self._server = socket.create_server(("127.0.0.1", 0), backlog=256)
        self._server.settimeout(0.05)
        self.port: int = self._server.getsockname()[1]
        self._tls = tls
        self._drip = drip
        self._interval = interval
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self.accepted = 0
        self._thread = threading.Thread(target=self._accept, name="slow-host", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self._connections.append(connection)
            if self._tls is not None:
                threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        assert self._tls is not None
        try:
            stream = self._tls.wrap_socket(connection, server_side=True)
            with self._lock:
                self._connections.append(stream)
            request = b""
            while b"\r\n\r\n" not in request:
                part = stream.recv(4096)
                if not part:
                    return
                request += part
            if self._drip is None:
                self._stop.wait()
                return
            stream.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
            while not self._stop.is_set():
                stream.sendall(self._drip)
                time.sleep(self._interval)
        except OSError:  # the client gave up (that is the point)
            return

    def wait_for_connections(self, count: int, timeout: float = 10.0) -> bool:
        """Whether ``count`` connections arrived within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.accepted >= count:
                return True
            time.sleep(0.01)
        return self.accepted >= count

    def close(self) -> None:
        """Stop accepting and drop every connection."""
        self._stop.set()
        self._server.close()
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        self._thread.join(5)

    def __enter__(self) -> SlowHost:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
