"""Lake writes: atomic, whole-partition, byte-identical; quarantine mirrors the latest run."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from dvol_pipeline.contracts.tables import spec
from dvol_pipeline.lake import parquet
from dvol_pipeline.pipeline.ingest import ingest_table
from dvol_pipeline.lake.parquet import read_table, write_partitions
from dvol_pipeline_tests.lake_paths import partition_file
from dvol_pipeline_tests.toy_market import ToySource, toy_table

START, END = date(2024, 1, 30), date(2024, 2, 2)


def _bytes(root, zone="raw", table="raw_ohlcv"):
    return {p.relative_to(root): p.read_bytes() for p in sorted((root / zone / table).rglob("*.parquet"))}


def test_partitions_are_hive_folders_one_file_per_coin_and_day(tmp_path):
    report = ingest_table(spec("raw_ohlcv"), ToySource(), tmp_path, START, END, ["BTC", "ETH"])
    assert len(report.written) == 2 * 4
    assert partition_file(tmp_path, "raw", "raw_ohlcv", "ETH", date(2024, 2, 1)).exists()
    back = read_table(tmp_path, "raw_ohlcv", date(2024, 2, 1), date(2024, 2, 1), ["ETH"])
    assert back.height == 48 and back["ts"].dt.date().unique().to_list() == [date(2024, 2, 1)]
    assert report.rows_written == 2 * 4 * 48 and report.missing == []


def test_rematerializing_gives_byte_identical_files(tmp_path):
    ingest_table(spec("raw_ohlcv"), ToySource(), tmp_path, START, END, ["BTC", "ETH"])
    first = _bytes(tmp_path)
    # a single-day run and a range run write the same bytes for that day
    ingest_table(spec("raw_ohlcv"), ToySource(), tmp_path, date(2024, 2, 1), date(2024, 2, 1), ["BTC"])
    ingest_table(spec("raw_ohlcv"), ToySource(), tmp_path, START, END, ["BTC", "ETH"])
    assert _bytes(tmp_path) == first


def test_a_killed_write_leaves_the_old_partition_and_no_temp_file(tmp_path, monkeypatch):
    frame = toy_table("raw_dvol", START, START, ["BTC"])
    write_partitions(tmp_path, "raw_dvol", frame)
    target = partition_file(tmp_path, "raw", "raw_dvol", "BTC", START)
    before = target.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(parquet.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        write_partitions(tmp_path, "raw_dvol", frame.with_columns(pl.col("close") + 1))
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_a_range_write_that_fails_on_one_partition_replaces_none(tmp_path, monkeypatch):
    """Every temp file of a range is written before any rename: one partition failing to write
    leaves all the range's old partitions and no temp file."""
    frame = toy_table("raw_dvol", START, END, ["BTC", "ETH"])
    write_partitions(tmp_path, "raw_dvol", frame)
    before = _bytes(tmp_path, table="raw_dvol")
    bad = partition_file(tmp_path, "raw", "raw_dvol", "ETH", date(2024, 2, 1))
    real = parquet._write_temp

    def fail_on_one(frame, target, fsync):
        if target == bad:
            raise OSError("disk full")
        return real(frame, target, fsync)

    monkeypatch.setattr(parquet, "_write_temp", fail_on_one)
    with pytest.raises(OSError, match="disk full"):
        write_partitions(tmp_path, "raw_dvol", frame.with_columns(pl.col("close") + 1))
    assert _bytes(tmp_path, table="raw_dvol") == before
    assert not [p for p in (tmp_path / "raw" / "raw_dvol").rglob("*") if p.name.endswith(".tmp")]


def test_partitions_hold_their_rows_in_the_tables_sort_order_whatever_the_input_order(tmp_path):
    frame = toy_table("raw_ohlcv", START, END, ["BTC", "ETH"])
    write_partitions(tmp_path, "raw_ohlcv", frame)
    first = _bytes(tmp_path)
    write_partitions(tmp_path, "raw_ohlcv", frame.sample(fraction=1.0, shuffle=True, seed=7))
    assert _bytes(tmp_path) == first


def test_quarantine_holds_rejected_rows_until_the_partition_is_fixed(tmp_path):
    def plant(table, frame):
        return frame.with_columns(
            pl.when(pl.int_range(pl.len()) == 3).then(pl.lit(-1.0)).otherwise(pl.col("close")).alias("close")
        )

    report = ingest_table(spec("raw_dvol"), ToySource(plant=plant), tmp_path, START, END, ["BTC"])
    assert report.contract.rejected.height == 1
    bad_day = START.fromordinal(START.toordinal() + 3)
    qfile = partition_file(tmp_path, "quarantine", "raw_dvol", "BTC", bad_day)
    rows = pl.read_parquet(qfile)
    assert rows["reason"].to_list() == [
        "close: IV must be within (1.0, 500.0) percent; OHLC: low must be <= open and close"
    ]
    assert rows["source"].to_list() == ["toy"] and rows["close"].to_list() == ["-1.0"]
    # the good rows of that range were written, the bad day has no raw file
    assert not partition_file(tmp_path, "raw", "raw_dvol", "BTC", bad_day).exists()
    assert report.missing == [("BTC", bad_day)]
    # fixed data replaces the partition and clears its quarantine
    ingest_table(spec("raw_dvol"), ToySource(), tmp_path, START, END, ["BTC"])
    assert not qfile.exists()
    assert partition_file(tmp_path, "raw", "raw_dvol", "BTC", bad_day).exists()


