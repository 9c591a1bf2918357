"""The paper book's option sleeve: the evening's signal as straddles / condors filled at the
next snapshot's bid/ask, delta-hedged with the perpetual.

Why a sleeve beside the futures book (quant/dvol/paper.py): the desk trades the same signal in
both instruments, and an option fill is a different row (a coin premium on an instrument
with a strike and expiry, plus the perpetual hedge) from a DVOL-future fill (vol points on
one contract). The trading rules are the backtest's own (option_strategies/book.py: which
expiry and strikes, rolls, settlement at expiry, the delta hedge, Deribit fees), so the
only differences from the backtest are the ones a desk lives with: the order of day D's
signal fills at D+1's snapshot, and the book only ever sees the day it is on.

Cash (USD) changes only by fills: a buy pays qty x price_usd + fee, a sale receives
qty x price_usd − fee; an option expiring settles as a sale (or buy-back) at its intrinsic
value. The perpetual hedge is booked the same way (bought for cash at the perpetual's
price), which yields exactly the hedge's variation P&L. Equity = cash + Σ legs qty x mark
(USD) + hedge x perpetual, so cash and positions always reconcile to the fills.

Kill switches are the futures book's (PaperConfig): a drawdown beyond
`kill_drawdown_frac` of the sleeve's capital closes everything at the next snapshot and
stops the sleeve; no chain snapshot for longer than `max_data_gap_days` orders it flat.

As the futures book, a run starts from the sleeve as the day before left it
(`opening_sleeves`: that day's `paper_option_book` and `paper_option_positions` rows) and
reads only the range's chains, perpetual closes and signals; `reconcile_sleeve` counts the
range's fills from the same opening rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import numpy as np
import polars as pl

from dvol_pipeline.quant.execution.options.book import Book, Legs, step
from dvol_pipeline.quant.execution.options.config import OptionBacktestConfig
from dvol_pipeline.quant.execution.options.market import AssetChain, index_chain
from dvol_pipeline.quant.execution.options.run import STRATEGY as OPTION_STRATEGY

OPTION_FILL_SCHEMA = {
    "date": pl.Date, "asset": pl.Utf8, "instrument_name": pl.Utf8, "reason": pl.Utf8, "qty": pl.Float64,
    "price_coin": pl.Float64, "price_usd": pl.Float64, "fee_usd": pl.Float64, "cash_usd": pl.Float64,
}
LEG_SCHEMA = {
    "date": pl.Date, "asset": pl.Utf8, "instrument_name": pl.Utf8, "expiry_us": pl.Int64, "strike": pl.Float64,
    "is_call": pl.Boolean, "qty": pl.Float64, "fwd": pl.Float64, "iv": pl.Float64, "mark_usd": pl.Float64,
}
"""One row per held option and one for the perpetual hedge (even at zero: every processed
(day, coin) has a row, so re-running a day replaces its positions whole); the hedge row
has no expiry, strike, type, forward or IV, and its mark is the perpetual's price."""
SLEEVE_SCHEMA = {
    "date": pl.Date, "asset": pl.Utf8, "structure": pl.Int8, "n_legs": pl.Int32, "hedge_coin": pl.Float64,
    "perp_price": pl.Float64, "ts_us": pl.Int64, "cash_usd": pl.Float64, "equity_usd": pl.Float64,
    "peak_equity_usd": pl.Float64, "pnl_usd": pl.Float64, "cost_usd": pl.Float64, "drawdown_usd": pl.Float64,
    "target_next": pl.Int8, "signal": pl.Int8, "halted": pl.Boolean, "flat_reason": pl.Utf8,
    "last_data": pl.Date,
}


@dataclass
class OptionSleeve:
    """One coin's option sleeve after a day's close (instrument names, not chain ids, so it
    survives from one end-of-day run to the next)."""

    structure: int = 0  # +1 straddle, -1 condor, 0 flat
    legs: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=LEG_SCHEMA))
    hedge_coin: float = 0.0
    perp_price: float | None = None
    ts_us: int | None = None
    cash_usd: float = 0.0
    peak_equity_usd: float = 0.0
    target_next: int = 0
    halted: bool = False
    flat_reason: str | None = None
    last_data: date | None = None

    @staticmethod
    def from_rows(row: dict, positions: pl.DataFrame) -> OptionSleeve:
        """The sleeve as its paper_option_book row and paper_option_positions rows left it."""
        legs = positions.filter(~_is_perp()).select(LEG_SCHEMA.keys())
        return OptionSleeve(row["structure"], legs, row["hedge_coin"], row["perp_price"],
                            row["ts_us"], row["cash_usd"], row["peak_equity_usd"], row["target_next"],
                            row["halted"], row["flat_reason"], row["last_data"])

    def equity(self) -> float:
        held = float((self.legs["qty"] * self.legs["mark_usd"]).sum()) if self.legs.height else 0.0
        return self.cash_usd + held + self.hedge_coin * (self.perp_price or 0.0)


