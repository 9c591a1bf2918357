"""Sources deliver a range batch by batch; the ingest validates, merges and writes one batch at a time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl
import pytest

from dvol_pipeline.contracts.tables import spec
from dvol_pipeline.lake.parquet import read_table
from dvol_pipeline.pipeline.ingest import ingest_table
from dvol_pipeline.sources.base import PartitionedSource, SourceBatch, TableNotProvided, fetch_batches
from dvol_pipeline_tests.lake_paths import partition_file
from dvol_pipeline_tests.toy_market import ToySource, toy_table

START, END = date(2024, 1, 30), date(2024, 2, 2)
COINS = ["BTC", "ETH"]


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


@dataclass
class DailyToy(PartitionedSource):
    """The toy market one (coin, day) per batch; checks that the ingest wrote each batch before asking
    for the next (so no more than one batch is ever held)."""

    root: object = None
    plant: dict = field(default_factory=dict)
    name: str = "toy"
    served: list[tuple[str, date]] = field(default_factory=list)

    def fetch_batches(self, table: str, start: date, end: date, coins: Sequence[str]) -> Iterator[SourceBatch]:
        for coin in coins:
            for day in _days(start, end):
                if self.served and self.root is not None and self.served[-1] not in self.plant:
                    prev_coin, prev_day = self.served[-1]
                    assert partition_file(self.root, "raw", table, prev_coin, prev_day).exists(), "batch not written yet"
                frame = toy_table(table, day, day, [coin])
                if (coin, day) in self.plant:
                    frame = self.plant[(coin, day)](frame)
                self.served.append((coin, day))
                yield SourceBatch(frame, self.name, files={f"toy://{coin}/{day}": "0" * 64},
                                  partition={"asset": coin, "date": day})


def _bytes(root, table):
    return {p.relative_to(root): p.read_bytes() for p in sorted((root / "raw" / table).rglob("*.parquet"))}


@pytest.mark.parametrize("table", ["raw_onchain", "raw_funding"])
def test_batch_by_batch_ingestion_writes_what_one_eager_batch_writes(tmp_path, table):
    """Tables whose contract judges each row within its day: per-partition batches give the same bytes."""
    eager = ingest_table(spec(table), ToySource(), tmp_path / "eager", START, END, COINS)
    source = DailyToy(root=tmp_path / "batched")
    batched = ingest_table(spec(table), source, tmp_path / "batched", START, END, COINS)
    assert len(source.served) == len(COINS) * 4
    assert _bytes(tmp_path / "batched", table) == _bytes(tmp_path / "eager", table)
    assert (batched.rows_in, batched.rows_written, batched.missing) == (eager.rows_in, eager.rows_written, [])
    assert (batched.time_min, batched.time_max) == (eager.time_min, eager.time_max)
    assert batched.contract.passed and batched.contract.n_rows == eager.contract.n_rows
    assert len(batched.files) == len(COINS) * 4


def test_a_bad_row_in_one_batch_is_quarantined_and_the_others_are_written(tmp_path):
    bad_day = START + timedelta(days=1)
    plant = {("ETH", bad_day): lambda f: f.with_columns(pl.lit(-5.0).alias("fees"))}
    report = ingest_table(spec("raw_onchain"), DailyToy(root=tmp_path, plant=plant), tmp_path, START, END, COINS)
    assert report.contract.rejected.height == 1 and not report.contract.passed
    assert report.missing == [("ETH", bad_day)]
    assert partition_file(tmp_path, "quarantine", "raw_onchain", "ETH", bad_day).exists()
    assert read_table(tmp_path, "raw_onchain").height == 2 * 4 - 1


def test_the_eager_fetch_of_a_batching_source_is_its_batches_together():
    one = DailyToy().fetch("raw_funding", START, END, COINS)
    assert one.frame.sort("asset", "ts").equals(toy_table("raw_funding", START, END, COINS).sort("asset", "ts"))
    assert len(one.files) == 8 and one.source == "toy"


def test_an_eager_source_is_one_batch_and_a_missing_table_comes_out_of_the_first_step():
    batches = list(fetch_batches(ToySource(), "raw_dvol", START, END, COINS))
    assert len(batches) == 1 and batches[0].partition is None and batches[0].frame.height == 2 * 4

    class NoChain(ToySource):
        def fetch(self, table, start, end, coins):
            raise TableNotProvided("toy has no on-chain data")

    lazy = fetch_batches(NoChain(), "raw_onchain", START, END, COINS)  # nothing fetched yet
    with pytest.raises(TableNotProvided):
        next(lazy)
