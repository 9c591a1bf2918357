"""The paper book in the end-of-day loop: read the book as the previous day left it, step it
through each day of the range (quant/dvol/paper.py), write fills, positions, P&L and the
reconciliation with the backtest, per (coin, day).

Days run oldest first and each reads only what its own close knew (signals of that day,
features up to it), so ten end-of-day runs leave the same book as one ten-day run. A book
starts flat with no cash on the first day it is run; `paper_positions` of the day before a
range is its state. Every read is bounded by the range: the day before's state, the
range's signals, marks and chains, and the backtest rows that earn the range's days; no
run reads the book's history.

A missed day (an end of day that never ran, e.g. a server down for a day) is never stepped
over: when the day before the range has no state but an older day has, the run refuses before
writing anything, naming the missed days and the command that catches them up
(`python -m dvol_pipeline eod` runs them itself: quant/dvol/paper.py `catch_up_start`). Finding
the older state lists partition folders only.

The option sleeve (quant/execution/paper_options.py) trades the same signal in straddles / condors on
each day's real chain snapshot (`raw_option_chain`, the perpetual from `raw_ohlcv` for the
hedge) and writes `paper_option_fills`, `paper_option_positions` and `paper_option_book`;
where the lake has no option chain for the range it is skipped (and says so), and the next
run with a chain steps the skipped days first, as the kill switch's data gap, from the
sleeve's newest state.

Reconciliation (`paper_reconciliation`, quant/dvol/paper.py): each day's paper P&L against
the backtest row of the strategy the signal follows (the signal's `family` column).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from dvol_pipeline.lake.catalog import table
from dvol_pipeline.lake.parquet import (
    read_single_or_none,
    read_table_or_none,
    scan_table,
    write_partitions,
)
from dvol_pipeline.quant.dvol.backtest.listing import TERM_COLUMNS
from dvol_pipeline.quant.dvol.paper import (
    PaperConfig,
    frames,
    missed_days,
    opening_books,
    reconcile,
    reconciliation,
    run_days,
)
from dvol_pipeline.quant.execution.options import OptionBacktestConfig, perp_closes
from dvol_pipeline.quant.execution.paper_options import (
    opening_sleeves,
    reconcile_sleeve,
    run_sleeves,
    with_backtest,
)

TABLES = ("paper_fills", "paper_positions", "paper_pnl", "paper_reconciliation")
OPTION_TABLES = ("paper_option_fills", "paper_option_positions", "paper_option_book")
MARK_HISTORY_DAYS = 10
"""Features read before the range: the term structure's last known value carries over gaps."""


@dataclass
class OptionSleeveRun:
    fills: pl.DataFrame
    positions: pl.DataFrame
    book: pl.DataFrame
    check: pl.DataFrame  # quant.paper_options.reconcile_sleeve over the range
    events: list[str]


@dataclass
class PaperRun:
    fills: pl.DataFrame
    positions: pl.DataFrame
    pnl: pl.DataFrame
    reconciliation: pl.DataFrame
    events: list[str]
    book_check: pl.DataFrame  # quant.paper.reconcile over the range
    options: OptionSleeveRun | None = None


class MissedDays(RuntimeError):
    """The book's state of the day before a range is missing while an older one exists."""

    def __init__(self, name: str, last_state: date, missed: list[date], start: date, end: date):
        self.last_state, self.missed = last_state, missed
        days = ", ".join(str(d) for d in missed)
        super().__init__(
            f"{name} has no state for {days}: the book last ran {last_state}, so {start} cannot open from "
            f"yesterday's book; nothing was written. Catch up the missed days first: "
            f"`python -m dvol_pipeline eod --date {end}` runs {missed[0]}..{end} in one run")


def last_state_day(root: Path, name: str, before: date, coins: list[str]) -> date | None:
    """The newest day before `before` on which `name` (a paper state table) holds a partition of
    any of `coins`; None when it holds none. Folder listings only, newest first."""
    t = table(name)
    if not t.base(root).is_dir():
        return None
    newest = None
    for coin in coins:
        for text in reversed(t.coin_days(root, coin)):
            try:
                day = date.fromisoformat(text)
            except ValueError:
                continue
            if day < before and t.partition_file(root, coin, text).is_file():
                newest = day if newest is None else max(newest, day)
                break
    return newest


