"""The processes of a fault run: web workers, Celery workers and beat, killed and restarted.

Each process is started by this module and stopped (or SIGKILLed) by its own pid only; its
output goes to a log file in the run's folder, whose tail a failure report shows.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HOST = "tests.delivery._fault_host"
CELERY_APP = "tests.delivery._fault_celery"
START_TIMEOUT = 60.0


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on now (the web workers share it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Processes:
    """The run's child processes, by role (``web``, ``celery``, ``beat``)."""

    folder: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    started: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def _spawn(self, role: str, argv: list[str]) -> subprocess.Popen[bytes]:
        env = {**os.environ, **self.env}
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
        log = self.folder / f"{role}-{len(self.started)}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                argv,
                cwd=self.folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.started.append((role, process, log))
        return process

    def live(self, role: str) -> list[subprocess.Popen[bytes]]:
        """The processes of ``role`` still running."""
        return [p for r, p, _ in self.started if r == role and p.poll() is None]

    def start_web(self, *, wait: bool = True) -> int:
        """Start a web worker on the shared port; its pid (once it serves, if ``wait``)."""
        ready = self.folder / f"web-{len(self.started)}.ready"
        process = self._spawn(
            "web", [sys.executable, "-m", HOST, "web", str(self.port), str(ready)]
        )
        deadline = time.monotonic() + START_TIMEOUT
        while wait and not ready.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"a web worker did not start\n{self.logs()[-4000:]}")
            time.sleep(0.02)
        return process.pid

    def start_celery(self, name: str, concurrency: int) -> int:
        """Start a Celery worker (thread pool) on the run's queue; its pid."""
        argv = [sys.executable, "-m", "celery", "-A", CELERY_APP, "worker"]
        argv += ["-Q", self.env["VBWD_FAULT_QUEUE"], "-n", f"{name}-{self.port}@%h"]
        argv += ["-P", "threads", "-c", str(concurrency), "--loglevel=WARNING"]
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        return self._spawn("celery", argv).pid

    def start_beat(self) -> int:
        """Start Celery beat (the periodic sweep); its pid."""
        argv = [sys.executable, "-m", "celery", "-A", CELERY_APP, "beat", "--loglevel=WARNING"]
        argv += ["--schedule", str(self.folder / "beat-schedule"), "--max-interval", "1"]
        return self._spawn("beat", argv).pid

    def kill_one(self, role: str) -> int:
        """SIGKILL the oldest live process of ``role``; its pid."""
        victim = self.live(role)[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait(30)
        return victim.pid

    def logs(self) -> str:
        """Every process's output so far."""
        return "\n".join(
            f"--- {log.name} ---\n{log.read_text(errors='replace')}"
            for _, _, log in self.started
            if log.exists()
        )

    def stop(self) -> None:
        """Stop every live process: SIGTERM (a warm shutdown), then SIGKILL after 20 s."""
        for _, process, _ in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _, process, _ in self.started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
