"""`run_option_backtest`: the signal-driven straddle / iron-condor book, per asset.

Why a loop over days: a position is path-dependent (what is held decides what is closed,
rolled and hedged), so days run in order; each day's work is vectorised over its legs and
the chain slice (market.py indexes the chain once). Timing: a signal dated D is decided at
D's close and traded at D's snapshot (pass a shifted signal to trade a day later). The run
covers each asset's chain days from its first to its last signal day; days without a
signal are flat. Rows follow the daily frame shared with the futures backtest
(quant/evaluate/daily_frame.py): the row of day t holds the trades and costs at the close of t,
the book after them (position, n_legs, net_delta_coin) and the P&L that book earns until
the next close (gross, greeks, hedge), so net_usd = gross_usd − cost_usd row by row.
Not modelled: perpetual funding on the (small) hedge, option margin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from dvol_pipeline.quant.stats import drawdown, sharpe

from .book import Book, DayTally, step
from .config import OptionBacktestConfig
from .market import AssetChain, index_chain

STRATEGY = "option_straddle_condor"
ALL_ASSETS = "ALL"

TRADE_SCHEMA = {
    "date": pl.Date, "asset": pl.Utf8, "instrument_name": pl.Utf8, "side": pl.Utf8, "qty": pl.Float64,
    "price_coin": pl.Float64, "price_usd": pl.Float64, "fee_usd": pl.Float64, "reason": pl.Utf8,
}


@dataclass(frozen=True)
class OptionBacktestResult:
    daily: pl.DataFrame
    trades: pl.DataFrame
    cost_sensitivity: pl.DataFrame


def _aligned(dates: list, frame: pl.DataFrame, asset: str, column: str) -> np.ndarray:
    """`column` of `frame` for `asset` on `dates` (null where the frame has no row)."""
    days = pl.DataFrame({"date": dates}, schema={"date": pl.Date})
    rows = frame.filter(pl.col("asset") == asset).select("date", column).unique("date", keep="last")
    return days.join(rows, on="date", how="left")[column].cast(pl.Float64).to_numpy()


def _check(frame: pl.DataFrame, name: str, need: list[str]) -> None:
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; need {need}")


def perp_on_days(chain: AssetChain, perp: pl.DataFrame) -> np.ndarray:
    """The perpetual's close on each chain day, carried forward over gaps (the front forward before any)."""
    front_fwd = chain.cols["fwd"][chain.starts[:-1]]
    price = pl.Series(_aligned(chain.dates, perp, chain.asset, "perp_price")).fill_nan(None).forward_fill()
    return np.where(price.is_null().to_numpy(), front_fwd, price.fill_null(0.0).to_numpy())


def _run_asset(chain: AssetChain, perp: pl.DataFrame, signals: pl.DataFrame, cfg: OptionBacktestConfig):
    sig = _aligned(chain.dates, signals, chain.asset, "signal")
    known = np.flatnonzero(np.isfinite(sig))
    if known.size == 0:
        return [], []
    first, last = int(known[0]), int(known[-1])
    price = perp_on_days(chain, perp)
    sig = np.nan_to_num(sig, nan=0.0).astype(int)
    book, states, tallies, trades = Book(), [], [], []
    for i in range(first, last + 1):
        book, tally, day_trades = step(book, chain, chain.day(i), float(price[i]), int(sig[i]), cfg,
                                       flatten=cfg.close_at_end and i == last)
        states.append(book)
        tallies.append(tally)
        trades.extend(day_trades)
    # row t: the close-of-t trades and costs, and what the resulting book earns over (t, t+1]
    earned = tallies[1:] + [DayTally()]
    rows = [_row(chain, first + k, b, t, e, cfg) for k, (b, t, e) in enumerate(zip(states, tallies, earned))]
    return rows, trades