def check_no_missed_days(root: Path, start: date, end: date, coins: list[str]) -> None:
    """Raise MissedDays when the futures book (written every day it runs) misses days between its
    newest state and `start`."""
    last = last_state_day(root, "paper_positions", start, coins)
    missed = missed_days(last, start)
    if missed:
        raise MissedDays("paper_positions", last, missed, start, end)


def _day_before(root: Path, name: str, start: date, coins: list[str]) -> pl.DataFrame | None:
    """`name`'s rows of the day before `start`: the book's state when the range opens."""
    prev = start - timedelta(days=1)
    return read_table_or_none(root, name, prev, prev, coins)


def _backtest(root: Path, start: date, end: date) -> pl.DataFrame | None:
    """backtest_daily rows that earn the range's days (dated the day before each)."""
    return read_single_or_none(root, "backtest_daily", start - timedelta(days=1), end)


def run_paper(root: Path, start: date, end: date, coins: list[str], config: PaperConfig = PaperConfig()) -> PaperRun:
    """Step the paper book over [start, end] and write its tables (see the module doc)."""
    check_no_missed_days(root, start, end, coins)
    features = read_table_or_none(root, "features_daily", start - timedelta(days=MARK_HISTORY_DAYS), end, coins)
    if features is None:
        raise FileNotFoundError(f"the paper book needs features_daily up to {end} under {root}; materialize it first")
    market = features.select("date", "asset", "dvol", *[c for c in TERM_COLUMNS if c in features.columns])
    signals = read_table_or_none(root, "signals", start - timedelta(days=1), end, coins)
    if signals is None:
        signals = pl.DataFrame(schema=table("signals").schema)
    opening = _day_before(root, "paper_positions", start, coins)
    results = run_days(opening_books(coins, opening), start, end, signals, market, config)
    fills, positions, pnl = frames(results)
    check = reconcile(fills, positions, config, opening)
    backtest = _backtest(root, start, end)
    recon = reconciliation(pnl, fills, positions, signals, backtest)
    write_partitions(root, "paper_fills", fills)
    write_partitions(root, "paper_positions", positions)
    write_partitions(root, "paper_pnl", pnl)
    write_partitions(root, "paper_reconciliation", recon)
    options = run_option_sleeve(root, start, end, coins, signals, config, backtest=backtest)
    events = results.events + (options.events if options else [])
    return PaperRun(fills, positions, pnl, recon, events, check, options)


def run_option_sleeve(root: Path, start: date, end: date, coins: list[str], signals: pl.DataFrame,
                      config: PaperConfig, option_config: OptionBacktestConfig = OptionBacktestConfig(),
                      backtest: pl.DataFrame | None = None) -> OptionSleeveRun | None:
    """Step each coin's option sleeve over [start, end] on the lake's chain snapshots, write it
    (`backtest`: backtest_daily rows of the range, read here when not given)."""
    try:
        chain = scan_table(root, "raw_option_chain", start, end, coins)
        ohlcv = read_table_or_none(root, "raw_ohlcv", start, end, coins)
    except FileNotFoundError:
        return None
    perp = perp_closes(ohlcv) if ohlcv is not None else pl.DataFrame(schema={"date": pl.Date, "asset": pl.Utf8,
                                                                             "perp_price": pl.Float64})
    # days the sleeve was skipped (no chain: it writes nothing) are stepped now as the data gap
    # they were, from its newest state, so that it never reopens flat
    last = last_state_day(root, "paper_option_book", start, coins)
    begin = start if not missed_days(last, start) else last + timedelta(days=1)
    if begin < start:
        signals = read_table_or_none(root, "signals", begin, end, coins)
        signals = pl.DataFrame(schema=table("signals").schema) if signals is None else signals
    opening_book = _day_before(root, "paper_option_book", begin, coins)
    opening_legs = _day_before(root, "paper_option_positions", begin, coins)
    fills, held, book, events = run_sleeves(
        opening_sleeves(coins, opening_book, opening_legs), begin, end, chain, perp, signals,
        option_config.capital_usd, config.kill_drawdown_frac, config.max_data_gap_days, option_config)
    book = with_backtest(book, _backtest(root, start, end) if backtest is None else backtest)
    check = reconcile_sleeve(fills, held, book, opening_book, opening_legs)
    for name, frame in (("paper_option_fills", fills), ("paper_option_positions", held), ("paper_option_book", book)):
        write_partitions(root, name, frame)
    return OptionSleeveRun(fills, held, book, check, events)
