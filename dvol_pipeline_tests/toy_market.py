"""A tiny, hand-checkable market in the raw tables' shape, and a source that serves it.

The simulated market is tested on its own; the contract, lake and Dagster tests use these
few rows so a planted fault is easy to see and the tests stay fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import polars as pl

from dvol_pipeline.contracts.tables import RAW_TABLES
from dvol_pipeline.pipeline.ingest import days_in
from dvol_pipeline.sources.base import SourceBatch, register_source

LEVEL = {"BTC": 60.0, "ETH": 72.0}
PRICE = {"BTC": 40_000.0, "ETH": 2_500.0}


def _midnights(days: list[date]) -> list[datetime]:
    return [datetime(d.year, d.month, d.day, tzinfo=UTC) for d in days]


def toy_table(name: str, start: date, end: date, coins: Sequence[str]) -> pl.DataFrame:
    """Valid rows of `name` for every coin and day in [start, end]."""
    days = days_in(start, end)
    rows: list[dict] = []
    for coin in coins:
        for i, (d, t0) in enumerate(zip(days, _midnights(days), strict=True)):
            lvl, px = LEVEL[coin] + (i % 5), PRICE[coin] * (1 + 0.01 * (i % 7))
            if name == "raw_dvol":
                rows.append(dict(ts=t0, asset=coin, open=lvl, high=lvl + 2, low=lvl - 1, close=lvl + 1))
            elif name == "raw_ohlcv":
                for h in range(24):
                    p = px * (1 + 0.001 * h)
                    for kind, inst in (("spot", f"{coin}USDT"), ("perpetual", f"{coin}-PERPETUAL")):
                        rows.append(dict(ts=t0 + timedelta(hours=h), asset=coin, venue="toy", instrument=inst,
                                         kind=kind, interval="1h", open=p, high=p * 1.002, low=p * 0.998,
                                         close=p * 1.001, volume=10.0, volume_quote=10.0 * p, trade_count=100))
            elif name == "raw_funding":
                for h in (0, 8, 16):
                    rows.append(dict(ts=t0 + timedelta(hours=h), asset=coin, instrument=f"{coin}-PERPETUAL",
                                     interval_hours=8, rate=1e-4))
            elif name == "raw_option_chain":
                snap = t0 + timedelta(hours=23, minutes=59, seconds=59)
                expiry = t0 + timedelta(days=8, hours=8)
                for k in (0.9, 1.0, 1.1):
                    strike = round(px * k, -2)
                    for typ in ("C", "P"):
                        mark = 0.02 + 0.01 * abs(k - 1)
                        rows.append(dict(ts=snap, asset=coin, instrument_name=f"{coin}-X-{int(strike)}-{typ}",
                                         expiry=expiry, strike=strike, option_type=typ, bid=mark - 0.001,
                                         ask=mark + 0.001, mark_price=mark, mark_iv=lvl, underlying_price=px,
                                         open_interest=100.0, volume=5.0))
            elif name == "raw_options_summary":
                rows.append(dict(date=d, asset=coin, net_vega=1e6, avg_iv=lvl, volume=500.0, open_interest=1e4))
            elif name == "raw_onchain":
                rows.append(dict(date=d, asset=coin, tx_count=300_000, fees=20.0,
                                 hashrate=400.0 if coin == "BTC" else None))
    spec = RAW_TABLES[name]
    return pl.DataFrame(rows, schema=spec.schema, orient="row") if rows else spec.empty()


Planter = Callable[[str, pl.DataFrame], pl.DataFrame]


@dataclass
class ToySource:
    """Serves the toy market; `plant` may corrupt a table's frame before it is returned."""

    plant: Planter | None = None
    name: str = "toy"
    calls: list[tuple[str, date, date, tuple[str, ...]]] = field(default_factory=list)

    def fetch(self, table: str, start: date, end: date, coins: Sequence[str]) -> SourceBatch:
        self.calls.append((table, start, end, tuple(coins)))
        frame = toy_table(table, start, end, coins)
        if self.plant is not None:
            frame = self.plant(table, frame)
        return SourceBatch(frame=frame, source=self.name, files={"toy://market": "0" * 64})


ACTIVE: dict[str, ToySource] = {"toy": ToySource()}


def install(source: ToySource) -> ToySource:
    """Make `source` what `MarketResource(source="toy")` opens."""
    ACTIVE["toy"] = source
    return source


register_source("toy", lambda **_: ACTIVE["toy"])
