"""A throwaway PostgreSQL server for the tests and the overhead benchmark.

`throwaway_postgres()` runs initdb in a fresh temporary folder, starts the server on a free
port of 127.0.0.1 (TCP only, a password, scram-sha-256), creates one database, yields its
connection settings as the `DAGSTER_PG_*` variables that `deploy/dagster.postgres.yaml` reads,
and always stops the server and deletes the folder afterwards, even when the body raised.

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user (which
Debian's `postgresql` package creates); as anyone else it runs as that user. The server
binaries come from Debian's `postgresql` package, which `make test` installs when missing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

MISSING = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin or on PATH: "
    "run `make test`, which installs Debian's `postgresql` package (apt-get install -y postgresql) "
    "before the suite"
)
SERVER_USER = "postgres"


def server_bin() -> Path | None:
    """The folder holding initdb and pg_ctl: Debian's newest /usr/lib/postgresql/N/bin, else PATH."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
                      if p.parent.name.isdigit() else 0)
    for folder in reversed(versions):
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Path(os.path.realpath(pg_ctl)).parent
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    user: str
    password: str
    db: str
    folder: Path

    @property
    def env(self) -> dict[str, str]:
        """What deploy/dagster.postgres.yaml reads."""
        return {"DAGSTER_PG_HOST": self.host, "DAGSTER_PG_PORT": str(self.port), "DAGSTER_PG_USER": self.user,
                "DAGSTER_PG_PASSWORD": self.password, "DAGSTER_PG_DB": self.db}

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.db}"

    def connect(self, db: str | None = None):
        import psycopg2

        return psycopg2.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                                dbname=db or self.db)

    def create_database(self, name: str) -> PgServer:
        """A new, empty database on the same server (one per test keeps their runs apart)."""
        conn = self.connect("postgres")
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return replace(self, db=name)

    def log(self) -> str:
        path = self.folder / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise RuntimeError(f"running as root and there is no `{SERVER_USER}` user to run PostgreSQL as: {MISSING}")
    runuser = shutil.which("runuser")
    return [runuser, "-u", SERVER_USER, "--", *cmd] if runuser else ["su", SERVER_USER, "-s", "/bin/sh", "-c",
                                                                    " ".join(f"'{c}'" for c in cmd)]


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(_as_server_user(cmd), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}): {done.stdout}\n{done.stderr}")


@contextlib.contextmanager
def throwaway_postgres(db: str = "dagster", settings: dict[str, str] | None = None) -> Iterator[PgServer]:
    """Start a private server, create `db`, yield it; stop and delete it on the way out.

    `settings` are extra `postgres -c name=value` settings (the defaults are the server's own).
    """
    bin_dir = server_bin()
    if bin_dir is None:
        raise RuntimeError(MISSING)
    folder = Path(tempfile.mkdtemp(prefix="dvol-pg-"))
    data = folder / "data"
    password = "dvol-throwaway"
    started = False
    try:
        pwfile = folder / "pw"
        pwfile.write_text(password + "\n")
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SERVER_USER)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        _run([str(bin_dir / "initdb"), "-D", str(data), "-U", "dagster", f"--pwfile={pwfile}",
              "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"], "initdb")
        options = {"listen_addresses": "127.0.0.1", "unix_socket_directories": str(folder), **(settings or {})}
        for attempt in range(5):  # the free port may be taken between the probe and the bind
            port = free_port()
            opts = " ".join([f"-p {port}", *(f"-c {k}={v}" for k, v in options.items())])
            try:
                _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "60",
                      "-o", opts, "start"], "pg_ctl start")
                started = True
                break
            except RuntimeError:
                if attempt == 4:
                    raise RuntimeError(f"PostgreSQL did not start:\n{(folder / 'server.log').read_text()}") from None
                time.sleep(0.2)
        yield PgServer("127.0.0.1", port, "dagster", password, "postgres", folder).create_database(db)
    finally:
        if started:
            for mode in ("fast", "immediate"):  # immediate: when a client still holds a connection
                try:
                    _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", mode, "-w", "-t", "30", "stop"], "pg_ctl stop")
                    break
                except Exception:  # noqa: BLE001 - the next mode, then give up: the folder goes anyway
                    continue
        shutil.rmtree(folder, ignore_errors=True)
