"""features_daily in the lake: read the raw tables a range needs, build, check, write.

What is read: every input from `READ_BACK_DAYS` before the range (and the LABEL_REACH_DAYS
days before it, whose labels the range completes) up to 14 days past it for the labels.
That year is the longest window any feature but GARCH looks back (`lookback_days`); the
expanding-window GARCH fits on every return since the first day, and takes the returns
before the year from the `garch_returns` table, which every build keeps up to date
(quant/dvol/features/build.py: `garch_series`). So an end-of-day run reads the same amount
whatever the lake's age, and its rows equal those of a build from the first day, bit for bit
(dvol_pipeline_tests/pipeline/dvol/test_features_bounded.py). A range that starts within a
year of history, or a lake whose `garch_returns` does not cover every day up to the read's
first day (a lake built before the table existed), reads from the first day, as before, and
writes the table whole. The option chain is read only when no options summary exists, since
the flow group can be rebuilt from it; `surface_features` (zone `surface`) joins as the
`surface` group when the option_surface asset has built it. Feature rows outside the range
are computed but not written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from dvol_pipeline.lake.catalog import table
from dvol_pipeline.lake.parquet import read_single_or_none, read_table_or_none, write_partitions, write_single
from dvol_pipeline.progress import phased, step
from dvol_pipeline.quant.dvol.features import garch
from dvol_pipeline.quant.dvol.features import (
    MAX_HORIZON,
    FeatureSet,
    LeakageReport,
    build_features,
    check_no_lookahead,
    default_check_days,
    lookback_days,
)
from dvol_pipeline.quant.dvol.features._frames import extend_after
from dvol_pipeline.quant.dvol.features.build import GARCH_RETURNS

ExtraFeatures = Callable[[pl.DataFrame], pl.DataFrame]
FEATURES_TABLE = "features_daily"
GARCH_MEMO = "garch_fit_memo"
LABEL_REACH_DAYS = MAX_HORIZON
"""The newest label looks this far ahead: a range reads DVOL this far past its end."""
READ_BACK_DAYS = lookback_days("none") + 2
"""Days read before the first row built: the longest non-GARCH window (the regime year, D-364..D,
of DVOL and of the surface's ATM vol), the previous close, and a day to spare."""
NEAR_READ_DAYS = {"raw_ohlcv": 24, "raw_funding": 8, "raw_options_summary": 64, "raw_option_chain": 64,
                  "raw_onchain": 10, "micro_daily": 2}
"""Tables whose windows are shorter, read this many days before the first row built (when the build
is bounded): price bars for rv_22d (22 days of returns and the close before), the options summary for
the net-vega z-score (60 days, lagged one), funding's 5-day change, on-chain's 6-day lag after its
publication day, the micro roll-up's day; each with a day or two to spare. A table with no rows that
near is read over the year instead, and one with none in the year from the first day (`read_inputs`' `since`)."""
INPUTS = ("raw_dvol", "raw_ohlcv", "raw_funding", "raw_options_summary", "raw_onchain")


@dataclass
class FeatureBuild:
    features: FeatureSet
    rows: pl.DataFrame  # the range's rows, as written
    leakage: LeakageReport
    partitions: int
    inputs: dict[str, int]  # raw table -> rows read (0: absent)
    read_from: date | None = None  # the first day read (first_day, or a year before the range)


def read_inputs(root: Path, first: date, last: date, coins: list[str],
                near: dict[str, date] | None = None, since: date | None = None) -> dict[str, pl.DataFrame | None]:
    """Every input over [first, last]; a table in `near` from its own later first day (over
    [first, last] where it has no rows from then). `since` (a bounded read: the lake's first
    day): a table with no rows in [first, last] is read from `since`, so a source that stopped
    delivering a table over a year ago still gives its group the columns (and values) that a
    build from the first day gives, not a frame without them."""
    near = near or {}

    def read(name: str) -> pl.DataFrame | None:
        frame = read_table_or_none(root, name, near[name], last, coins) if name in near else None
        if frame is None or frame.is_empty():
            frame = read_table_or_none(root, name, first, last, coins)
        if (frame is None or frame.is_empty()) and since is not None and since < first:
            frame = read_table_or_none(root, name, since, last, coins)
        return frame

    tables: dict[str, pl.DataFrame | None] = {}
    for name in INPUTS:
        tables[name] = read(name)
        if tables[name] is None and name == "raw_dvol":
            raise FileNotFoundError(
                f"features_daily needs raw_dvol for {coins} up to {last} under {root}; materialize it first"
            )
    # the surface group: SVI fits of each day's chain (the option_surface asset)
    tables["surface_features"] = read("surface_features")
    # the micro group: the micro lane's daily roll-up, on the days its tick data covers
    tables["micro_daily"] = read("micro_daily")
    if tables["raw_options_summary"] is None:
        chain = read("raw_option_chain")
        if chain is not None:
            tables["raw_option_chain"] = chain
    return tables


@phased("features_daily", total=4)
def build_range(
    root: Path, first_day: date, start: date, end: date, coins: list[str], extra_features: ExtraFeatures | None = None
) -> FeatureBuild:
    """Feature rows for [start, end], leakage-checked on a sample of the range's days.

    `extra_features` (frame -> frame with new columns) adds research features; they pass
    through the same no-look-ahead check as the built-in ones.
    """
    read_from, history = read_window(root, first_day, start, coins)
    near = {} if history is None else {name: _near(start, name) for name in NEAR_READ_DAYS}
    step(f"read raw tables {read_from}..{end}")
    tables = read_inputs(root, read_from, end + timedelta(days=LABEL_REACH_DAYS), coins, near,
                         since=None if history is None else first_day)
    if history is not None:
        tables[GARCH_RETURNS] = history
    memo = read_single_or_none(root, GARCH_MEMO)
    garch.remember_fits(memo)
    step(f"build features of {start}..{end}")
    built = build_features(tables, extra_features=extra_features)
    rows = built.frame.filter(pl.col("date").is_between(start, end))
    days = rows["date"].unique().sort().to_list()
    # the check sees only data up to `end`: labels may look ahead, features may not
    step(f"no-look-ahead check on {len(days):,} days")
    upto_end = {k: None if v is None else _through(v, k, end) for k, v in tables.items()}
    # nothing read after `end` (the newest day's run): the build above is the check's full build
    same = all((v is None) == (tables[k] is None) and (v is None or v.height == tables[k].height)
               for k, v in upto_end.items())
    leakage = check_no_lookahead(upto_end, default_check_days(days), extra_features=extra_features,
                                 full=built.frame if same else None)
    # the labels of the LABEL_REACH_DAYS days before the range become known with the range's
    # DVOL closes: rewrite those partitions too (their features are unchanged, by construction),
    # so an end-of-day run labels the rows that training and metrics need
    relabel = built.frame.filter(
        pl.col("date").is_between(start - timedelta(days=LABEL_REACH_DAYS), start - timedelta(days=1))
        & (pl.col("date") >= first_day)
    )
    step(f"write {rows.height:,} rows")
    features_table = table(FEATURES_TABLE)
    existing = [features_table.partition_file(root, a, d).exists() for a, d in relabel.select("asset", "date").iter_rows()]
    relabel = relabel.filter(pl.Series(existing, dtype=pl.Boolean)) if relabel.height else relabel
    out = pl.concat([relabel, rows]) if relabel.height else rows
    written = write_partitions(root, FEATURES_TABLE, out)
    # the lake remembers the fits its own builds used (never another lake's, so a lake's files
    # depend on its data alone), and the file is rewritten only when a new fit joins
    known = set() if memo is None else set(memo["key"].to_list())
    used = set(built.garch_fits["fit_key"].to_list()) if "fit_key" in built.garch_fits.columns else set()
    if used - known:
        write_single(root, GARCH_MEMO, garch.remembered_fits(known | used))
    if not built.returns.is_empty():
        write_single(root, GARCH_RETURNS, _merge_returns(read_single_or_none(root, GARCH_RETURNS), built.returns))
    inputs = {k: (0 if v is None else v.height) for k, v in tables.items()}
    return FeatureBuild(built, rows, leakage, len(written), inputs, read_from)


def _through(frame: pl.DataFrame, name: str, end: date) -> pl.DataFrame:
    if "ts" in frame.columns:
        return frame.filter(pl.col("ts").dt.date() <= end)
    return frame.filter(pl.col("date") <= end)


def read_window(root: Path, first_day: date, start: date, coins: list[str]) -> tuple[date, pl.DataFrame | None]:
    """(first day to read, the `garch_returns` rows up to the first day price bars are read from):
    a year before the rows to build when the table covers every day of every coin from its first
    through that day; else (first_day, None), a read from the first day."""
    read_from = start - timedelta(days=LABEL_REACH_DAYS + READ_BACK_DAYS)
    if read_from <= first_day:
        return first_day, None
    saved = read_single_or_none(root, GARCH_RETURNS)
    if saved is None:
        return first_day, None
    bars_from = _near(start, "raw_ohlcv")
    history = saved.filter(pl.col("asset").is_in(coins) & (pl.col("date") <= bars_from))
    span = history.group_by("asset").agg(first=pl.col("date").min(), last=pl.col("date").max(), n=pl.len())
    whole = span.filter((pl.col("last") == bars_from)
                        & (pl.col("n") == (pl.col("last") - pl.col("first")).dt.total_days() + 1))
    if whole.height < len(set(coins)):
        return first_day, None
    return read_from, history


def _near(start: date, name: str) -> date:
    return start - timedelta(days=LABEL_REACH_DAYS + NEAR_READ_DAYS[name])


def _merge_returns(saved: pl.DataFrame | None, new: pl.DataFrame) -> pl.DataFrame:
    """`new` (complete daily grid per coin) replaces `saved`'s rows of its coins up to its last day."""
    new = new.select("asset", "date", pl.col("ret").cast(pl.Float64))
    if saved is None:
        return new.sort("asset", "date")
    return extend_after(new, saved.select(new.columns))

