"""What a source's inputs cover, per raw table, and what would provide a table they lack.

`run` decides from it which lanes can run, and over which days (quant/lanes.py). File sources
are read for it: a CryptoDataDownload landing folder, saved Deribit dumps, CoinMarketCap exports
(which hold no raw table of these: they feed the universe lane, whose own files
`sources/universe.py` reads). The simulated market and the Deribit API serve whatever range is
asked for, so they cover that range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from dvol_pipeline.contracts.tables import RAW_TABLES

FILE_SOURCES = ("cdd", "cmc", "deribit_dumps")
"""Sources whose files say which days they cover: `run` needs no --start/--end with them."""


@dataclass(frozen=True)
class Inputs:
    covers: dict[str, tuple[date, date]]
    """Raw table -> the first and last day the inputs have rows for (a table absent here has none)."""
    enables: dict[str, str] = field(default_factory=dict)
    """Raw table -> what would provide it, for the line that says why a lane is skipped."""


def _enables(source: str, landing: Path) -> dict[str, str]:
    dumps = f"saved Deribit ticker or book-summary replies in {landing / 'deribit'} with --source deribit_dumps"
    cdd_dvol = f"CryptoDataDownload's daily DVOL files (BTC_DVOL_d.csv, ETH_DVOL_d.csv) in {landing}"
    if source == "cdd":
        return {"raw_dvol": cdd_dvol, "raw_option_chain": f"{dumps} (CryptoDataDownload publishes no option chains)"}
    if source == "deribit_dumps":
        return {"raw_dvol": f"{cdd_dvol} with --source cdd, or --source deribit (the dumps hold option chains only)",
                "raw_option_chain": dumps.removesuffix(" with --source deribit_dumps")}
    if source == "cmc":
        return {"raw_dvol": f"{cdd_dvol} with --source cdd (CoinMarketCap exports hold daily bars only)",
                "raw_option_chain": f"{dumps} (CoinMarketCap exports hold daily bars only)"}
    return {}


def source_inputs(source: str, *, landing: Path, coins: Sequence[str], start: date | None = None,
                  end: date | None = None, funding_units: str = "auto") -> Inputs:
    """What `source` holds of the raw tables for `coins`: its files' days for a file source, else
    [start, end] (both needed then) for every raw table."""
    if source == "cdd":
        from dvol_pipeline.sources.cdd.source import CddSource, table_coverage

        covers = table_coverage(CddSource(landing, funding_units), coins) if landing.is_dir() else {}
    elif source == "deribit_dumps":
        from dvol_pipeline.sources.deribit.dump_source import DeribitDumpSource, table_coverage

        covers = table_coverage(DeribitDumpSource(landing), coins)
    elif source == "cmc":
        covers = {}
    elif start is None or end is None:
        raise ValueError(f"--start and --end are required with --source {source} (only the file sources "
                         f"{', '.join(FILE_SOURCES)} can infer them from their files)")
    else:
        covers = dict.fromkeys(RAW_TABLES, (start, end))
    return Inputs(covers, _enables(source, landing))
