"""A throwaway Redis broker and Celery workers for the celery profile's tests (test_celery.py).

Each server binds 127.0.0.1 on a free port and lives in a temporary folder; every process is started
in a session of its own, so `kill` takes the whole worker (its main process and its pool), as a lost
host would, and `stop` leaves nothing behind even when a test failed half-way. Redis comes from
Debian's `redis-server` package, which `make test` installs (Makefile, target `redis-server`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from dvol_pipeline.settings import REPO_ROOT
from dvol_pipeline_tests.pg_server import free_port

MISSING = ("redis-server not found: `make test` installs it (Debian package redis-server), "
           "or run `apt-get install redis-server`")


def _wait_for(what: str, ready, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s\n{tail}")


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    """Signal the process's whole session (worker pools included); SIGKILL it if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)
    except ProcessLookupError:
        pass


@dataclass
class Redis:
    """A Redis server with an append-only file, so that a restart keeps the queue (as `make redis`)."""

    folder: Path
    port: int = 0
    proc: subprocess.Popen | None = None

    def start(self) -> Redis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(MISSING)
        self.port = self.port or free_port()
        self.proc = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.folder),
             "--appendonly", "yes", "--save", "", "--daemonize", "no", "--logfile", str(self.folder / "redis.log")],
            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for("redis-server", self.ping, 30, self.folder / "redis.log")
        return self

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1).ping())
        except redis.exceptions.ConnectionError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)

    def restart(self, down_s: float = 1.0) -> None:
        """Shut the server down (SIGTERM: it writes its append-only file) and start it again, same port."""
        self.stop()
        time.sleep(down_s)
        self.start()

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


@dataclass
class Workers:
    """Celery workers of `dvol_pipeline.celery_app`, each named `<name>@<host>`, one step at a time."""

    folder: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, *names: str, timeout: float = 120) -> Workers:
        env = {**self.env, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), self.env.get("PYTHONPATH")]))}
        for name in names:
            log = self.folder / f"{name}.log"
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "dvol_pipeline.celery_app", "worker", "-n", f"{name}@%h",
                 "-c", "1", "--prefetch-multiplier=1", "-l", "INFO", "--without-gossip", "--without-mingle",
                 "--without-heartbeat"],
                cwd=REPO_ROOT, env=env, start_new_session=True, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        for name in names:
            log = self.folder / f"{name}.log"
            _wait_for(f"celery worker {name}", lambda: " ready." in log.read_text(errors="replace"), timeout, log)
        return self

    def kill(self, name: str) -> None:
        """SIGKILL the worker's main process and its pool at once: the host is gone."""
        _stop(self.procs[name], signal.SIGKILL)

    def stop(self) -> None:
        for proc in self.procs.values():
            _stop(proc)

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")