def opening_sleeves(coins: list[str], book: pl.DataFrame | None, held: pl.DataFrame | None
                    ) -> dict[str, OptionSleeve]:
    """Each coin's sleeve as the day before left it (its paper_option_book row and
    paper_option_positions rows); flat with no cash where it has no row."""
    sleeves = {c: OptionSleeve() for c in coins}
    for row in ([] if book is None else book.iter_rows(named=True)):
        legs = pl.DataFrame(schema=LEG_SCHEMA) if held is None else held.filter(pl.col("asset") == row["asset"])
        sleeves[row["asset"]] = OptionSleeve.from_rows(row, legs)
    return sleeves


def _is_perp() -> pl.Expr:
    return pl.col("instrument_name").str.ends_with("-PERPETUAL")


def positions_frame(sleeve: OptionSleeve, day: date, asset: str) -> pl.DataFrame:
    """The sleeve's option legs plus its perpetual hedge row, dated `day`."""
    hedge = pl.DataFrame({"date": [day], "asset": [asset], "instrument_name": [f"{asset}-PERPETUAL"],
                          "qty": [sleeve.hedge_coin], "mark_usd": [sleeve.perp_price]},
                         schema={k: LEG_SCHEMA[k] for k in ("date", "asset", "instrument_name", "qty", "mark_usd")})
    return pl.concat([sleeve.legs.with_columns(pl.lit(day).alias("date")), hedge], how="diagonal_relaxed").select(
        LEG_SCHEMA.keys())


@dataclass
class SleeveDay:
    fills: list[dict]
    positions: list[pl.DataFrame]
    sleeves: list[dict]
    events: list[str]


def _to_book(sleeve: OptionSleeve, chain: AssetChain) -> tuple[Book, AssetChain]:
    """The sleeve as the backtest's Book on `chain`; held instruments the chain never lists
    get ids past its own (they are then marked from the smile, as the backtest does)."""
    names = sleeve.legs["instrument_name"].to_list()
    known = {n: i for i, n in enumerate(chain.names.tolist())}
    extra = [n for n in names if n not in known]
    if extra:
        known |= {n: len(known) + k for k, n in enumerate(extra)}
        chain = replace(chain, names=np.concatenate([chain.names, np.array(extra, dtype=chain.names.dtype)]))
    legs = sleeve.legs
    book_legs = Legs(np.array([known[n] for n in names], np.int64), legs["expiry_us"].to_numpy(),
                     legs["strike"].to_numpy(), legs["is_call"].to_numpy(), legs["qty"].to_numpy(),
                     legs["fwd"].to_numpy(), legs["iv"].to_numpy(), legs["mark_usd"].to_numpy())
    return Book(sleeve.structure, book_legs, sleeve.hedge_coin, sleeve.ts_us, sleeve.perp_price), chain


def _legs_frame(book: Book, chain: AssetChain, day: date, asset: str) -> pl.DataFrame:
    lg = book.legs
    return pl.DataFrame({
        "date": [day] * lg.size, "asset": [asset] * lg.size, "instrument_name": chain.names[lg.inst].tolist(),
        "expiry_us": lg.expiry_us, "strike": lg.strike, "is_call": lg.is_call, "qty": lg.qty, "fwd": lg.fwd,
        "iv": lg.iv, "mark_usd": lg.mark_usd,
    }, schema=LEG_SCHEMA)


