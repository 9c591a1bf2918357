"""The paper book in the end-of-day loop: read the book as the previous day left it, step it
through each day of the range (quant/dvol/paper.py), write fills, positions, P&L and the
reconciliation with the backtest, per (coin, day).

Days run oldest first and each reads only what its own close knew (signals of that day,
features up to it), so ten end-of-day runs leave the same book as one ten-day run. A book
starts flat with no cash on the first day it is run; `paper_positions` of the day before a
range is its state.

The option sleeve (quant/execution/paper_options.py) trades the same signal in straddles / condors on
each day's real chain snapshot (`raw_option_chain`, the perpetual from `raw_ohlcv` for the
hedge) and writes `paper_option_fills`, `paper_option_positions` and `paper_option_book`;
where the lake has no option chain for the range it is skipped (and says so).

Reconciliation (`paper_reconciliation`): the paper P&L of day D is earned over (D-1, D];
the backtest row that earns the same interval is dated D-1 (its position is decided at
D-1's close and filled there). It is read for the strategy the signal follows: the primary
horizon's futures strategy of the family in the signal's model_version. Where the backtest
does not cover the day (after its newest fold) its columns are null.
"""

from __future__ import annotations

import re
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
from dvol_pipeline.quant.execution.options import OptionBacktestConfig, index_chain, perp_closes
from dvol_pipeline.quant.execution.options.run import STRATEGY as OPTION_STRATEGY
from dvol_pipeline.quant.dvol.paper import CoinBook, DayResult, PaperConfig, frames, reconcile, step_day
from dvol_pipeline.quant.execution.paper_options import (
    LEG_SCHEMA,
    OPTION_FILL_SCHEMA,
    SLEEVE_SCHEMA,
    OptionSleeve,
    reconcile_sleeve,
    step_sleeve,
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


def _books(root: Path, start: date, coins: list[str]) -> dict[str, CoinBook]:
    prev = read_table_or_none(root, "paper_positions", start - timedelta(days=1), start - timedelta(days=1), coins)
    books = {c: CoinBook() for c in coins}
    if prev is not None:
        for row in prev.iter_rows(named=True):
            books[row["asset"]] = CoinBook.from_row(row)
    return books


def _signal_strategy(signals: pl.DataFrame) -> pl.DataFrame:
    """date, asset, direction, strategy and family the signal follows (from model_version)."""
    def family(row: dict) -> str | None:
        m = re.search(rf"\b{row['primary_horizon']}d=([A-Za-z0-9_]+)@", row["model_version"] or "")
        return m.group(1) if m else None

    fam = [family(r) for r in signals.iter_rows(named=True)]
    return signals.select("date", "asset", "direction", "primary_horizon").with_columns(
        family=pl.Series(fam, dtype=pl.Utf8),
        strategy=pl.format("dvol_futures_{}d", "primary_horizon"))


def reconciliation(pnl: pl.DataFrame, fills: pl.DataFrame, positions: pl.DataFrame, signals: pl.DataFrame,
                   backtest: pl.DataFrame | None) -> pl.DataFrame:
    delay = fills.group_by("date", "asset").agg(delay_usd=pl.col("delay_usd").sum(),
                                                 spread_usd=pl.col("spread_usd").sum())
    out = pnl.join(positions.select("date", "asset", "position"), on=["date", "asset"], how="left").join(
        delay, on=["date", "asset"], how="left").with_columns(pl.col("delay_usd", "spread_usd").fill_null(0.0))
    # the signal that set yesterday's order, and the backtest row earning the same interval
    followed = _signal_strategy(signals).select(
        (pl.col("date") + pl.duration(days=1)).alias("date"), "asset", "strategy", "family")
    out = out.join(followed, on=["date", "asset"], how="left")
    cols = {"backtest_net_usd": pl.Float64, "backtest_cost_usd": pl.Float64, "backtest_position": pl.Float64}
    if backtest is not None and not backtest.is_empty():
        bt = backtest.filter(pl.col("strategy").str.starts_with("dvol_futures")).select(
            (pl.col("date") + pl.duration(days=1)).alias("date"), "asset", "strategy", "family",
            backtest_net_usd="net_usd", backtest_cost_usd="cost_usd", backtest_position="position")
        out = out.join(bt, on=["date", "asset", "strategy", "family"], how="left")
    else:
        out = out.with_columns(pl.lit(None, t).alias(c) for c, t in cols.items())
    return out.select(
        "date", "asset", "strategy", "family", paper_pnl_usd="pnl_usd", paper_cost_usd="cost_usd",
        paper_position="position", delay_usd="delay_usd", spread_usd="spread_usd",
        backtest_net_usd="backtest_net_usd", backtest_cost_usd="backtest_cost_usd",
        backtest_position="backtest_position",
    ).with_columns(pnl_gap_usd=pl.col("paper_pnl_usd") - pl.col("backtest_net_usd")).sort("asset", "date")


def run_paper(root: Path, start: date, end: date, coins: list[str], config: PaperConfig = PaperConfig()) -> PaperRun:
    """Step the paper book over [start, end] and write its tables (see the module doc)."""
    features = read_table_or_none(root, "features_daily", start - timedelta(days=MARK_HISTORY_DAYS), end, coins)
    if features is None:
        raise FileNotFoundError(f"the paper book needs features_daily up to {end} under {root}; materialize it first")
    market = features.select("date", "asset", "dvol", *[c for c in TERM_COLUMNS if c in features.columns])
    signals = read_table_or_none(root, "signals", start - timedelta(days=1), end, coins)
    if signals is None:
        signals = pl.DataFrame(schema=table("signals").schema)
    books = _books(root, start, coins)
    results = DayResult([], [], [], [])
    for i in range((end - start).days + 1):
        day = start + timedelta(days=i)
        today = {r["asset"]: r["direction"] for r in signals.filter(pl.col("date") == day).iter_rows(named=True)}
        r = step_day(books, day, today, market, config)
        results.fills += r.fills
        results.positions += r.positions
        results.pnl += r.pnl
        results.events += r.events
    fills, positions, pnl = frames(results)
    # the book check needs every fill since the book began: earlier days from the lake
    check = reconcile(_history(root, "paper_fills", start, coins, fills),
                      _history(root, "paper_positions", start, coins, positions), config).filter(pl.col("date") >= start)
    recon = reconciliation(pnl, fills, positions, signals, read_single_or_none(root, "backtest_daily"))
    write_partitions(root, "paper_fills", fills)
    write_partitions(root, "paper_positions", positions)
    write_partitions(root, "paper_pnl", pnl)
    write_partitions(root, "paper_reconciliation", recon)
    options = run_option_sleeve(root, start, end, coins, signals, config)
    events = results.events + (options.events if options else [])
    return PaperRun(fills, positions, pnl, recon, events, check, options)


def _sleeves(root: Path, start: date, coins: list[str]) -> dict[str, OptionSleeve]:
    prev = start - timedelta(days=1)
    rows = read_table_or_none(root, "paper_option_book", prev, prev, coins)
    held = read_table_or_none(root, "paper_option_positions", prev, prev, coins)
    sleeves = {c: OptionSleeve() for c in coins}
    for row in ([] if rows is None else rows.iter_rows(named=True)):
        legs = pl.DataFrame(schema=LEG_SCHEMA) if held is None else held.filter(pl.col("asset") == row["asset"])
        sleeves[row["asset"]] = OptionSleeve.from_rows(row, legs)
    return sleeves


def _history(root: Path, name: str, before: date, coins: list[str], new: pl.DataFrame) -> pl.DataFrame:
    """`name`'s rows before `before` (from the lake) followed by `new`."""
    old = read_table_or_none(root, name, None, before - timedelta(days=1), coins)
    return new if old is None else pl.concat([old.select(new.columns), new])


def run_option_sleeve(root: Path, start: date, end: date, coins: list[str], signals: pl.DataFrame,
                      config: PaperConfig, option_config: OptionBacktestConfig = OptionBacktestConfig()
                      ) -> OptionSleeveRun | None:
    """Step each coin's option sleeve over [start, end] on the lake's chain snapshots, write it."""
    try:
        chain = scan_table(root, "raw_option_chain", start, end, coins)
        ohlcv = read_table_or_none(root, "raw_ohlcv", start, end, coins)
    except FileNotFoundError:
        return None
    perp = perp_closes(ohlcv) if ohlcv is not None else pl.DataFrame(schema={"date": pl.Date, "asset": pl.Utf8,
                                                                             "perp_price": pl.Float64})
    sleeves = _sleeves(root, start, coins)
    fills, held, book, events = [], [], [], []
    for coin in coins:
        index = index_chain(chain.filter(pl.col("asset") == coin)).get(coin)
        day_of = {} if index is None else {d: i for i, d in enumerate(index.dates)}
        prices = dict(perp.filter(pl.col("asset") == coin).select("date", "perp_price").iter_rows())
        direction = dict(signals.filter(pl.col("asset") == coin).select("date", "direction").iter_rows())
        for k in range((end - start).days + 1):
            day = start + timedelta(days=k)
            r = step_sleeve(sleeves[coin], coin, day, index, day_of.get(day), prices.get(day),
                            int(direction.get(day) or 0), option_config.capital_usd, config.kill_drawdown_frac,
                            config.max_data_gap_days, option_config)
            fills += r.fills
            held += r.positions
            book += r.sleeves
            events += r.events
        del index  # one coin's chain in memory at a time
    fills = pl.DataFrame(fills, schema=OPTION_FILL_SCHEMA).with_columns(
        seq=pl.int_range(pl.len(), dtype=pl.Int32).over("asset", "date"))
    held = pl.concat(held) if held else pl.DataFrame(schema=LEG_SCHEMA)
    backtest = read_single_or_none(root, "backtest_daily")
    book = _with_backtest(pl.DataFrame(book, schema=SLEEVE_SCHEMA), backtest)
    check = reconcile_sleeve(_history(root, "paper_option_fills", start, coins, fills),
                             _history(root, "paper_option_positions", start, coins, held),
                             _history(root, "paper_option_book", start, coins, book)).filter(pl.col("date") >= start)
    for name, frame in (("paper_option_fills", fills), ("paper_option_positions", held), ("paper_option_book", book)):
        write_partitions(root, name, frame)
    return OptionSleeveRun(fills, held, book, check, events)


def _with_backtest(book: pl.DataFrame, backtest: pl.DataFrame | None) -> pl.DataFrame:
    """backtest_net_usd: the backtest option book's net P&L over the same (D-1, D] (its row dated
    D-1); null where the backtest does not cover the day."""
    if backtest is None or backtest.is_empty() or "strategy" not in backtest.columns:
        return book.with_columns(pl.lit(None, pl.Float64).alias("backtest_net_usd"))
    bt = backtest.filter(pl.col("strategy") == OPTION_STRATEGY).select(
        (pl.col("date") + pl.duration(days=1)).alias("date"), "asset", backtest_net_usd="net_usd")
    return book.join(bt.unique(["date", "asset"], keep="last"), on=["date", "asset"], how="left")