def _row(chain: AssetChain, i: int, book: Book, t: DayTally, earned: DayTally, cfg: OptionBacktestConfig) -> dict:
    """Row of day i: book and costs at the close of i (`t`), P&L to the next close (`earned`)."""
    m = cfg.cost_mult
    unit_cost = t.unit_spread + t.unit_option_fees + t.unit_hedge_fees
    g, gross = earned.greeks, earned.gross
    return {
        "date": chain.dates[i], "asset": chain.asset, "position": float(book.kind), "turnover": t.turnover,
        "gross_usd": gross, "cost_usd": m * unit_cost, "net_usd": gross - m * unit_cost,
        "delta_usd": g.delta, "gamma_usd": g.gamma, "vega_usd": g.vega, "theta_usd": g.theta,
        "residual_usd": gross - g.explained, "hedge_usd": earned.hedge_pnl,
        "option_fees_usd": m * t.unit_option_fees, "hedge_fees_usd": m * t.unit_hedge_fees,
        "spread_cost_usd": m * t.unit_spread, "n_legs": book.legs.size, "net_delta_coin": t.net_delta_coin,
        "fallback_quotes": t.fallback_quotes, "unit_cost_usd": unit_cost,
    }


def _with_equity(frame: pl.DataFrame, net: str = "net_usd") -> pl.DataFrame:
    """equity_usd (running net) and drawdown_usd (`quant.stats.drawdown`) per asset, by date."""
    frame = frame.sort("asset", "date")
    if frame.is_empty():
        return frame.with_columns(pl.lit(None, pl.Float64).alias(c) for c in ("equity_usd", "drawdown_usd"))
    parts = []
    for part in frame.partition_by("asset", maintain_order=True):
        values = part[net].to_numpy().astype(float)
        parts.append(part.with_columns(equity_usd=pl.Series(np.cumsum(values)),
                                       drawdown_usd=pl.Series(drawdown(values))))
    return pl.concat(parts)


def _sharpe(net: np.ndarray, capital: float) -> float | None:
    """`quant.stats.sharpe` of net / capital (365 days a year); None where it is undefined."""
    value = sharpe(net / capital)
    return value if np.isfinite(value) else None


SENSITIVITY_SCHEMA = {
    "strategy": pl.Utf8, "family": pl.Utf8, "horizon": pl.Int32, "asset": pl.Utf8, "cost_mult": pl.Float64,
    "net_usd": pl.Float64, "cost_usd": pl.Float64, "sharpe": pl.Float64, "max_drawdown_usd": pl.Float64,
    "n_days": pl.Int64,
}


def cost_sensitivity(daily: pl.DataFrame, cfg: OptionBacktestConfig) -> pl.DataFrame:
    """net_usd, cost_usd, Sharpe and max drawdown (>= 0) at each cost multiplier, per asset and ALL.

    Exact from one run because costs are linear in the multiplier (costs.py). ALL sums the
    assets' daily P&L and measures Sharpe on capital_usd x the number of assets. Columns
    match the DVOL-futures backtest's table, so the two can be stacked.
    """
    base = daily.select("date", "asset", "gross_usd", "unit_cost_usd")
    n_assets = max(base["asset"].n_unique(), 1)
    total = base.group_by("date").agg(pl.col("gross_usd", "unit_cost_usd").sum()).with_columns(
        pl.lit(ALL_ASSETS).alias("asset")
    )
    rows = []
    for frame, capital in [(base, cfg.capital_usd), (total.select(base.columns), cfg.capital_usd * n_assets)]:
        for m in cfg.cost_mults:
            net = (pl.col("gross_usd") - m * pl.col("unit_cost_usd")).alias("net_usd")
            run = _with_equity(frame.with_columns(net))
            for (asset,), part in sorted(run.sort("date").partition_by("asset", as_dict=True).items()):
                values = part["net_usd"].to_numpy()
                rows.append({
                    "strategy": STRATEGY, "family": cfg.family, "horizon": cfg.horizon, "asset": asset,
                    "cost_mult": float(m), "net_usd": float(values.sum()),
                    "cost_usd": float(m * part["unit_cost_usd"].sum()), "sharpe": _sharpe(values, capital),
                    "max_drawdown_usd": float(part["drawdown_usd"].max()), "n_days": part.height,
                })
    return pl.DataFrame(rows, schema=SENSITIVITY_SCHEMA).sort("asset", "cost_mult")


