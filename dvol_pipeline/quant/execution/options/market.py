"""The chain indexed once by (asset, day), and the perpetual's daily close.

Why an index: the backtest walks ~1,400 days per asset and touches a handful of legs a
day; re-filtering a 2-million-row frame each day would dominate. Each asset's chain is
sorted once by (day, expiry, strike, type) with an integer instrument id in that same
order, so a day is a contiguous slice of numpy arrays and a leg is found by binary search.

Held legs that vanish from a day's chain (the venue, or the simulator, re-centres its
strike grid) are marked from the expiry's smile: the mark IV interpolated linearly in
strike between the neighbouring quoted strikes (flat beyond them), priced with Black-76
on the expiry's forward; their half-spread is interpolated the same way. An expiry missing
altogether keeps yesterday's IV on yesterday's forward moved with the perpetual. Both are
flagged as `modelled`, and the caller counts them as fallback quotes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from dvol_pipeline.quant.pricing.options import YEARS_PER_US, price

US_PER_DAY = 86_400_000_000
_STRIKE_KEY = 1e9
"""Sort key expiry_rank * 1e9 + strike (strike < 1e9): exact to 1e-4 for up to 1,000 expiries."""

CHAIN_COLUMNS = [
    "ts", "asset", "instrument_name", "expiry", "strike", "option_type",
    "bid", "ask", "mark_price", "mark_iv", "underlying_price",
]


@dataclass(frozen=True)
class DayChain:
    """One asset's chain at one snapshot; rows sorted by (expiry, strike, type), iv decimal."""

    date: date
    ts_us: int
    inst: np.ndarray
    key: np.ndarray
    expiry_us: np.ndarray
    strike: np.ndarray
    is_call: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    mark: np.ndarray
    iv: np.ndarray
    fwd: np.ndarray

    def years(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        return (self.expiry_us[rows] - self.ts_us) * YEARS_PER_US


@dataclass(frozen=True)
class LegQuotes:
    """Today's quotes of held legs (coin prices, decimal IV); `modelled` = not in the chain."""

    mark: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    iv: np.ndarray
    fwd: np.ndarray
    modelled: np.ndarray


@dataclass(frozen=True)
class AssetChain:
    asset: str
    dates: list[date]
    ts_us: np.ndarray
    starts: np.ndarray  # day i is rows starts[i]:starts[i+1]
    names: np.ndarray  # instrument_name by instrument id
    expiries: np.ndarray  # sorted expiry_us; an expiry's position is its rank in the sort key
    cols: dict[str, np.ndarray]

    def day(self, i: int) -> DayChain:
        s = slice(int(self.starts[i]), int(self.starts[i + 1]))
        c = self.cols
        return DayChain(
            self.dates[i], int(self.ts_us[i]), c["inst"][s], c["key"][s], c["expiry_us"][s], c["strike"][s],
            c["is_call"][s], c["bid"][s], c["ask"][s], c["mark"][s], c["iv"][s], c["fwd"][s],
        )

    def leg_key(self, expiry_us: np.ndarray, strike: np.ndarray) -> np.ndarray:
        rank = np.minimum(np.searchsorted(self.expiries, expiry_us), self.expiries.size - 1)
        known = self.expiries[rank] == expiry_us
        return np.where(known, rank, -1).astype(float) * _STRIKE_KEY + strike


def index_chain(chain: pl.DataFrame | pl.LazyFrame) -> dict[str, AssetChain]:
    """raw_option_chain rows -> per-asset day index (the last snapshot of each UTC day)."""
    lf = chain.lazy()
    missing = [c for c in CHAIN_COLUMNS if c not in lf.collect_schema().names()]
    if missing:
        raise ValueError(f"option chain lacks column(s) {missing}; need {CHAIN_COLUMNS}")
    df = (
        lf.select(CHAIN_COLUMNS)
        .with_columns(pl.col("ts").dt.date().alias("date"))
        .filter(pl.col("ts") == pl.col("ts").max().over("asset", "date"))
        .with_columns(
            pl.col("ts").dt.epoch("us").alias("ts_us"),
            pl.col("expiry").dt.epoch("us").alias("expiry_us"),
            (pl.col("option_type") == "C").alias("is_call"),
            (pl.col("mark_iv") * 0.01).alias("iv"),
        )
        .collect()
    )
    out: dict[str, AssetChain] = {}
    for (asset,), part in sorted(df.partition_by("asset", as_dict=True).items()):
        out[asset] = _asset_chain(asset, part)
    return out


def _asset_chain(asset: str, part: pl.DataFrame) -> AssetChain:
    keys = (
        part.select("instrument_name", "expiry_us", "strike", "is_call")
        .unique("instrument_name")
        .sort("expiry_us", "strike", "is_call", "instrument_name")
        .with_row_index("inst")
    )
    expiries = keys["expiry_us"].unique().sort().to_numpy()
    part = part.join(keys.select("instrument_name", pl.col("inst").cast(pl.Int64)), on="instrument_name").sort(
        "date", "inst"
    )
    expiry_us = part["expiry_us"].to_numpy()
    strike = part["strike"].cast(pl.Float64).to_numpy()
    day_num = part["date"].cast(pl.Int32).to_numpy()
    starts = np.concatenate([[0], np.flatnonzero(np.diff(day_num)) + 1, [len(part)]])
    firsts = part[starts[:-1].tolist()]
    cols = {
        "inst": part["inst"].to_numpy(),
        "key": np.searchsorted(expiries, expiry_us).astype(float) * _STRIKE_KEY + strike,
        "expiry_us": expiry_us,
        "strike": strike,
        "is_call": part["is_call"].to_numpy(),
        "bid": part["bid"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
        "ask": part["ask"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
        "mark": part["mark_price"].cast(pl.Float64).to_numpy(),
        "iv": part["iv"].cast(pl.Float64).to_numpy(),
        "fwd": part["underlying_price"].cast(pl.Float64).to_numpy(),
    }
    return AssetChain(
        asset, firsts["date"].to_list(), firsts["ts_us"].to_numpy(), starts, keys["instrument_name"].to_numpy(),
        expiries, cols,
    )


def quote_legs(
    chain: AssetChain, day: DayChain, inst: np.ndarray, expiry_us: np.ndarray, strike: np.ndarray,
    is_call: np.ndarray, prev_iv: np.ndarray, prev_fwd: np.ndarray, perp_ratio: float,
) -> LegQuotes:
    """Today's quotes of held legs: straight from the chain, or modelled (module doc)."""
    last = day.inst.size - 1
    pos = np.minimum(np.searchsorted(day.inst, inst), last)
    found = day.inst[pos] == inst
    if found.all():
        return LegQuotes(day.mark[pos], day.bid[pos], day.ask[pos], day.iv[pos], day.fwd[pos], ~found)
    key = chain.leg_key(expiry_us, strike)
    at = np.searchsorted(day.key, key)
    left, right = np.maximum(at - 1, 0), np.minimum(at, last)
    rank = np.floor(key / _STRIKE_KEY)
    ok_l = (np.floor(day.key[left] / _STRIKE_KEY) == rank) & (day.key[left] <= key) & (rank >= 0)
    ok_r = (np.floor(day.key[right] / _STRIKE_KEY) == rank) & (day.key[right] >= key) & (rank >= 0)
    listed = ok_l | ok_r
    kl, kr = day.strike[left], day.strike[right]
    between = ok_l & ok_r & (kr > kl)
    w = np.where(between, (strike - kl) / np.where(kr > kl, kr - kl, 1.0), np.where(ok_r & ~ok_l, 1.0, 0.0))

    def interp(a: np.ndarray) -> np.ndarray:
        return (1.0 - w) * a[left] + w * a[right]

    iv = np.where(listed, interp(day.iv), prev_iv)
    fwd = np.where(listed, np.where(ok_l, day.fwd[left], day.fwd[right]), prev_fwd * perp_ratio)
    half = np.where(listed, np.maximum(interp(day.ask - day.mark), 0.0), np.nan)
    years = (expiry_us - day.ts_us) * YEARS_PER_US
    model = price(fwd, strike, years, iv, is_call) / fwd
    half = np.where(np.isfinite(half), half, 0.0)  # unlisted expiry: costs fall back in costs.py
    m_bid = np.where(half > 0, np.maximum(model - half, 0.0), np.nan)
    m_ask = np.where(half > 0, model + half, np.nan)
    return LegQuotes(
        np.where(found, day.mark[pos], model),
        np.where(found, day.bid[pos], m_bid),
        np.where(found, day.ask[pos], m_ask),
        np.where(found, day.iv[pos], iv),
        np.where(found, day.fwd[pos], fwd),
        ~found,
    )


def perp_closes(ohlcv: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """date, asset, perp_price: the close of each day's last perpetual bar (the snapshot's price)."""
    lf = ohlcv.lazy()
    need = ["ts", "asset", "kind", "close"]
    missing = [c for c in need if c not in lf.collect_schema().names()]
    if missing:
        raise ValueError(f"raw_ohlcv lacks column(s) {missing}; need {need}")
    return (
        lf.filter(pl.col("kind") == "perpetual")
        .with_columns(pl.col("ts").dt.date().alias("date"))
        .sort("asset", "ts")
        .group_by("asset", "date")
        .agg(pl.col("close").last().cast(pl.Float64).alias("perp_price"))
        .select("date", "asset", "perp_price")
        .sort("asset", "date")
        .collect()
    )
