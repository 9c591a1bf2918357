"""A simulated coin universe around the simulated market's BTC and ETH.

BTC and ETH are the existing market's own spot bars (hourly, aggregated to UTC days), so
the universe and the DVOL lane describe the same world. The other coins load on BTC's
daily return with a beta and add their own clustered volatility and jumps, calibrated on
the cross-section a desk sees:

* market caps spread over four orders of magnitude (log-uniform below ETH's);
* idiosyncratic volatility and illiquidity (Amihud |r| / USD volume) grow as size falls;
* some coins list during the history and a few delist; stablecoins sit near 1 USD with
  near-zero vol, to be recognised and excluded;
* one small coin carries a > 500 % listing pump that `KNOWN_EVENTS` declares real, and one
  a bad print (a close 40x off for a day) that the contract must quarantine.

Deterministic: the same config gives identical frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from dvol_pipeline.contracts.tables import RAW_UNIVERSE_DAILY
from dvol_pipeline.sources.simulated.market import SimConfig, SimulatedMarket

STABLECOINS = ("USDT", "USDC", "DAI")
BTC_CAP, ETH_CAP = 1.0e12, 4.0e11
SMALLEST_CAP = 1.0e8
"""BTC at 1e12 USD down to 1e8: four orders of magnitude."""


@dataclass(frozen=True)
class UniverseConfig:
    n_coins: int = 60
    """Coins in all, BTC, ETH and the stablecoins included."""
    seed: int = 20210324
    start: date = date(2021, 3, 24)
    end: date = date(2024, 12, 31)
    listing_share: float = 0.25
    """Share of the altcoins whose first day falls inside the history."""
    n_delisted: int = 3
    n_stable: int = 3


MIN_DAYS = 151
"""The shortest history the listing and delisting days fit in: a delisting between day int(0.6 n) and
day n - 60 needs n - 60 > int(0.6 n), true from n = 151 on."""


def _symbols(cfg: UniverseConfig) -> list[str]:
    n_alt = cfg.n_coins - 2 - cfg.n_stable
    if n_alt < 2:
        raise ValueError(f"UniverseConfig.n_coins={cfg.n_coins} leaves no altcoins: use at least {cfg.n_stable + 4}")
    return ["BTC", "ETH", *STABLECOINS[: cfg.n_stable], *(f"ALT{k:02d}" for k in range(1, n_alt + 1))]


def _btc_eth_daily(cfg: UniverseConfig) -> pl.DataFrame:
    market = SimulatedMarket(SimConfig(seed=cfg.seed, start=cfg.start), end=cfg.end)
    bars = market.table("raw_ohlcv", cfg.start, cfg.end).filter(pl.col("kind") == "spot")
    return (
        bars.with_columns(pl.col("ts").dt.date().alias("date"))
        .group_by("asset", "date")
        .agg(pl.col("open").first(), pl.col("high").max(), pl.col("low").min(), pl.col("close").last(),
             pl.col("volume").sum(), pl.col("volume_quote").sum())
        .rename({"asset": "symbol"})
        .sort("symbol", "date")
    )


def _ohlc_from_returns(rng: np.random.Generator, close: np.ndarray, r: np.ndarray, sigma: np.ndarray):
    """Open near the previous close, high/low beyond open and close by a range that scales with vol."""
    prev = np.concatenate([[close[0] / np.exp(r[0])], close[:-1]])
    open_ = prev * np.exp(rng.normal(0.0, 0.1, close.size) * sigma)
    ext = np.abs(rng.normal(0.0, 0.6, (2, close.size))) * sigma
    high = np.maximum(open_, close) * np.exp(ext[0])
    low = np.minimum(open_, close) * np.exp(-ext[1])
    return open_, high, low


def simulate_universe(cfg: UniverseConfig = UniverseConfig()) -> pl.DataFrame:
    """Every coin's daily bars in the raw_universe_daily shape (source `simulated`)."""
    rng = np.random.default_rng(cfg.seed + 12)
    symbols = _symbols(cfg)
    core = _btc_eth_daily(cfg)
    days = pl.date_range(cfg.start, cfg.end, "1d", eager=True)
    n = days.len()
    if n < MIN_DAYS:
        raise ValueError(f"the simulated universe needs at least {MIN_DAYS} days, {cfg.start}..{cfg.end} has {n}: its "
                         "listings fall after day 30 and within the first 60 % of the days, its delistings after "
                         "those 60 % and before the last 60 days")
    btc = core.filter(pl.col("symbol") == "BTC").sort("date")
    c = btc["close"].to_numpy()
    r_btc = np.concatenate([[np.log(c[0] / btc["open"][0])], np.diff(np.log(c))])

    frames = []
    for sym, cap in (("BTC", BTC_CAP), ("ETH", ETH_CAP)):
        part = core.filter(pl.col("symbol") == sym)
        supply = cap / float(part["close"][0])
        frames.append(part.with_columns((pl.col("close") * supply).alias("market_cap")))

    alts = [s for s in symbols if s.startswith("ALT")]
    n_alt = len(alts)
    log_caps = np.sort(rng.uniform(np.log10(SMALLEST_CAP), np.log10(ETH_CAP / 4), n_alt))[::-1]
    size = (np.log10(BTC_CAP) - log_caps) / 4.0  # 0 (large) .. 1 (smallest)
    listing = np.zeros(n_alt, int)
    special = {n_alt - 1, n_alt // 2 - 1}  # the pump and the bad print: present all along
    candidates = np.array([k for k in range(n_alt // 4, n_alt) if k not in special])
    listed = rng.choice(candidates, size=min(candidates.size, max(1, int(cfg.listing_share * n_alt))), replace=False)
    listing[listed] = rng.integers(30, int(n * 0.6), listed.size)
    ends = np.full(n_alt, n)
    pool = np.setdiff1d(candidates, listed)
    delisted = rng.choice(pool, size=min(cfg.n_delisted, n_alt // 4, pool.size), replace=False)
    ends[delisted] = rng.integers(int(n * 0.6), n - 60, delisted.size)

    for i, sym in enumerate(alts):
        beta = 0.9 + 0.6 * size[i] + rng.normal(0, 0.1)
        base_vol = (0.3 + 0.9 * size[i]) * rng.uniform(0.85, 1.15) / np.sqrt(365)
        # idiosyncratic log-vol: AR(1) with half-life ~30 days, shocks fed by its own |returns|
        phi, volvol = 0.5 ** (1 / 30), 0.1
        z = rng.standard_t(4, n) / np.sqrt(2.0)
        lv = np.zeros(n)
        for t in range(1, n):
            lv[t] = phi * lv[t - 1] + volvol * rng.normal() + 0.05 * (abs(z[t - 1]) - 0.8)
        sigma = base_vol * np.exp(lv)
        jumps = (rng.random(n) < 0.004 + 0.01 * size[i]) * np.clip(rng.standard_t(3, n) * (0.05 + 0.07 * size[i]), -0.9, 0.9)
        r = beta * r_btc + sigma * z + jumps
        price0 = 10 ** rng.uniform(-2, 2)
        close = price0 * np.exp(np.cumsum(r))
        open_, high, low = _ohlc_from_returns(rng, close, r, np.sqrt(sigma**2 + (beta * 0.03) ** 2))
        supply = 10 ** log_caps[i] / price0
        cap = close * supply
        turnover = 0.08 * (1 - 0.75 * size[i]) * np.exp(rng.normal(0, 0.3, n) + 4 * np.abs(r))
        vq = cap * turnover * (1 - 0.6 * size[i]) ** 2
        keep = slice(listing[i], ends[i])
        frames.append(pl.DataFrame({
            "symbol": sym, "date": days[keep], "open": open_[keep], "high": high[keep], "low": low[keep],
            "close": close[keep], "volume": (vq / close)[keep], "volume_quote": vq[keep], "market_cap": cap[keep],
        }))

    for k, sym in enumerate(symbols[2:2 + cfg.n_stable]):
        close = 1.0 + np.clip(np.cumsum(rng.normal(0, 3e-4, n)) * 0.1 + rng.normal(0, 4e-4, n), -0.02, 0.02)
        r = np.diff(np.log(close), prepend=np.log(close[0]))
        open_, high, low = _ohlc_from_returns(rng, close, r, np.full(n, 5e-4))
        supply = 10 ** (11 - 0.5 * k)
        vq = supply * 0.05 * np.exp(rng.normal(0, 0.2, n))
        frames.append(pl.DataFrame({
            "symbol": sym, "date": days, "open": open_, "high": high, "low": low, "close": close,
            "volume": vq / close, "volume_quote": vq, "market_cap": close * supply,
        }))

    out = pl.concat([f.select("symbol", "date", "open", "high", "low", "close", "volume", "volume_quote",
                              "market_cap") for f in frames], how="vertical_relaxed")
    out = _plant_events(out, cfg, alts)
    return out.with_columns(
        pl.lit(None, pl.Utf8).alias("name"), pl.lit("simulated").alias("source")
    ).select([pl.col(c).cast(t) for c, t in RAW_UNIVERSE_DAILY.schema.items()]).sort("symbol", "date")


def known_events(cfg: UniverseConfig = UniverseConfig()) -> list[tuple[str, date]]:
    """The simulated universe's real > 500 % move: a small coin's listing pump."""
    sym, day = _pump(cfg)
    return [(sym, day)]


def _pump(cfg: UniverseConfig) -> tuple[str, date]:
    alts = [s for s in _symbols(cfg) if s.startswith("ALT")]
    return alts[-1], cfg.start + timedelta(days=((cfg.end - cfg.start).days * 2) // 3)


def bad_print(cfg: UniverseConfig = UniverseConfig()) -> tuple[str, date]:
    """The (symbol, day) whose close is 40x off: the contract must quarantine it."""
    alts = [s for s in _symbols(cfg) if s.startswith("ALT")]
    return alts[len(alts) // 2 - 1], cfg.start + timedelta(days=(cfg.end - cfg.start).days // 2)


def _plant_events(frame: pl.DataFrame, cfg: UniverseConfig, alts: list[str]) -> pl.DataFrame:
    pump_sym, pump_day = _pump(cfg)
    bad_sym, bad_day = bad_print(cfg)
    pump = (pl.col("symbol") == pump_sym) & (pl.col("date") >= pump_day)
    bad = (pl.col("symbol") == bad_sym) & (pl.col("date") == bad_day)
    prices = ("open", "high", "low", "close")
    return frame.with_columns(
        *(pl.when(pump).then(pl.col(c) * 7.0).otherwise(pl.col(c)).alias(c) for c in (*prices, "market_cap")),
    ).with_columns(
        # the pump day opens at the old level: the jump is close-to-close
        pl.when(pump & (pl.col("date") == pump_day)).then(pl.col("open") / 7.0).otherwise(pl.col("open")).alias("open"),
        pl.when(pump & (pl.col("date") == pump_day)).then(pl.col("low") / 7.0).otherwise(pl.col("low")).alias("low"),
    ).with_columns(
        *(pl.when(bad).then(pl.col(c) * 40.0).otherwise(pl.col(c)).alias(c) for c in prices),
    )
