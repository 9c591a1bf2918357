"""Where the universe's daily bars come from: simulated, CDD daily files or CoinMarketCap exports.

One function per source, one dispatcher; each returns a SourceBatch in the raw_universe_daily
shape plus the lines it could not read (quarantined beside the contract's rejects). A CDD
landing folder holds the DVOL lane's files too: only daily price files (`..._d.csv`) of
USD-quoted pairs are the universe's, hourly files and DVOL/funding files are left to the
DVOL lane. Two files for one coin (Binance and another venue) are merged, the first file in
name order winning a day both cover (noted).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from dvol_pipeline.contracts.tables import RAW_UNIVERSE_DAILY
from dvol_pipeline.sources.base import SourceBatch, sha256_file

UNIVERSE_SOURCES = ("simulated", "cdd", "cmc")
REJECT_SCHEMA = {"file": pl.Utf8, "line": pl.Utf8, "symbol": pl.Utf8, "date": pl.Utf8, "reason": pl.Utf8}


def _files(landing: Path) -> list[Path]:
    if not Path(landing).is_dir():
        raise FileNotFoundError(f"landing folder {landing} does not exist: put the per-coin daily files there")
    return sorted(p for p in Path(landing).iterdir() if p.is_file() and p.suffix.lower() in (".csv", ".gz", ".txt"))


def _merge(frames: list[pl.DataFrame]) -> tuple[pl.DataFrame, int]:
    if not frames:
        return RAW_UNIVERSE_DAILY.empty(), 0
    both = pl.concat(frames, how="vertical_relaxed").with_row_index("__order")
    merged = both.unique(["symbol", "date"], keep="first", maintain_order=True).drop("__order")
    return merged.sort("symbol", "date"), both.height - merged.height


def cdd_universe(landing: Path) -> SourceBatch:
    from dvol_pipeline.sources.cdd.layouts import PRICE, CddLayoutError
    from dvol_pipeline.sources.cdd.reader import read_cdd_file

    frames, rejected, files, ignored = [], [], {}, []
    for path in _files(landing):
        try:
            parsed = read_cdd_file(path)
        except CddLayoutError as err:
            ignored.append(f"{path.name}: {str(err).splitlines()[0]}")
            continue
        rows = parsed.rows
        if parsed.layout.kind != PRICE or rows.is_empty() or rows["interval"][0] != "1d" or rows["kind"][0] != "spot":
            ignored.append(f"{path.name}: not a daily spot price file")
            continue
        files[str(path)] = parsed.sha256
        frames.append(rows.select(
            pl.col("ts").dt.date().alias("date"), pl.col("asset").alias("symbol"), pl.lit(None, pl.Utf8).alias("name"),
            "open", "high", "low", "close", "volume", "volume_quote", pl.lit(None, pl.Float64).alias("market_cap"),
            pl.lit("cdd").alias("source"),
        ))
        if parsed.rejected.height:
            rejected.append(parsed.rejected.select(
                "file", "line", pl.col("asset").alias("symbol"), pl.col("ts").str.slice(0, 10).alias("date"), "reason"))
    frame, dups = _merge(frames)
    return SourceBatch(frame, "cdd", files, {"files_ignored": ignored, "duplicate_days_resolved": dups},
                       _rejects(rejected))


def cmc_universe(landing: Path) -> SourceBatch:
    from dvol_pipeline.sources.cmc.reader import CmcLayoutError, read_cmc_file

    frames, rejected, files, ignored = [], [], {}, []
    for path in _files(landing):
        try:
            rows, bad = read_cmc_file(path)
        except CmcLayoutError as err:
            ignored.append(str(err))
            continue
        files[str(path)] = sha256_file(path)
        frames.append(rows)
        rejected.append(bad)
    frame, dups = _merge(frames)
    return SourceBatch(frame, "cmc", files, {"files_ignored": ignored, "duplicate_days_resolved": dups},
                       _rejects(rejected))


def _rejects(parts: list[pl.DataFrame]) -> pl.DataFrame:
    parts = [p.select([pl.col(c).cast(pl.Utf8) for c in REJECT_SCHEMA]) for p in parts if p.height]
    return pl.concat(parts) if parts else pl.DataFrame(schema=REJECT_SCHEMA)


def universe_coverage(source: str, landing: Path, start: date | None = None,
                      end: date | None = None) -> tuple[tuple[date, date] | None, str]:
    """(the first and last day the universe's daily bars cover, None without any; what would
    provide them): the files' own days for cdd and cmc, [start, end] for the simulated universe."""
    if source == "simulated":
        return ((start, end) if start and end else None), "a range (--start, --end) of the simulated universe"
    if source not in ("cdd", "cmc"):
        return None, f"per-coin daily price files with --source cdd or cmc (source {source} has none)"
    enable = (f"daily spot price files per coin (Binance_SOLUSDT_d.csv ...) in {landing}" if source == "cdd" else
              f"CoinMarketCap daily history exports (one CSV per coin) in {landing}")
    if not Path(landing).is_dir():
        return None, enable
    frame = (cdd_universe(landing) if source == "cdd" else cmc_universe(landing)).frame
    return ((frame["date"].min(), frame["date"].max()) if frame.height else None), enable


def fetch_universe(source: str, start: date, end: date, *, landing: Path | None = None, seed: int = 20210324,
                   n_coins: int = 60) -> tuple[SourceBatch, list[tuple[str, date]]]:
    """(the batch for [start, end], the source's known > 500 % events)."""
    if source == "simulated":
        from dvol_pipeline.sources.simulated.universe import UniverseConfig, known_events, simulate_universe

        cfg = UniverseConfig(n_coins=n_coins, seed=seed, start=start, end=end)
        return SourceBatch(simulate_universe(cfg), "simulated", {}, {"n_coins": n_coins}), known_events(cfg)
    if source not in UNIVERSE_SOURCES:
        raise ValueError(f"the universe lane cannot read source {source!r}; use one of {', '.join(UNIVERSE_SOURCES)}")
    if landing is None:
        raise ValueError(f"--source {source} needs a landing folder of per-coin daily files")
    batch = cdd_universe(landing) if source == "cdd" else cmc_universe(landing)
    inside = batch.frame.filter(pl.col("date").is_between(start, end))
    return SourceBatch(inside, batch.source, batch.files, batch.notes, batch.rejected), []
