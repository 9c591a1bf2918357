"""Which micro source reads what, and what a landing folder holds for the lane.

`read_ticks` dispatches a source name to its reader; `tick_coverage` says, without parsing
the files, which days a landing folder's files cover (dates in their names, else the first
line's clock), so `run` can plan the lane, or skip it with the line that names the files
that would enable it.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from dvol_pipeline.sources.micro.batch import TickBatch

MICRO_SOURCES = ("simulated", "binance_ws", "tardis", "binance_archive", "cryptolake")
MICRO_FILE_SOURCES = MICRO_SOURCES[1:]
"""Sources whose inputs are files in the landing folder."""

_PATTERNS = {
    "binance_ws": ("*.log", "*.log.gz", "*.txt", "*.txt.gz", "*.jsonl", "*.jsonl.gz", "*.ndjson", "*.ndjson.gz"),
    "tardis": ("*.csv.gz", "*.csv"),
    "binance_archive": ("*.zip", "*.csv"),
    "cryptolake": ("*.parquet",),
}
_WHAT = {
    "binance_ws": "Binance websocket recordings (`<local ts> <json>` lines, .log/.txt/.jsonl, gzip or plain)",
    "tardis": "Tardis.dev CSV exports (binance-futures_incremental_book_L2_2024-03-01_BTCUSDT.csv.gz ...)",
    "binance_archive": "Binance public-data files (spot|um|cm/<kind>/<SYMBOL>/<SYMBOL>-<kind>-<day>.zip or .csv)",
    "cryptolake": "Crypto Lake parquet files (book_delta_v2, trades, funding, liquidations)",
}
_DAY = re.compile(r"(20\d{2})-(\d{2})(?:-(\d{2}))?")


def tick_files(source: str, landing: Path) -> list[Path]:
    """The landing files a file source would read (any depth), sorted; never opened here."""
    landing = Path(landing)
    if not landing.is_dir():
        return []
    return sorted({p for pattern in _PATTERNS[source] for p in landing.rglob(pattern) if p.is_file()})


def what_enables(source: str, landing: Path) -> str:
    if source == "simulated":
        return "a range (--start, --end) of the simulated order book"
    return f"{_WHAT[source]} in {landing}"


def _first_clock_day(path: Path) -> date | None:
    """The UTC day of a recording's first line (`<ts> <json>`, ns or µs)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as f:
            head = f.readline().split(" ", 1)[0]
        stamp = int(head)
    except (OSError, ValueError, EOFError):
        return None
    seconds = stamp / 1e9 if stamp > 10**17 else stamp / 1e6
    return datetime.fromtimestamp(seconds, UTC).date()


def _name_day(path: Path) -> tuple[date, date] | None:
    m = _DAY.search(path.name)
    if not m:
        return None
    year, month, day = int(m[1]), int(m[2]), m[3]
    try:
        if day:
            d = date(year, month, int(day))
            return d, d
        first = date(year, month, 1)
        last = date(year + month // 12, month % 12 + 1, 1).toordinal() - 1
        return first, date.fromordinal(last)
    except ValueError:
        return None


def tick_coverage(source: str, landing: Path, start: date | None = None,
                  end: date | None = None) -> tuple[tuple[date, date] | None, str]:
    """(first and last day the source's inputs cover, None without any; what would provide them)."""
    if source not in MICRO_SOURCES:
        return None, f"tick files with --source {', '.join(MICRO_FILE_SOURCES)} (source {source} has none)"
    enable = what_enables(source, landing)
    if source == "simulated":
        return ((start, end) if start and end else None), enable
    spans = []
    for path in tick_files(source, landing):
        span = _name_day(path)
        if span is None and source == "binance_ws" and (day := _first_clock_day(path)) is not None:
            span = (day, date.fromordinal(day.toordinal() + 1))  # a day's file runs past midnight (local cut)
        if span is not None:
            spans.append(span)
    if not spans:
        return None, enable
    return (min(s[0] for s in spans), max(s[1] for s in spans)), enable


def read_ticks(source: str, *, landing: Path | None = None, start: date | None = None, end: date | None = None,
               seed: int = 0, coins: Sequence[str] = ("BTC", "ETH", "SOL"), intensity: float = 1.0) -> TickBatch:
    """The rows `source` holds for the UTC days [start, end] (a file source: all its days when None)."""
    if source == "simulated":
        from dvol_pipeline.sources.micro.simulated import SimConfig, simulate_ticks

        if start is None or end is None:
            raise ValueError("the simulated order book needs a range (--start, --end)")
        return simulate_ticks(start, end, seed=seed, coins=tuple(coins), config=SimConfig(intensity=intensity))
    if source not in MICRO_FILE_SOURCES:
        raise ValueError(f"unknown tick source {source!r}; known: {', '.join(MICRO_SOURCES)}")
    if landing is None or not Path(landing).is_dir():
        raise ValueError(f"--source {source} reads {_WHAT[source]} from a landing folder; {landing} is not one")
    if source == "binance_ws":
        from dvol_pipeline.sources.micro.binance_ws import read_binance_ws as reader
    elif source == "tardis":
        from dvol_pipeline.sources.micro.tardis import read_tardis as reader
    elif source == "binance_archive":
        from dvol_pipeline.sources.micro.binance_archive import read_binance_archive as reader
    else:
        from dvol_pipeline.sources.micro.cryptolake import read_cryptolake as reader
    return reader(Path(landing), start, end)
