"""The engine's arrays as the raw tick frames of contracts/micro.py, in arrival order.

Clocks: `ts_exchange` is the event time (a diff message's: the end of its 100 ms window);
`ts_local` = ts_exchange + a lognormal latency (median `latency_ms`) + the collector's
constant clock skew (`clock_skew_ms`), made non-decreasing per stream (one TCP connection
delivers in order). A REST snapshot arrives `snapshot_latency_ms` (+-20 %) after the instant
it describes, so it lands after the first diffs that follow it, as on Binance. Spot
`bookTicker` carries no exchange time (Binance's does not), so its `ts_exchange` is null.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import polars as pl

from dvol_pipeline.contracts.micro import (
    RAW_BOOK_DELTAS,
    RAW_DERIVATIVE_TICKER,
    RAW_LIQUIDATIONS,
    RAW_TOP_OF_BOOK,
    RAW_TRADES,
)

from .fair import DAY_S, DayFair, funding_series
from .params import PERP_VENUES, CoinSpec, SimConfig
from .rng import STREAM_CLOCK, stream_rng
from .simulate import DayRun

NS = 1_000_000_000
SYMBOLS = {"BTC": "BTCUSDT", "ETH": "ETHUSDT", "SOL": "SOLUSDT"}


def _day_ns(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * NS


def _decimals(step: float) -> int:
    return max(0, -Decimal(repr(step)).normalize().as_tuple().exponent)


class _Clock:
    """Latencies of one instrument-day, one independent draw per row, non-decreasing per stream."""

    def __init__(self, rng: np.random.Generator, cfg: SimConfig):
        self.rng, self.cfg = rng, cfg

    def local(self, t_exchange: np.ndarray) -> np.ndarray:
        lat = self.rng.lognormal(np.log(self.cfg.latency_ms), 0.4, t_exchange.size) + self.cfg.clock_skew_ms
        return np.maximum.accumulate(t_exchange + (lat * 1e6).astype(np.int64)) if t_exchange.size else t_exchange


def _ts(a: np.ndarray) -> pl.Series:
    return pl.Series(a.astype(np.int64)).cast(pl.Datetime("ns", "UTC"))


def _nulls(n: int, dtype) -> pl.Series:
    return pl.repeat(None, n, dtype=dtype, eager=True)


def _frame(spec, cols: dict, venue: str, symbol: str) -> pl.DataFrame:
    n = len(next(iter(cols.values())))
    df = pl.DataFrame(cols).with_columns(pl.lit(venue).alias("venue"), pl.lit(symbol).alias("symbol"))
    if n == 0:
        return spec.empty()
    return df.select([pl.col(c).cast(t) for c, t in spec.schema.items()])


def frames(run: DayRun, fair: DayFair, coin: str, venue: str, day: date, seed: int, cfg: SimConfig
           ) -> dict[str, pl.DataFrame]:
    spec: CoinSpec = cfg.coins[coin]
    symbol, t0, perp = SYMBOLS[coin], _day_ns(day), venue in PERP_VENUES
    clock = _Clock(stream_rng(seed, STREAM_CLOCK, spec.coin_id, day, venue), cfg)
    pd, sd = _decimals(run.tick), _decimals(spec.lot)

    def px(ticks: np.ndarray) -> np.ndarray:
        return np.round(ticks * run.tick, pd)

    def qty(lots: np.ndarray) -> np.ndarray:
        return np.round(lots * spec.lot, sd)

    out: dict[str, pl.DataFrame] = {}
    # ---- depth diffs and snapshots
    msg_t, msg_U, msg_u, msg_end = run.msgs
    side, tick, lots = run.rows
    n_per = np.diff(np.concatenate([[0], msg_end]))
    e_msg = t0 + msg_t
    l_msg = clock.local(e_msg)
    prev_u = np.concatenate([[msg_U[0] - 1 if msg_U.size else 0], msg_u[:-1]])
    diffs = {
        "ts_local": np.repeat(l_msg, n_per), "ts_exchange": np.repeat(e_msg, n_per),
        "side": np.where(side == 0, "bid", "ask"), "price": px(tick), "size": qty(lots),
        "first_update_id": np.repeat(msg_U, n_per), "update_id": np.repeat(msg_u, n_per),
        "prev_update_id": pl.Series(np.repeat(prev_u, n_per)) if perp else _nulls(side.size, pl.Int64),
        "is_snapshot": np.zeros(side.size, bool),
    }
    hdr = run.snap_hdr
    s_side, s_tick, s_lots = run.snap_rows
    s_n = np.diff(np.concatenate([[0], hdr[:, 2]]))
    s_ex = t0 + hdr[:, 0]
    s_loc = s_ex + (cfg.snapshot_latency_ms * 1e6 * clock.rng.uniform(0.8, 1.2, hdr.shape[0])).astype(np.int64)
    # ... and never before the first diff message with ids past it (a quiet book is slow to send one)
    nxt = np.searchsorted(msg_u, hdr[:, 1], side="right")
    has = nxt < msg_u.size
    s_loc[has] = np.maximum(s_loc[has], l_msg[nxt[has]] + 1_000_000)
    snaps = {
        "ts_local": np.repeat(s_loc, s_n), "ts_exchange": np.repeat(s_ex, s_n),
        "side": np.where(s_side == 0, "bid", "ask"), "price": px(s_tick), "size": qty(s_lots),
        "first_update_id": _nulls(s_side.size, pl.Int64), "update_id": np.repeat(hdr[:, 1], s_n),
        "prev_update_id": _nulls(s_side.size, pl.Int64), "is_snapshot": np.ones(s_side.size, bool),
    }
    book = pl.concat([
        pl.DataFrame({**diffs, "_k": np.zeros(side.size, np.int8)}, strict=False),
        pl.DataFrame({**snaps, "_k": np.ones(s_side.size, np.int8)}, strict=False),
    ], how="diagonal_relaxed")
    # arrival order: by ts_local; a snapshot arriving in the same ns as a diff comes after it
    book = book.with_columns(_ts(book["ts_local"].to_numpy()).alias("ts_local"),
                             _ts(book["ts_exchange"].to_numpy()).alias("ts_exchange"))
    book = book.sort(["ts_local", "_k"], maintain_order=True).drop("_k")
    out["raw_book_deltas"] = _frame(RAW_BOOK_DELTAS, book.to_dict(as_series=True), venue, symbol)

    # ---- bookTicker
    tob = run.tob
    e = t0 + tob[:, 0]
    out["raw_top_of_book"] = _frame(RAW_TOP_OF_BOOK, {
        "ts_local": _ts(clock.local(e)), "ts_exchange": _ts(e) if perp else _nulls(e.size, pl.Datetime("ns", "UTC")),
        "bid_price": px(tob[:, 2]), "bid_size": qty(tob[:, 3]), "ask_price": px(tob[:, 4]), "ask_size": qty(tob[:, 5]),
        "update_id": tob[:, 1],
    }, venue, symbol)

    # ---- trades
    tr = run.trades
    e = t0 + tr[:, 0]
    p, q = px(tr[:, 1]), qty(tr[:, 2])
    out["raw_trades"] = _frame(RAW_TRADES, {
        "ts_local": _ts(clock.local(e)), "ts_exchange": _ts(e), "price": p, "size": q, "notional": p * q,
        "side": np.where(tr[:, 3] > 0, "buy", "sell"), "trade_id": tr[:, 4],
    }, venue, symbol)
    if not perp:
        return out

    # ---- liquidations
    lq = run.liq
    e = t0 + lq[:, 0].astype(np.int64)
    p, q = np.round(lq[:, 2] * run.tick, pd + 2), qty(lq[:, 3].astype(np.int64))
    out["raw_liquidations"] = _frame(RAW_LIQUIDATIONS, {
        "ts_local": _ts(clock.local(e)), "ts_exchange": _ts(e), "side": np.where(lq[:, 1] > 0, "buy", "sell"),
        "price": p, "size": q, "notional": p * q,
    }, venue, symbol)

    # ---- mark, index, funding, open interest: one row a second
    out["raw_derivative_ticker"] = _ticker(run, fair, spec, clock, t0, pd, venue, symbol)
    return out


def _ticker(run: DayRun, fair: DayFair, spec: CoinSpec, clock: _Clock, t0: int, pd: int, venue: str,
            symbol: str) -> pl.DataFrame:
    """Mark = the perp's fair price, index = the spot fair price (a venue basket, lightly noisy), the
    open interval's funding (fair.funding_series), open interest drifting with traded volume and
    falling with liquidations."""
    rng = clock.rng
    s = np.arange(DAY_S)
    spot = np.exp(fair.log_fair[:-1])
    index = spot * (1.0 + 2e-5 * rng.standard_normal(DAY_S))
    mark = spot * (1.0 + fair.premium[:-1])
    rate, next_s, _ = funding_series(fair)
    tr = run.trades
    vol = np.bincount((tr[:, 0] // NS).astype(np.int64), weights=tr[:, 2] * spec.lot, minlength=DAY_S)[:DAY_S]
    liq = np.bincount((run.liq[:, 0] // NS).astype(np.int64), weights=run.liq[:, 3] * spec.lot,
                      minlength=DAY_S)[:DAY_S]
    oi0 = spec.open_interest * np.exp(0.15 * rng.standard_normal())
    oi = np.maximum(oi0 + np.cumsum(0.1 * vol * rng.standard_normal(DAY_S) - liq), 0.3 * oi0)
    e = t0 + s * NS
    return _frame(RAW_DERIVATIVE_TICKER, {
        "ts_local": _ts(clock.local(e)), "ts_exchange": _ts(e), "mark_price": np.round(mark, pd + 2),
        "index_price": np.round(index, pd + 2), "funding_rate": rate,
        "funding_time": _ts(t0 + next_s.astype(np.int64) * NS), "funding_interval_hours": np.full(DAY_S, 8, np.int32),
        "open_interest": np.round(oi, 3),
    }, venue, symbol)