def test_rows_outside_the_run_are_counted_not_written(tmp_path):
    class Wide(ToySource):
        def fetch(self, table, start, end, coins):
            return super().fetch(table, date(2024, 1, 1), date(2024, 1, 31), ["BTC", "ETH"])

    report = ingest_table(spec("raw_onchain"), Wide(), tmp_path, date(2024, 1, 10), date(2024, 1, 11), ["BTC"])
    assert report.rows_written == 2 and report.outside_range == 62 - 2


def test_reading_a_table_that_was_never_written_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="materialize it first"):
        read_table(tmp_path, "raw_dvol")


def test_a_table_the_source_does_not_have_writes_nothing_and_says_why(tmp_path):
    from dvol_pipeline.sources.base import TableNotProvided

    class NoChain(ToySource):
        def fetch(self, table, start, end, coins):
            raise TableNotProvided("toy has no on-chain data")

    report = ingest_table(spec("raw_onchain"), NoChain(), tmp_path, START, END, ["BTC"])
    assert report.not_provided == "toy has no on-chain data"
    assert report.written == [] and report.contract.passed and len(report.missing) == 4


@pytest.mark.parametrize("extra_on", [date(2024, 1, 2), date(2024, 1, 1)], ids=["added later", "dropped later"])
def test_a_column_only_some_partitions_hold_reads_as_null_in_the_others(tmp_path, extra_on):
    """features_daily gains the opt-in micro group once the micro lane has run: the end of day
    rewrites its last 14 days with the new columns, older days keep the old set. A read (or scan)
    across both must give every column, null where a partition predates it (DuckDB's
    union_by_name does the same for the views); before, polars refused the extra column. Fourteen
    days later the rebuilt window no longer reaches a tick day and the column is gone again."""
    from dvol_pipeline.lake.parquet import scan_table

    for day, dvol in ((date(2024, 1, 1), 50.0), (date(2024, 1, 2), 51.0)):
        extra = {"micro_rv": [0.4]} if day == extra_on else {}
        write_partitions(tmp_path, "features_daily", pl.DataFrame({"date": [day], "asset": ["BTC"], "dvol": [dvol],
                                                                   **extra}))
    want = [0.4, None] if extra_on == date(2024, 1, 1) else [None, 0.4]
    for got in (read_table(tmp_path, "features_daily", date(2024, 1, 1), date(2024, 1, 2)),
                scan_table(tmp_path, "features_daily", date(2024, 1, 1), date(2024, 1, 2)).collect()):
        got = got.sort("date")
        assert got["dvol"].to_list() == [50.0, 51.0]
        assert got["micro_rv"].to_list() == want


def _record_barriers(monkeypatch):
    """The order of os.fsync (by path), os.sync and os.replace calls the lake's writer makes."""
    calls, real = [], (parquet.os.fsync, parquet.os.sync, parquet.os.replace)

    def fsync(fd):
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real[0](fd)

    def sync():
        calls.append(("sync", None))
        real[1]()

    def replace(src, dst):
        calls.append(("replace", str(dst)))
        real[2](src, dst)

    for name, fn in (("fsync", fsync), ("sync", sync), ("replace", replace)):
        monkeypatch.setattr(parquet.os, name, fn)
    return calls


def test_a_small_write_makes_each_file_durable_before_its_rename_and_each_folder_after(tmp_path, monkeypatch):
    """POSIX rename durability (the order expected here is the rule, not the code's): the new file's
    bytes reach the disk before the rename, and the rename is durable once its folder is fsynced;
    a folder made for the file needs its own parent fsynced too. A few files: no whole-disk sync."""
    calls = _record_barriers(monkeypatch)
    lake = tmp_path / "lake"
    lake.mkdir()
    write_partitions(lake, "raw_dvol", toy_table("raw_dvol", START, END, ["BTC", "ETH"]))
    replaces = [i for i, (kind, _) in enumerate(calls) if kind == "replace"]
    assert len(replaces) == 2 * 4 and ("sync", None) not in calls
    temps = [i for i, (kind, path) in enumerate(calls) if kind == "fsync" and path.endswith(".tmp")]
    assert len(temps) == 8 and max(temps) < min(replaces)
    after = {path for kind, path in calls[max(replaces):] if kind == "fsync"}
    targets = [Path(path) for kind, path in calls if kind == "replace"]
    needed = {str(p.parent) for p in targets}
    for p in targets:  # every folder made for the write, up to the lake root that existed
        folder = p.parent
        while folder != lake:
            needed.add(str(folder.parent))
            folder = folder.parent
    assert needed <= after


def test_a_large_write_syncs_the_disk_once_before_the_renames_and_once_after(tmp_path, monkeypatch):
    monkeypatch.setattr(parquet, "SYNC_ALL_FROM", 4)
    calls = _record_barriers(monkeypatch)
    write_partitions(tmp_path, "raw_dvol", toy_table("raw_dvol", START, END, ["BTC", "ETH"]))
    kinds = [kind for kind, _ in calls]
    assert kinds == ["sync"] + ["replace"] * 8 + ["sync"]
