"""The lake's write journal: which table files were written or removed since the warehouse last looked.

Why: the warehouse's views read the Parquet live, so a new partition of a known table needs no
refresh at all; only its `lake_files` manifest (what `lake_catalog` counts) must learn of it. Walking
the lake and reading every footer to find that out grew with the lake (27 s of a 43 s end of day on
the demo's 37 000 files). Every table write (`lake/parquet.py`, `lake/quarantine.py`) appends one line
per file here instead, with the row count the writer already knows, and the warehouse refresh applies
the lines written since it last ran: per-day work stays constant as the lake grows.

Each process appends to its own file (`<host>-<pid>-<random>.log` under `<lake>/.journal/`), one
`write()` per batch of lines, so concurrent writers (the multiprocess executor's steps, workers on
other hosts sharing the lake) never interleave. A reader claims files by renaming them before it
reads them; a writer opens its file by name for every batch, so lines written after the claim start a
new file for the next refresh. A line: `<ns time>\t+|-\t<view>\t<zone>\t<table>\t<path under the lake>\t<rows>`.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dvol_pipeline.lake.tables.spec import QUARANTINE, Table

JOURNAL_DIR = ".journal"
CLAIMED = ".claimed"


def _new_file_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}.log"


_FILE_NAME = _new_file_name()
"""This process's journal file: one writer per file. A process forked from one that imported this module
(a step forked from the multiprocess executor's forkserver, a Celery worker's pool process) takes a name
of its own, or two steps running side by side would append to one file."""


def _rename_after_fork() -> None:
    global _FILE_NAME
    _FILE_NAME = _new_file_name()


os.register_at_fork(after_in_child=_rename_after_fork)


@dataclass(frozen=True)
class Entry:
    ns: int
    added: bool
    """True: the file was written (replaced) with `rows` rows; False: it was removed."""
    view: str
    zone: str
    table: str
    path: str
    """Relative to the lake root, '/'-separated."""
    rows: int


def view_name(t: Table) -> str:
    """The warehouse view of a table: its name, or quarantine_<name> for its rejected rows."""
    return f"quarantine_{t.name}" if t.zone == QUARANTINE else t.name


def journal_dir(root: Path) -> Path:
    return root / JOURNAL_DIR


def _relative(root: Path, path: Path) -> str:
    return path.resolve().relative_to(root.resolve()).as_posix()


def record(root: Path, t: Table, written: Iterable[tuple[Path, int]] = (), removed: Iterable[Path] = ()) -> None:
    """Append one line per file `written` (with its rows) or `removed`, after the files are in place."""
    ns = time.time_ns()
    head = f"{view_name(t)}\t{t.zone}\t{t.name}"
    lines = [f"{ns}\t+\t{head}\t{_relative(root, p)}\t{rows}\n" for p, rows in written]
    lines += [f"{ns}\t-\t{head}\t{_relative(root, p)}\t0\n" for p in removed]
    if not lines:
        return
    folder = journal_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / _FILE_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, "".join(lines).encode())
    finally:
        os.close(fd)


def claim(root: Path) -> list[Path]:
    """Take the journal files written so far (renamed, so later lines go to new files)."""
    folder = journal_dir(root)
    if not folder.is_dir():
        return []
    claimed = []
    for path in sorted(folder.glob("*.log")):
        target = path.with_name(f"{path.name}{CLAIMED}-{os.getpid()}")
        try:
            path.rename(target)
        except FileNotFoundError:  # another refresh took it
            continue
        claimed.append(target)
    return claimed


def read(claimed: list[Path]) -> list[Entry]:
    """The claimed files' lines, oldest first (a file written twice keeps its last state)."""
    out = []
    for path in claimed:
        for line in path.read_text().splitlines():
            ns, sign, view, zone, name, rel, rows = line.split("\t")
            out.append(Entry(int(ns), sign == "+", view, zone, name, rel, int(rows)))
    return sorted(out, key=lambda e: e.ns)


def release(claimed: list[Path]) -> None:
    """Delete claimed files once what they said is committed to the warehouse."""
    for path in claimed:
        path.unlink(missing_ok=True)


def unclaim(claimed: list[Path]) -> None:
    """Give claimed files back (the refresh failed): the next refresh applies them."""
    for path in claimed:
        path.rename(path.with_name(path.name.split(CLAIMED)[0] + f".{secrets.token_hex(2)}.log"))
