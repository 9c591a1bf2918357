"""What the three strategies share: the run's frames, the default cost, the series loop and funding.

A strategy turns one (venue, symbol) series of `micro_features` (joined with the bar's prices,
`strategy_frame`) into per-bar arrays: the entry side decided at each close, the exit conditions,
the time stop and stop-loss fixed at the signal bar. `run_series` hands them to the loop in
`engine.py` and builds the two outputs:

* `micro_trades` (TRADE_COLUMNS): one row per order; a passive order that never filled is a row with
  exit_reason "missed", qty 0 and zero P&L (its opportunity cost is the cost model's business).
  gross_bps = side (exit_px / entry_px - 1) 1e4; funding_bps = the funding the position paid (< 0)
  or received (> 0) in bps of the entry notional; net_bps = gross + funding - cost.
* the per-bar P&L (BAR_PNL_COLUMNS), in bps of the position's notional (the run's capital is one
  notional: `config.notional_usd`): gross, funding (on the bar whose interval holds the funding
  instant), cost (a trade's whole round-trip cost on its exit bar) and the position held over the bar.

Costs come from `cost_fn(trades) -> pl.Series` (bps of notional per trade, the round trip), so the
dynamic model (quant/execution/costs_dynamic.py) plugs in; `simple_cost_fn` is the default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from .engine import REASONS, simulate

TS = pl.Datetime("ns", "UTC")
NS_MIN = 60_000_000_000
TRADE_COLUMNS = ("strategy", "execution", "venue", "symbol", "entry_ts", "exit_ts", "side", "qty", "entry_px",
                 "exit_px", "gross_bps", "funding_bps", "cost_bps", "net_bps", "holding_minutes", "exit_reason",
                 "signal_ts", "entry_spread_bps", "exit_spread_bps", "legs", "regime")
BAR_PNL_COLUMNS = ("strategy", "execution", "venue", "symbol", "ts", "position", "gross_bps", "funding_bps",
                   "cost_bps", "net_bps", "regime")
CostFn = Callable[[pl.DataFrame], pl.Series]


@dataclass(frozen=True)
class ExecutionConfig:
    """What every strategy shares: how it trades (passive at the touch or aggressive, how long a passive
    order rests, its size, the price it marks at), not what it trades on."""

    passive: bool = False
    fill_bars: int = 5
    notional_usd: float = 100_000.0
    price_col: str = "mid_close"
    perp_suffix: str = "_usdm"


@dataclass(frozen=True)
class StrategyRun:
    """One strategy's trades (`micro_trades`) and per-bar P&L, every series of the input."""

    trades: pl.DataFrame
    bar_pnl: pl.DataFrame


def simple_cost_fn(taker_fee_bps: float = 5.0, maker_rebate_bps: float = 0.0) -> CostFn:
    """Round-trip cost in bps per trade: each aggressive leg pays half the spread at its bar plus the
    taker fee; a passive entry leg pays -maker_rebate (its fill price is already the touch, so no half
    spread); exits are aggressive. Times `legs` (2 for a hedged basis trade). Missed orders cost 0.
    Why this simple: a placeholder with the right shape until the dynamic model replaces it."""

    def cost(trades: pl.DataFrame) -> pl.Series:
        aggressive = pl.col("entry_spread_bps").fill_null(0.0) / 2 + taker_fee_bps
        entry = pl.when(pl.col("execution") == "passive").then(pl.lit(-maker_rebate_bps)).otherwise(aggressive)
        exit_leg = pl.col("exit_spread_bps").fill_null(0.0) / 2 + taker_fee_bps
        out = pl.when(pl.col("exit_reason") == "missed").then(0.0).otherwise((entry + exit_leg) * pl.col("legs"))
        return trades.select(out.cast(pl.Float64).alias("cost_bps")).to_series()

    return cost


default_cost_fn = simple_cost_fn()


def strategy_frame(features: pl.DataFrame, bars: pl.DataFrame) -> pl.DataFrame:
    """micro_features joined with the bar's mid_close, mid_low, mid_high and spread_bps (what a fill
    needs and the features do not hold), on ts, venue, symbol, bar."""
    keep = ["ts", "venue", "symbol", "bar", "mid_close", "mid_low", "mid_high", "spread_bps"]
    return features.join(bars.select([c for c in keep if c in bars.columns]), on=["ts", "venue", "symbol", "bar"],
                         how="left")


def f64(part: pl.DataFrame, name: str, default: float = np.nan) -> np.ndarray:
    """A column as float64 with NaN for null; `default` everywhere when the column is absent."""
    if name not in part.columns:
        return np.full(part.height, default)
    return part[name].cast(pl.Float64).fill_null(np.nan).to_numpy()