def step_sleeve(sleeve: OptionSleeve, asset: str, day: date, chain: AssetChain | None, day_index: int | None,
                perp: float | None, signal: int, capital_usd: float, kill_drawdown_frac: float,
                max_data_gap_days: int, cfg: OptionBacktestConfig) -> SleeveDay:
    """Advance one coin's sleeve over `day` (module doc); mutates and reports it."""
    out = SleeveDay([], [], [], [])
    equity_before = sleeve.equity()
    cost = 0.0
    if chain is None or day_index is None or perp is None:
        gap = (day - sleeve.last_data).days if sleeve.last_data else 0
        if gap > max_data_gap_days and (sleeve.target_next or sleeve.structure):
            sleeve.target_next, sleeve.flat_reason = 0, "data_gap"
            out.events.append(f"{asset} {day}: no option chain for {gap} days (> {max_data_gap_days}): "
                              "option sleeve ordered flat")
    else:
        sleeve.last_data = day
        book, chain = _to_book(sleeve, chain)
        target = 0 if sleeve.halted else sleeve.target_next
        book, tally, trades = step(book, chain, chain.day(day_index), perp, target, cfg)
        for _d, _a, name, side, qty, price_coin, price_usd, fee_usd, reason in trades:
            signed = qty if side == "buy" else -qty
            sleeve.cash_usd -= signed * price_usd + fee_usd
            if sleeve.flat_reason and target == 0 and reason == "close":
                reason = "kill"
            out.fills.append({"date": day, "asset": asset, "instrument_name": name, "reason": reason, "qty": signed,
                              "price_coin": None if np.isnan(price_coin) else price_coin, "price_usd": price_usd,
                              "fee_usd": fee_usd, "cash_usd": sleeve.cash_usd})
        cost = cfg.cost_mult * (tally.unit_spread + tally.unit_option_fees + tally.unit_hedge_fees)
        sleeve.structure, sleeve.hedge_coin, sleeve.perp_price, sleeve.ts_us = book.kind, book.hedge + 0.0, perp, book.ts_us
        sleeve.legs = _legs_frame(book, chain, day, asset)
        if sleeve.flat_reason == "data_gap":
            sleeve.flat_reason = None
    equity = sleeve.equity()
    sleeve.peak_equity_usd = max(sleeve.peak_equity_usd, equity)
    drawdown = sleeve.peak_equity_usd - equity
    if chain is not None and day_index is not None:
        if not sleeve.halted and drawdown > kill_drawdown_frac * capital_usd:
            sleeve.halted, sleeve.flat_reason = True, "drawdown"
            out.events.append(f"{asset} {day}: option sleeve drawdown USD {drawdown:,.0f} > "
                              f"{kill_drawdown_frac * 100:g}% of capital USD {capital_usd:,.0f}: flat and stopped")
        sleeve.target_next = 0 if sleeve.halted else int(signal)
    out.positions.append(positions_frame(sleeve, day, asset))
    out.sleeves.append({
        "date": day, "asset": asset, "structure": sleeve.structure, "n_legs": sleeve.legs.height,
        "hedge_coin": sleeve.hedge_coin, "perp_price": sleeve.perp_price, "ts_us": sleeve.ts_us,
        "cash_usd": sleeve.cash_usd, "equity_usd": equity, "peak_equity_usd": sleeve.peak_equity_usd,
        "pnl_usd": equity - equity_before, "cost_usd": cost, "drawdown_usd": drawdown,
        "target_next": sleeve.target_next, "signal": int(signal), "halted": sleeve.halted,
        "flat_reason": sleeve.flat_reason, "last_data": sleeve.last_data,
    })
    return out


def run_sleeves(sleeves: dict[str, OptionSleeve], start: date, end: date, chain: pl.LazyFrame | pl.DataFrame,
                perp: pl.DataFrame, signals: pl.DataFrame, capital_usd: float, kill_drawdown_frac: float,
                max_data_gap_days: int, cfg: OptionBacktestConfig
                ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, list[str]]:
    """(fills, held legs, sleeve rows, events): `step_sleeve` over each day of [start, end] for
    every coin of `sleeves`, on the chain's last snapshot of each day (`chain`: raw_option_chain
    rows of the range), the perpetual's close (`perp`: date, asset, perp_price) and the day's
    signal (date, asset, direction)."""
    fills, held, book, events = [], [], [], []
    for coin in sleeves:
        index = index_chain(chain.filter(pl.col("asset") == coin)).get(coin)
        day_of = {} if index is None else {d: i for i, d in enumerate(index.dates)}
        prices = dict(perp.filter(pl.col("asset") == coin).select("date", "perp_price").iter_rows())
        direction = dict(signals.filter(pl.col("asset") == coin).select("date", "direction").iter_rows())
        for k in range((end - start).days + 1):
            day = start + timedelta(days=k)
            r = step_sleeve(sleeves[coin], coin, day, index, day_of.get(day), prices.get(day),
                            int(direction.get(day) or 0), capital_usd, kill_drawdown_frac, max_data_gap_days, cfg)
            fills += r.fills
            held += r.positions
            book += r.sleeves
            events += r.events
        del index  # one coin's chain in memory at a time
    fills = pl.DataFrame(fills, schema=OPTION_FILL_SCHEMA).with_columns(
        seq=pl.int_range(pl.len(), dtype=pl.Int32).over("asset", "date"))
    held = pl.concat(held) if held else pl.DataFrame(schema=LEG_SCHEMA)
    return fills, held, pl.DataFrame(book, schema=SLEEVE_SCHEMA), events


