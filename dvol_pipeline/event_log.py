"""Dagster's SQLite storage with batched writes of asset events (the repo's dagster.yaml uses it).

Why: a single-run backfill of the daily graph records one materialization event per asset per
partition. Dagster groups an output's events into batches when `DAGSTER_EVENT_BATCH_SIZE` > 0
(the CLI sets it), but only PostgreSQL's event log overrides `store_event_batch`; the base class,
which SQLite's log inherits, stores a batch one event at a time, each with its own connection and
commit to the run's database and again to the index database. This class does for SQLite what
`PostgresEventLogStorage.store_event_batch` does: one INSERT of the whole batch into the run's
database, one transaction on the index database for the events' ids, tags and the asset row
(updated from the newest event, as PostgreSQL's does). Every other event, and any batch of other
types, takes the parent's path unchanged; the files and their layout are Dagster's own, so a
lake's history reads the same with the stock class. What it costs and saves is measured by
`make bench` (bench_overhead), not stated here.

It also makes each event's transaction cheaper (the `eod` stores ~170 events, each its own
transaction on the run's database and ~90 again on the index database; Dagster opens and closes a
connection for each). Dagster's SQLite databases are in WAL mode with SQLite's default
`synchronous=FULL`: every commit syncs the WAL to disk, and every close of the last connection
checkpoints the WAL into the database and syncs it again. Here each connection runs
`PRAGMA synchronous=NORMAL` (SQLite's recommended setting for WAL: the database stays consistent;
a power loss, not a process crash, can lose the last transactions, i.e. the newest events of the
history, never the lake's tables), and the storage keeps, for the index database and the newest
run's, its SQLAlchemy engine (Dagster creates and disposes one per call, ~1.5 ms) and one idle
connection, so Dagster's closes are not the last and do not checkpoint: SQLite checkpoints as
the WAL grows (every 1000 pages) and when the process ends. On this machine a transaction took
5-16 ms before and under 1 ms after (docs/benchmarks.md). `DVOL_SQLITE_SYNC=FULL` restores
SQLite's default durability. Connections are still opened per call (NullPool), under Dagster's
lock, so other processes (the UI, the daemon) read and write the same files as before.

What would make it unnecessary: Dagster's `SqliteEventLogStorage` writing a batch in one
transaction itself (overriding `store_event_batch` as `PostgresEventLogStorage` does). Then
delete this module and write `storage: sqlite: base_dir: ...` in dagster.yaml. It is the one
place the project builds on Dagster's private storage classes (`dagster._core.storage`), so a
Dagster upgrade that moves them breaks only this file, which test_event_log.py checks against
the stock log.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from dagster._core.errors import DagsterInvariantViolationError
from dagster._core.events import DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory

BATCHED_TYPES = ({DagsterEventType.ASSET_MATERIALIZATION}, {DagsterEventType.ASSET_OBSERVATION})


SYNC_ENV = "DVOL_SQLITE_SYNC"
SYNC_LEVELS = ("NORMAL", "FULL")


def synchronous_level() -> str:
    """`$DVOL_SQLITE_SYNC`: the event log's `PRAGMA synchronous` (NORMAL by default; FULL is SQLite's own)."""
    level = os.environ.get(SYNC_ENV, "NORMAL").strip().upper() or "NORMAL"
    if level not in SYNC_LEVELS:
        raise ValueError(f"{SYNC_ENV}={level!r}: use one of {', '.join(SYNC_LEVELS)}")
    return level


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    def __init__(self, base_dir: str, inst_data=None):
        super().__init__(base_dir, inst_data=inst_data)
        self._sync = f"PRAGMA synchronous={synchronous_level()}"
        # shard -> (its engine, an idle connection that keeps the WAL open): the index and the newest run only
        self._held: dict[str, tuple[Engine, sqlite3.Connection]] = {}
        self._held_pid = os.getpid()

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        """Dagster's `SqliteEventLogStorage._connect` (same lock, initialisation, one transaction a call),
        with the shard's engine kept instead of created and disposed each time (~1.5 ms a call)."""
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
                self._hold(shard, engine)  # the database exists now
            with engine.connect() as conn:
                with conn.begin():
                    yield conn

    def _engine(self, shard: str) -> Engine:
        if self._held_pid != os.getpid():  # a forked process: the parent's connections are not its own
            self._held, self._held_pid = {}, os.getpid()
        if shard in self._held:
            return self._held[shard][0]
        engine = create_engine(self.conn_string_for_shard(shard), poolclass=NullPool,
                               connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        sync = self._sync
        # each new DBAPI connection, before any transaction (SQLite ignores it inside one)
        event.listen(engine, "connect", lambda dbapi_conn, _record: dbapi_conn.execute(sync))
        if shard in self._initialized_dbs:
            self._hold(shard, engine)
        return engine

    def _hold(self, shard: str, engine: Engine) -> None:
        """Keep `shard`'s engine and one idle connection to it; a new run's shard replaces the previous run's."""
        if shard in self._held:  # initialised again (Dagster's `upgrade` forgets which were)
            self._held.pop(shard)[1].close()
        if shard != INDEX_SHARD_NAME:
            for old in [s for s in self._held if s != INDEX_SHARD_NAME and s != shard]:
                old_engine, old_conn = self._held.pop(old)
                old_conn.close()
                old_engine.dispose()
        idle = sqlite3.connect(self.path_for_shard(shard), check_same_thread=False)
        idle.execute("SELECT count(*) FROM sqlite_master").fetchall()  # opens the WAL; holds no lock after
        self._held[shard] = (engine, idle)

    def dispose(self) -> None:
        if self._held_pid == os.getpid():
            for engine, idle in self._held.values():
                idle.close()
                engine.dispose()
        self._held.clear()
        super().dispose()

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        kept = [e for e in events if not e.get_dagster_event().is_asset_failed_to_materialize]
        types = {e.get_dagster_event().event_type for e in kept}
        if len(kept) < 2 or types not in BATCHED_TYPES or len({e.run_id for e in kept}) != 1:
            return super().store_event_batch(events)
        statement = self.prepare_insert_event_batch(kept)
        with self.run_connection(kept[0].run_id) as conn:
            conn.execute(statement)
        with self.index_transaction() as conn:
            # ids grow in insertion order; SQLite's RETURNING order is unspecified, so sort them
            event_ids = sorted(row[0] for row in conn.execute(statement.returning(SqlEventLogStorageTable.c.id)))
            if len(event_ids) != len(kept) or any(i is None for i in event_ids):
                raise DagsterInvariantViolationError("Cannot store asset event tags for null event id.")
            self._store_asset_event_tags(conn, kept, event_ids)
            self._store_asset_event(conn, kept[-1], event_ids[-1])


class BatchedSqliteStorage(DagsterSqliteStorage):
    """`storage: sqlite` with the event log above; runs and schedules are Dagster's, unchanged."""

    def __init__(self, base_dir: str, inst_data=None):
        super().__init__(base_dir, inst_data=inst_data)
        self._event_log_storage = BatchedSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls.from_local(inst_data=inst_data, **config_value)
