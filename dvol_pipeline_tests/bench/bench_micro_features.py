"""`make bench`, micro features part: one symbol-day of 1-s bars through `build_features`.

Why: the issue's goal is the features of one symbol-day of the default simulated market in
<= 10 s on this machine. The frame here is synthetic (a random-walk mid with a one-tick
spread, Poisson trades, random depth), built in the bench so the timing needs no source:

    python -m dvol_pipeline_tests.bench.bench_micro_features [--rows 86400] [--repeats 3]

The first build also compiles the numba kernels (cached on disk afterwards); it is printed
apart from the best of the warm builds.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone

import numpy as np
import polars as pl

from dvol_pipeline.quant.micro.features import build_features

from .reference import best_seconds, reference_line, reference_seconds


def synthetic_bars(rows: int = 86_400, seed: int = 0, symbol: str = "BTCUSDT", venue: str = "sim_usdm",
                   start: datetime = datetime(2024, 3, 1, tzinfo=timezone.utc), step_s: int = 1,
                   price: float = 60_000.0, bar: str = "1s") -> pl.DataFrame:
    """A micro_bars frame for one symbol: every column of the table, deterministic in `seed`."""
    rng = np.random.default_rng(seed)
    tick = 0.1
    mid = price * np.exp(np.cumsum(rng.normal(0, 2e-5, rows)))
    mid = np.round(mid / tick) * tick + tick / 2
    spread = np.where(rng.random(rows) < 0.8, tick, 2 * tick)
    bid, ask = mid - spread / 2, mid + spread / 2
    buy = rng.exponential(0.5, rows) * (rng.random(rows) < 0.7)
    sell = rng.exponential(0.5, rows) * (rng.random(rows) < 0.7)
    vol = buy + sell
    depth = {f"{s}_depth_{n}": rng.gamma(2.0, n * 1.5, rows) for n in (5, 10, 20) for s in ("bid", "ask")}
    first = np.datetime64(start.replace(tzinfo=None), "ns")
    ts = pl.Series("ts", first + np.arange(1, rows + 1) * np.timedelta64(step_s, "s"))
    return pl.DataFrame({
        "ts": ts, "venue": venue, "symbol": symbol, "bar": bar,
        "mid_open": np.concatenate([[mid[0]], mid[:-1]]), "mid_high": np.maximum(mid, np.roll(mid, 1)) + tick,
        "mid_low": np.minimum(mid, np.roll(mid, 1)) - tick, "mid_close": mid,
        "vwap": np.where(vol > 0, mid + rng.normal(0, tick, rows), np.nan),
        "spread_bps": 1e4 * spread / mid, "ofi": rng.normal(0, 2, rows), "buy_volume": buy, "sell_volume": sell,
        "trades": rng.poisson(3, rows), "volume": vol, "notional": vol * mid,
        "trade_open": mid, "trade_high": mid + tick, "trade_low": mid - tick, "trade_close": mid,
        "bid_price": bid, "ask_price": ask, "bid_size": rng.gamma(2.0, 1.0, rows),
        "ask_size": rng.gamma(2.0, 1.0, rows), **depth, "bbo_updates": rng.poisson(10, rows).astype(float),
        "bid_depletions": rng.poisson(1, rows).astype(float), "ask_depletions": rng.poisson(1, rows).astype(float),
        "cancel_bid": rng.poisson(5, rows).astype(float),
        "cancel_ask": rng.poisson(5, rows).astype(float), "known_share": 1.0,
    }).with_columns(pl.col("ts").dt.replace_time_zone("UTC").cast(pl.Datetime("ns", "UTC")),
                    pl.col("trades").cast(pl.Int64))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=86_400)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    ref = reference_seconds()
    print(reference_line(ref))
    bars = synthetic_bars(args.rows)
    t0 = time.perf_counter()
    out = build_features(bars, bar="1s")
    first = time.perf_counter() - t0
    warm = best_seconds(lambda: build_features(bars, bar="1s"), args.repeats)
    print(f"build_features, {args.rows} 1-s bars of one symbol -> {out.height} rows x {out.width} columns")
    print(f"  first call (numba compile or cache load): {first:.2f} s = {first / ref:.2f} x reference")
    print(f"  warm, best of {args.repeats}: {warm:.2f} s = {warm / ref:.2f} x reference (goal <= 10 s)")


if __name__ == "__main__":
    main()
