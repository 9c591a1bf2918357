"""`SimulatedMarket`: every raw table for BTC and ETH from one seeded model.

Why lazily cached: a run asks for the six raw tables of the same range one after another;
the hourly state is simulated once per market (a few seconds at most) and the option
chains of the requested days once, then reused by raw_option_chain, raw_dvol and
raw_options_summary.

Determinism: same SimConfig => byte-identical frames; a day's values depend only on the
seed, the start and the days before it, never on `end` or the requested range (per-day
random blocks, sequential filters, and a horizon rounded up to whole 256-day blocks so
array lengths, and hence any vectorised code path, agree between markets).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from dvol_pipeline.contracts.tables import RAW_TABLES

from .bars import ohlcv_rows
from .chains import build_chain, snapshot_us
from .dvol import dvol_bars
from .flows import funding_rows, onchain_rows, options_summary
from .params import COINS, DERIVED_PREFIX, is_known_coin
from .paths import CoinPath, simulate
from .surface import level30, model_vs30

BLOCK_DAYS = 256


@dataclass(frozen=True)
class SimConfig:
    seed: int = 20210324
    start: date = date(2021, 3, 24)  # first simulated day; the path always starts here
    coins: tuple[str, ...] = ("BTC", "ETH")


class SimulatedMarket:
    """A seeded market from `config.start` to `end` (inclusive); see the module doc."""

    def __init__(self, config: SimConfig = SimConfig(), end: date = date(2024, 12, 31)):
        if not isinstance(config.seed, (int, np.integer)) or config.seed < 0:
            raise ValueError(f"SimConfig.seed must be a non-negative integer, got {config.seed!r}")
        unknown = [c for c in config.coins if not is_known_coin(c)]
        if unknown or not config.coins or len(set(config.coins)) != len(config.coins):
            raise ValueError(
                f"SimConfig.coins must be distinct coins among {sorted(COINS)} or {DERIVED_PREFIX}<k> (k >= 3, "
                f"derived parameters: params.coin_params), got {config.coins!r}"
            )
        if end < config.start:
            raise ValueError(f"market end {end} is before its start {config.start}")
        self.config = config
        self.end = end
        self._paths: dict[str, CoinPath] | None = None
        self._chains: dict[str, tuple[int, int, pl.DataFrame, pl.DataFrame]] = {}

    # ---- state -------------------------------------------------------------------------
    @property
    def n_days(self) -> int:
        return (self.end - self.config.start).days + 1

    @property
    def paths(self) -> dict[str, CoinPath]:
        if self._paths is None:
            horizon = -(-self.n_days // BLOCK_DAYS) * BLOCK_DAYS
            cfg = self.config
            self._paths = simulate(int(cfg.seed), cfg.start, horizon, tuple(cfg.coins))
        return self._paths

    def _days(self, start: date, end: date) -> np.ndarray:
        if start > end:
            raise ValueError(f"start {start} is after end {end}")
        if start < self.config.start:
            raise ValueError(f"start {start} is before the simulated market's first day {self.config.start}")
        if end > self.end:
            raise ValueError(
                f"end {end} is after this market's last day {self.end}; build SimulatedMarket(..., end=...) further"
            )
        return np.arange((start - self.config.start).days, (end - self.config.start).days + 1)

    def _coins(self, coins: Sequence[str] | None) -> list[str]:
        if coins is None:
            return list(self.config.coins)
        if isinstance(coins, str):
            coins = [coins]
        unknown = [c for c in coins if c not in self.config.coins]
        if unknown:
            raise ValueError(f"unknown coin(s) {unknown}; this market simulates {list(self.config.coins)}")
        return list(dict.fromkeys(coins))

    def _chain(self, coin: str, days: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Day-ordered (chain rows, published DVOL closes) of `coin` for `days`, cached for the covering range."""
        d0, d1 = int(days[0]), int(days[-1])
        cached = self._chains.get(coin)
        if cached is None or not (cached[0] <= d0 and d1 <= cached[1]):
            cached = (d0, d1, *build_chain(self.paths[coin], int(self.config.seed), days))
            self._chains[coin] = cached
        c0, c1, frame, published = cached
        if (c0, c1) == (d0, d1):
            return frame, published
        lo, hi = snapshot_us(self.config.start, np.array([d0, d1]))
        ts = pl.col("ts").dt.epoch("us")
        inside = (ts >= int(lo)) & (ts <= int(hi))
        return frame.filter(inside), published.filter(inside)

    # ---- public ------------------------------------------------------------------------
    def table(self, name: str, start: date, end: date, coins: Sequence[str] | None = None) -> pl.DataFrame:
        """Raw table `name` for UTC days [start, end], exactly in its TableSpec shape."""
        if name not in RAW_TABLES:
            raise ValueError(f"unknown table {name!r}; known tables: {', '.join(RAW_TABLES)}")
        spec = RAW_TABLES[name]
        days = self._days(start, end)
        frames = [self._rows(name, coin, days) for coin in self._coins(coins)]
        out = pl.concat(frames, how="vertical_relaxed") if frames else spec.empty()
        return out.select([pl.col(c).cast(t) for c, t in spec.schema.items()]).sort(spec.sort_by)

    def _rows(self, name: str, coin: str, days: np.ndarray) -> pl.DataFrame:
        path, seed = self.paths[coin], int(self.config.seed)
        if name == "raw_ohlcv":
            return ohlcv_rows(path, seed, days)
        if name == "raw_funding":
            return funding_rows(path, days)
        if name == "raw_onchain":
            return onchain_rows(path, days)
        chain, published = self._chain(coin, days)
        if name == "raw_option_chain":
            return chain
        if name == "raw_options_summary":
            return options_summary(chain)
        return dvol_bars(path, days, published)

    def model_levels(self, start: date, end: date, coins: Sequence[str] | None = None) -> pl.DataFrame:
        """The model's own 30-day levels at each day's snapshot, in vol points.

        Columns: date, asset, vs30 (variance-swap vol of the model smile by a fine strike
        integral), atm30 (ATM implied vol), target30 (the level the surface was built to),
        spot. Used to check the replicated DVOL against the model.
        """
        days = self._days(start, end)
        out = []
        for coin in self._coins(coins):
            path = self.paths[coin]
            idx = 24 * (days + 1)
            vs, atm = model_vs30(path, idx)
            out.append(
                pl.DataFrame(
                    {
                        "date": [self.config.start + timedelta(days=int(d)) for d in days],
                        "asset": [coin] * days.size,
                        "vs30": vs,
                        "atm30": atm,
                        "target30": level30(path, idx),
                        "spot": np.exp(path.log_s_b[idx]),
                    }
                )
            )
        return pl.concat(out).sort("asset", "date")
