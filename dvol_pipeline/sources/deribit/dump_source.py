"""`source=deribit_dumps`: option chains from saved Deribit ticker / book-summary files.

The live API serves only the present moment; users who collected snapshots themselves
(a cron job saving `public/ticker` or `public/get_book_summary_by_currency` replies, as JSON
or CSV) drop them under `<landing>/deribit/`. Each file is one snapshot (dumps.py); the
days a range asks for are the snapshots stamped on them. Two snapshots of the same
instrument at the same instant (a file saved twice) collapse to the later file's row.
Provides raw_option_chain and raw_options_summary (the day's last snapshot aggregated, as
the live source does); every other table is not provided.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from dvol_pipeline.contracts.tables import RAW_OPTION_CHAIN, RAW_OPTIONS_SUMMARY
from dvol_pipeline.settings import lake_root
from dvol_pipeline.sources.base import SourceBatch, TableNotProvided, register_source, sha256_file
from dvol_pipeline.sources.deribit.dumps import REJECT_SCHEMA, DumpFormatError, dump_files, read_dump
from dvol_pipeline.sources.deribit.mapping import options_summary_frame

PROVIDED = ("raw_option_chain", "raw_options_summary")
SUBFOLDER = "deribit"


@dataclass
class DeribitDumpSource:
    landing: Path
    name: str = "deribit_dumps"

    @property
    def folder(self) -> Path:
        return Path(self.landing) / SUBFOLDER

    def fetch(self, table: str, start: date, end: date, coins: Sequence[str]) -> SourceBatch:
        if table not in PROVIDED:
            raise TableNotProvided(f"{table}: Deribit dumps hold option tickers and book summaries only "
                                   f"({', '.join(PROVIDED)})")
        files = dump_files(self.folder)
        if not files:
            raise TableNotProvided(f"{table}: no Deribit dump files (*.json, *.jsonl, *.csv) under {self.folder}")
        chains, rejected, read = [], [], {}
        for path in files:
            dump = read_dump(path)
            day = pl.col("ts").dt.date()
            part = dump.chain.filter(day.is_between(start, end) & pl.col("asset").is_in(list(coins)))
            if part.height or dump.rejected.height:
                read[str(path)] = sha256_file(path)
            chains.append(part.with_columns(__file=pl.lit(path.name)))
            rej = dump.rejected.filter(pl.col("ts").str.slice(0, 10).is_between(pl.lit(str(start)), pl.lit(str(end))))
            rejected.append(rej)
        chain = pl.concat(chains).sort("__file").unique(list(RAW_OPTION_CHAIN.key), keep="last").drop("__file")
        chain = chain.sort("asset", "ts", "instrument_name")
        notes = {"files": len(read), "snapshots": chain.select("asset", "ts").n_unique()}
        rej = pl.concat(rejected) if rejected else pl.DataFrame(schema=REJECT_SCHEMA)
        if table == "raw_option_chain":
            return SourceBatch(chain, self.name, read, notes, rej if rej.height else None)
        return SourceBatch(self._summary(chain), self.name, read, notes)

    @staticmethod
    def _summary(chain: pl.DataFrame) -> pl.DataFrame:
        if chain.is_empty():
            return RAW_OPTIONS_SUMMARY.empty()
        last = chain.group_by("asset", pl.col("ts").dt.date().alias("day")).agg(pl.col("ts").max())
        frames = [options_summary_frame(chain.filter((pl.col("asset") == a) & (pl.col("ts") == ts)), day)
                  for a, day, ts in last.sort("asset", "day").iter_rows()]
        return pl.concat(frames).sort("asset", "date")


def table_coverage(source: DeribitDumpSource, coins: Sequence[str]) -> dict[str, tuple[date, date]]:
    """Per raw table, the first and last day the dumps hold snapshots of `coins` on (both tables
    come from the same snapshots; none: no table); a file that cannot be read is left to the ingest,
    which reports it."""
    days = []
    for path in dump_files(source.folder):
        try:
            ts = read_dump(path).chain.filter(pl.col("asset").is_in(list(coins)))["ts"]
        except DumpFormatError:
            continue
        if ts.len():
            days += [ts.min().date(), ts.max().date()]
    return {table: (min(days), max(days)) for table in PROVIDED} if days else {}


def deribit_dump_source(landing: str | None = None, **_: object) -> DeribitDumpSource:
    return DeribitDumpSource(Path(landing) if landing else lake_root() / "landing")


register_source("deribit_dumps", deribit_dump_source)
