"""`make bench`, surface part: timing of the implied-vol surface build.

Why a benchmark: the pipeline's budget (the whole demo range well under a minute, one day's
surface well under 200 ms) is a property worth re-measuring whenever the fit changes.
`benchmark_surface` returns the numbers (bench_options adds them to its report); run alone,
this module simulates the demo range and prints them:

    python -m dvol_pipeline_tests.bench.bench_surface [--start 2024-12-01] [--end ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date

import numpy as np
import polars as pl

from dvol_pipeline.quant.pricing.surface import build_surfaces, filter_quotes, fit_slices, smile_points

START, END = date(2021, 3, 24), date(2024, 12, 31)


def benchmark_surface(chain: pl.DataFrame, dvol: pl.DataFrame | None = None, n_days: int = 20) -> dict[str, float]:
    """Wall-clock timings of `build_surfaces` on `chain` (many days, both assets).

    Returns svi_fit_us_per_slice (the batched SVI fit of the whole range divided by its
    slice count), day_surface_ms_median / day_surface_ms_max (single (date, asset) builds
    on `n_days` evenly spaced samples), range_build_s (one build over everything),
    n_slices and n_day_assets.
    """
    chain = chain.collect() if isinstance(chain, pl.LazyFrame) else chain
    t0 = time.perf_counter()
    build = build_surfaces(chain, dvol)
    range_s = time.perf_counter() - t0

    points = smile_points(filter_quotes(chain)[0])
    t0 = time.perf_counter()
    params = fit_slices(points)
    fit_s = time.perf_counter() - t0

    pairs = chain.select(date=pl.col("ts").dt.date(), asset="asset").unique().sort(["asset", "date"])
    pick = np.unique(np.linspace(0, max(pairs.height - 1, 0), min(n_days, pairs.height)).round().astype(int))
    day_ms = []
    for date, asset in pairs[pick].iter_rows():
        one = chain.filter((pl.col("ts").dt.date() == date) & (pl.col("asset") == asset))
        t0 = time.perf_counter()
        build_surfaces(one, dvol)
        day_ms.append(1e3 * (time.perf_counter() - t0))
    return {
        "range_build_s": range_s,
        "svi_fit_us_per_slice": 1e6 * fit_s / max(params.height, 1),
        "day_surface_ms_median": float(np.median(day_ms)) if day_ms else float("nan"),
        "day_surface_ms_max": float(np.max(day_ms)) if day_ms else float("nan"),
        "n_slices": float(build.params.height),
        "n_day_assets": float(pairs.height),
    }


def main(argv: list[str] | None = None) -> int:
    from dvol_pipeline.sources.simulated import SimConfig, SimulatedMarket

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=date.fromisoformat, default=START)
    parser.add_argument("--end", type=date.fromisoformat, default=END)
    parser.add_argument("--days", type=int, default=20, help="single-day builds to time")
    args = parser.parse_args(argv)
    market = SimulatedMarket(SimConfig(), end=args.end)
    chain = market.table("raw_option_chain", args.start, args.end)
    dvol = market.table("raw_dvol", args.start, args.end)
    figures = benchmark_surface(chain, dvol, n_days=args.days)
    print(f"surface benchmark: BTC+ETH raw_option_chain {args.start}..{args.end}, {chain.height:,} options")
    for name, value in figures.items():
        print(f"    {name:<28} {value:12.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