def bar_minutes(ts_ns: np.ndarray) -> float:
    """The series' bar length in minutes (median spacing of the closes; 1 with fewer than two bars)."""
    return float(np.median(np.diff(ts_ns))) / NS_MIN if ts_ns.size > 1 else 1.0


def minutes_to_bars(minutes, bar_min: float) -> np.ndarray:
    return np.maximum(np.ceil(np.asarray(minutes, float) / bar_min - 1e-9), 1).astype(np.int64)


def series(features: pl.DataFrame):
    """(venue, symbol, rows sorted by ts) per series."""
    for part in features.partition_by(["venue", "symbol"], maintain_order=True):
        yield part["venue"][0], part["symbol"][0], part.sort("ts")


def funding_events(part: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(instants ns, rate bps) of the series' fundings inside its span, from the features: the
    instant is ts + time_to_funding_min (to the second), the rate the funding_bps as of the last
    close strictly before it (the ticker's rate for the interval that settles then)."""
    if "time_to_funding_min" not in part.columns or "funding_bps" not in part.columns:
        return np.zeros(0, np.int64), np.zeros(0)
    ts = part["ts"].dt.epoch("ns").to_numpy()
    ttf = f64(part, "time_to_funding_min")
    ok = np.isfinite(ttf)
    inst = np.unique(np.round((ts[ok] + ttf[ok] * NS_MIN) / 1e9).astype(np.int64) * 1_000_000_000)
    inst = inst[(inst >= ts[0]) & (inst < ts[-1])] if ts.size else inst[:0]
    rate = f64(part, "funding_bps")
    before = np.searchsorted(ts, inst, side="left") - 1
    keep = before >= 0
    return inst[keep], rate[before[keep]]


@dataclass(frozen=True)
class Signals:
    """A strategy's per-bar decisions for one series (all arrays of the series' length)."""

    price: np.ndarray
    sig: np.ndarray
    exit_long: np.ndarray
    exit_short: np.ndarray
    hold_bars: np.ndarray
    stop_bps: np.ndarray
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    legs: int = 1


def prices(part: pl.DataFrame, price_col: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(close, low, high) of the traded price: `price_col` (default mid_close), low/high from
    mid_low/mid_high when the price is the mid, else the close itself."""
    p = f64(part, price_col)
    if np.isnan(p).all() and "price" in part.columns:
        p = f64(part, "price")
    lo = f64(part, "mid_low") if price_col == "mid_close" and "mid_low" in part.columns else p.copy()
    hi = f64(part, "mid_high") if price_col == "mid_close" and "mid_high" in part.columns else p.copy()
    return p, np.where(np.isfinite(lo), lo, p), np.where(np.isfinite(hi), hi, p)


def spreads(part: pl.DataFrame) -> np.ndarray:
    """The bar's spread in bps: spread_bps, else the features' spread_mean, else 0."""
    sp = f64(part, "spread_bps")
    return np.where(np.isfinite(sp), sp, np.nan_to_num(f64(part, "spread_mean"), nan=0.0))


def run_series(name: str, venue: str, symbol: str, part: pl.DataFrame, sg: Signals, *, passive: bool,
               fill_bars: int, notional_usd: float, funding: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The loop on one series' signals -> (trades without costs, bar P&L without costs)."""
    n = part.height
    ts = part["ts"].dt.epoch("ns").to_numpy()
    price = sg.price
    valid = np.isfinite(price)
    sig = np.where(valid, sg.sig, 0).astype(np.int64)
    price = np.where(valid, price, np.nan)
    price = pl.Series(price).fill_nan(None).forward_fill().backward_fill().fill_null(1.0).to_numpy()
    low = price if sg.low is None else np.where(np.isfinite(sg.low), sg.low, price)
    high = price if sg.high is None else np.where(np.isfinite(sg.high), sg.high, price)
    spread = spreads(part)
    ti, epx, xpx, pos, gross, tid = simulate(price, low, high, sig, sg.exit_long.astype(np.bool_),
                                             sg.exit_short.astype(np.bool_), sg.hold_bars.astype(np.int64),
                                             sg.stop_bps.astype(np.float64), spread / 2.0, passive, int(fill_bars))
    k = ti.shape[0]
    fund_bar = np.zeros(n)
    fund_trade = np.zeros(k)
    if funding and k:
        inst, rate = funding_events(part)
        bar = np.searchsorted(ts, inst, side="right")
        inside = bar < n
        bar, rate, inst = bar[inside], rate[inside], inst[inside]
        held = tid[bar] if bar.size else bar
        on = (held >= 0) & np.isfinite(rate)
        for b, r, t_id in zip(bar[on], rate[on], held[on]):
            side = ti[t_id, 3]
            pay = -side * r * price[b - 1] / epx[t_id]
            fund_bar[b] += pay
            fund_trade[t_id] += pay
    filled = ti[:, 5] == 1
    side = ti[:, 3].astype(np.float64)
    with np.errstate(invalid="ignore"):
        g = np.where(filled, side * (xpx / epx - 1.0) * 1e4, 0.0)
    regime = part["regime"].cast(pl.Utf8) if "regime" in part.columns else pl.Series([None] * n, dtype=pl.Utf8)
    trades = pl.DataFrame({
        "strategy": [name] * k, "execution": ["passive" if passive else "aggressive"] * k,
        "venue": [venue] * k, "symbol": [symbol] * k,
        "entry_ts": pl.Series(ts[ti[:, 1]], dtype=pl.Int64).cast(TS),
        "exit_ts": pl.Series(ts[ti[:, 2]], dtype=pl.Int64).cast(TS),
        "side": ti[:, 3].astype(np.int8),
        "qty": np.where(filled, notional_usd / np.where(filled, epx, 1.0), 0.0),
        "entry_px": pl.Series(epx, dtype=pl.Float64, nan_to_null=True),
        "exit_px": pl.Series(xpx, dtype=pl.Float64, nan_to_null=True),
        "gross_bps": g, "funding_bps": fund_trade,
        "holding_minutes": (ts[ti[:, 2]] - ts[ti[:, 1]]) / NS_MIN,
        "exit_reason": [REASONS[r] for r in ti[:, 4]],
        "signal_ts": pl.Series(ts[ti[:, 0]], dtype=pl.Int64).cast(TS),
        "entry_spread_bps": spread[ti[:, 1]] if k else np.zeros(0),
        "exit_spread_bps": spread[ti[:, 2]] if k else np.zeros(0),
        "legs": np.full(k, sg.legs, np.int64),
        "regime": regime.gather(ti[:, 1]) if k else pl.Series([], dtype=pl.Utf8),
        "__exit_i": ti[:, 2], "__filled": filled,
    })
    bars = pl.DataFrame({"strategy": [name] * n, "execution": ["passive" if passive else "aggressive"] * n,
                         "venue": [venue] * n, "symbol": [symbol] * n, "ts": part["ts"].cast(TS),
                         "position": pos, "gross_bps": gross, "funding_bps": fund_bar, "regime": regime})
    return trades, bars


def finish(name: str, parts: list[tuple[pl.DataFrame, pl.DataFrame]], cost_fn: CostFn | None) -> StrategyRun:
    """Costs from `cost_fn`, each trade's on its exit bar; net = gross + funding - cost."""
    cost_fn = cost_fn or default_cost_fn
    trades_out, bars_out = [], []
    for trades, bars in parts:
        cost = cost_fn(trades.drop("__exit_i", "__filled")).cast(pl.Float64).fill_null(0.0).to_numpy() \
            if trades.height else np.zeros(0)
        bar_cost = np.zeros(bars.height)
        np.add.at(bar_cost, trades["__exit_i"].to_numpy(), cost)
        trades_out.append(trades.drop("__exit_i", "__filled").with_columns(cost_bps=pl.Series(cost, dtype=pl.Float64))
                          .with_columns(net_bps=pl.col("gross_bps") + pl.col("funding_bps") - pl.col("cost_bps")))
        bars_out.append(bars.with_columns(cost_bps=pl.Series(bar_cost, dtype=pl.Float64)).with_columns(
            net_bps=pl.col("gross_bps") + pl.col("funding_bps") - pl.col("cost_bps")))
    if not trades_out:
        return StrategyRun(empty_trades(), empty_bar_pnl())
    trades = pl.concat(trades_out, how="vertical_relaxed").select(TRADE_COLUMNS)
    return StrategyRun(trades, pl.concat(bars_out, how="vertical_relaxed").select(BAR_PNL_COLUMNS))


def empty_trades() -> pl.DataFrame:
    ts = {"entry_ts", "exit_ts", "signal_ts"}
    text = {"strategy", "execution", "venue", "symbol", "exit_reason", "regime"}
    return pl.DataFrame(schema={c: TS if c in ts else pl.Utf8 if c in text else pl.Int8 if c == "side" else
                                pl.Int64 if c == "legs" else pl.Float64 for c in TRADE_COLUMNS})


def empty_bar_pnl() -> pl.DataFrame:
    text = {"strategy", "execution", "venue", "symbol", "regime"}
    return pl.DataFrame(schema={c: TS if c == "ts" else pl.Utf8 if c in text else pl.Float64 for c in BAR_PNL_COLUMNS})