def run_option_backtest(
    chain: pl.DataFrame | pl.LazyFrame, perp: pl.DataFrame, signals: pl.DataFrame,
    config: OptionBacktestConfig = OptionBacktestConfig(),
) -> OptionBacktestResult:
    """Backtest the delta-hedged option book driven by `signals` (see the package doc).

    chain: raw_option_chain rows; perp: date, asset, perp_price (`perp_closes`);
    signals: date, asset, signal in {-1, 0, +1} (IV down / none / up at that close).
    """
    _check(perp, "perp", ["date", "asset", "perp_price"])
    _check(signals, "signals", ["date", "asset", "signal"])
    value = pl.col("signal").cast(pl.Float64)
    bad = signals.filter(~value.is_in([-1.0, 0.0, 1.0]) | value.is_null())
    if bad.height:
        raise ValueError(f"signals must be -1, 0 or +1; {bad.height} row(s) are not, e.g. {bad.head(3).to_dicts()}")
    rows, trades = [], []
    lf = chain.lazy()
    # one coin's chain in memory at a time: a lazy scan reads only that coin's rows (reading the
    # demo's two coins at once drove the peak memory; docs/benchmarks.md)
    for coin in sorted(lf.select(pl.col("asset").unique()).collect()["asset"].to_list()):
        for asset, asset_chain in index_chain(lf.filter(pl.col("asset") == coin)).items():
            r, t = _run_asset(asset_chain, perp, signals, config)
            rows.extend(r)
            trades.extend(t)
    daily = _daily_frame(rows, config)
    return OptionBacktestResult(
        daily=daily.drop("unit_cost_usd"),
        trades=pl.DataFrame(trades, schema=TRADE_SCHEMA, orient="row").with_columns(
            pl.col("price_coin").fill_nan(None)  # null for perpetual hedges: they have no coin premium
        ),
        cost_sensitivity=cost_sensitivity(daily, config),
    )


_DAILY_ORDER = [
    "date", "asset", "strategy", "family", "horizon", "sample", "position", "turnover", "gross_usd", "cost_usd",
    "net_usd", "equity_usd", "drawdown_usd", "delta_usd", "gamma_usd", "vega_usd", "theta_usd", "residual_usd",
    "hedge_usd", "option_fees_usd", "hedge_fees_usd", "spread_cost_usd", "n_legs", "net_delta_coin",
    "fallback_quotes", "unit_cost_usd",
]


def _daily_frame(rows: list[dict], cfg: OptionBacktestConfig) -> pl.DataFrame:
    schema = {
        "date": pl.Date, "asset": pl.Utf8, "position": pl.Float64, "turnover": pl.Float64, "gross_usd": pl.Float64,
        "cost_usd": pl.Float64, "net_usd": pl.Float64, "delta_usd": pl.Float64, "gamma_usd": pl.Float64,
        "vega_usd": pl.Float64, "theta_usd": pl.Float64, "residual_usd": pl.Float64, "hedge_usd": pl.Float64,
        "option_fees_usd": pl.Float64, "hedge_fees_usd": pl.Float64, "spread_cost_usd": pl.Float64,
        "n_legs": pl.Int32, "net_delta_coin": pl.Float64, "fallback_quotes": pl.Int32, "unit_cost_usd": pl.Float64,
    }
    frame = pl.DataFrame(rows, schema=schema).with_columns(
        pl.lit(STRATEGY).alias("strategy"), pl.lit(cfg.family).alias("family"),
        pl.lit(cfg.horizon, dtype=pl.Int32).alias("horizon"), pl.lit("oos").alias("sample"),
    )
    return _with_equity(frame).select(_DAILY_ORDER).sort("asset", "date")