def with_backtest(book: pl.DataFrame, backtest: pl.DataFrame | None) -> pl.DataFrame:
    """backtest_net_usd: the backtest option book's net P&L over the same (D-1, D] (its row dated
    D-1); null where the backtest does not cover the day."""
    if backtest is None or backtest.is_empty() or "strategy" not in backtest.columns:
        return book.with_columns(pl.lit(None, pl.Float64).alias("backtest_net_usd"))
    bt = backtest.filter(pl.col("strategy") == OPTION_STRATEGY).select(
        (pl.col("date") + pl.duration(days=1)).alias("date"), "asset", backtest_net_usd="net_usd")
    return book.join(bt.unique(["date", "asset"], keep="last"), on=["date", "asset"], how="left")


def reconcile_sleeve(fills: pl.DataFrame, positions: pl.DataFrame, sleeves: pl.DataFrame,
                     opening_book: pl.DataFrame | None = None, opening_legs: pl.DataFrame | None = None
                     ) -> pl.DataFrame:
    """Per (date, asset): cash, option positions and hedge implied by the fills against the
    sleeve's own; `ok` when all agree (cash to a cent, quantities to 1e-9). The fills are
    counted from the opening sleeve (`opening_book`, `opening_legs`: paper_option_book and
    paper_option_positions rows of the day before the first fill; none: flat, no cash)."""
    perp = _is_perp()
    cum = fills.sort("date").with_columns(
        flow=-(pl.col("qty") * pl.col("price_usd")) - pl.col("fee_usd"))
    cash = cum.group_by("asset", "date").agg(pl.col("flow").sum(), hedge=pl.col("qty").filter(perp).sum())
    start = pl.DataFrame(schema={"asset": pl.Utf8, "open_cash": pl.Float64, "open_hedge": pl.Float64})
    if opening_book is not None:
        start = opening_book.select("asset", open_cash="cash_usd", open_hedge="hedge_coin")
    base = sleeves.select("date", "asset", "cash_usd", "hedge_coin", "n_legs").join(
        cash, on=["asset", "date"], how="left").join(start, on="asset", how="left").sort("asset", "date").with_columns(
        implied_cash=pl.col("open_cash").fill_null(0.0) + pl.col("flow").fill_null(0.0).cum_sum().over("asset"),
        implied_hedge=pl.col("open_hedge").fill_null(0.0) + pl.col("hedge").fill_null(0.0).cum_sum().over("asset"))
    # open quantity per instrument implied by the fills, compared with each day's held legs
    opt = cum.filter(~perp).group_by("asset", "instrument_name", "date").agg(pl.col("qty").sum())
    if opening_legs is not None:  # the opening legs count as bought on the day before
        opt = pl.concat([opening_legs.filter(~perp).select(opt.columns), opt])
    days = sleeves.select("date", "asset")
    implied = days.join(opt.rename({"date": "fill_date"}), on="asset").filter(
        pl.col("fill_date") <= pl.col("date")).group_by("date", "asset", "instrument_name").agg(
        implied_qty=pl.col("qty").sum()).filter(pl.col("implied_qty").abs() > 1e-9)
    held = positions.filter(~perp).select("date", "asset", "instrument_name", "qty")
    both = implied.join(held, on=["date", "asset", "instrument_name"], how="full", coalesce=True).with_columns(
        off=(pl.col("implied_qty").fill_null(0.0) - pl.col("qty").fill_null(0.0)).abs() > 1e-9)
    legs_ok = both.group_by("date", "asset").agg(legs_mismatch=pl.col("off").sum())
    return base.join(legs_ok, on=["date", "asset"], how="left").with_columns(
        pl.col("legs_mismatch").fill_null(0)).with_columns(
        ok=((pl.col("implied_cash") - pl.col("cash_usd")).abs() < 0.01)
        & ((pl.col("implied_hedge") - pl.col("hedge_coin")).abs() < 1e-9)
        & (pl.col("legs_mismatch") == 0)).select(
        "date", "asset", "cash_usd", "implied_cash", "hedge_coin", "implied_hedge", "n_legs", "legs_mismatch", "ok")
