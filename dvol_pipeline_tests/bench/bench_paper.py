"""`make bench`, paper part: one end-of-day step of the paper book early and late in a long history.

Builds a scratch lake of `--days` days (default 1,000) for two coins: features_daily (DVOL
and the ATM term structure, a random walk), signals (a random direction, the family the
backtest is joined on), backtest_daily (every futures strategy and family, and the option
book, every day) and the simulated market's raw_option_chain and raw_ohlcv. The paper
book (futures book and option sleeve, `pipeline/dvol/paper.run_paper`, without the drawdown
stop so that both books keep trading) then runs through the whole history in ranges of
`--chunk` days, so every day has its fills, positions and sleeve rows in the lake, as after
that many nightly runs.

Then it times `run_paper` for one day, as the nightly run calls it: day 10 and the last day
(day 1,000), the best of `--repeats` runs each (wall clock; a re-run of a day reads the
day before's state and rewrites the day with the same content). A book whose daily step
reads only the day before's state and the day's data takes the same time on both days.

Each time is also given as a multiple of a reference loop, `sum(i * i for i in
range(3 * 10**7))` timed the same way (best of 3), so figures from different machines or
from a busy shared machine can be compared. Polars runs on one thread, as in the other
benches.

Run: python -m dvol_pipeline_tests.bench.bench_paper [--days 1000] [--repeats 3] [--keep DIR].
"""

from __future__ import annotations

import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # effective only if polars is not imported yet

import argparse  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import date, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from dvol_pipeline.lake.catalog import table  # noqa: E402
from dvol_pipeline.lake.parquet import write_partitions, write_single  # noqa: E402
from dvol_pipeline.pipeline.dvol.paper import run_paper  # noqa: E402
from dvol_pipeline.quant.dvol.backtest.listing import TERM_COLUMNS  # noqa: E402
from dvol_pipeline.quant.dvol.paper import PaperConfig  # noqa: E402
from dvol_pipeline.sources.simulated import SimConfig, SimulatedMarket  # noqa: E402
from dvol_pipeline_tests.bench.reference import best_seconds, reference_line, reference_seconds

FIRST = date(2023, 3, 1)  # the DVOL futures' listing day (quant/dvol/backtest/listing.py): the book trades from day 1
COINS = ["BTC", "ETH"]
FAMILIES = ("har", "garch", "lightgbm", "ensemble")
HORIZONS = (1, 7, 14)
OPTION_STRATEGY = "option_straddle_condor"
CONFIG = PaperConfig(kill_drawdown_frac=float("inf"))
"""No drawdown stop: random signals would halt the books early and leave a history of idle days."""



def build_lake(root: Path, days: int, seed: int = 5) -> None:
    """The scratch lake of the module doc: inputs only, no paper table yet."""
    rng = np.random.default_rng(seed)
    last = FIRST + timedelta(days=days - 1)
    feats, sigs, bt = [], [], []
    for a, lvl in (("BTC", 60.0), ("ETH", 70.0)):
        dvol = np.clip(lvl + np.cumsum(rng.normal(0, 1.5, days)), 25.0, 200.0)
        for i in range(days):
            d = FIRST + timedelta(days=i)
            feats.append({"date": d, "asset": a, "dvol": float(dvol[i]),
                          **{c: float(dvol[i]) + 1.5 * k for k, c in enumerate(TERM_COLUMNS)}})
            primary, family = int(rng.choice(HORIZONS)), str(rng.choice(FAMILIES))
            direction = int(rng.choice([-1, 0, 1]))
            sigs.append({"date": d, "asset": a, "yhat_1d": 0.0, "yhat_7d": float(direction), "yhat_14d": 0.0,
                         "direction": direction, "confidence": 0.6, "primary_horizon": primary, "tau": 0.5,
                         "model_version": " ".join(f"{h}d={family}@{d:%Y-%m}" for h in HORIZONS),
                         "family": family})
            for h in HORIZONS:
                for f in FAMILIES:
                    bt.append({"strategy": f"dvol_futures_{h}d", "family": f, "horizon": h, "asset": a, "date": d,
                               "net_usd": float(rng.normal(0, 800)), "cost_usd": 10.0, "position": float(direction)})
            bt.append({"strategy": OPTION_STRATEGY, "family": "har", "horizon": 7, "asset": a, "date": d,
                       "net_usd": float(rng.normal(0, 400)), "cost_usd": 5.0, "position": 1.0})
    write_partitions(root, "features_daily", pl.DataFrame(feats))
    signals = pl.DataFrame(sigs).with_columns(pl.col("direction").cast(pl.Int8),
                                              pl.col("primary_horizon").cast(pl.Int32))
    # the columns the lake's signals contract has (an older checkout's has no family)
    write_partitions(root, "signals", signals.select([c for c in table("signals").schema if c in signals.columns]))
    write_single(root, "backtest_daily", pl.DataFrame(bt).with_columns(pl.col("horizon").cast(pl.Int32)))
    market = SimulatedMarket(SimConfig(), end=last)
    for name in ("raw_option_chain", "raw_ohlcv"):
        for lo in range(0, days, 100):  # a hundred days at a time: the chain is ~650 options a coin a day
            write_partitions(root, name, market.table(name, FIRST + timedelta(days=lo),
                                                      min(last, FIRST + timedelta(days=lo + 99))))


def run_history(root: Path, days: int, chunk: int) -> None:
    """The paper book over every day of the lake, `chunk` days per run."""
    for lo in range(0, days, chunk):
        run_paper(root, FIRST + timedelta(days=lo), FIRST + timedelta(days=min(days, lo + chunk) - 1), COINS, CONFIG)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=1000)
    parser.add_argument("--early", type=int, default=10, help="the early day timed (1-based)")
    parser.add_argument("--chunk", type=int, default=50, help="days per run while building the history")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the lake here and keep it (default: a temp folder)")
    args = parser.parse_args()
    if not 1 <= args.early < args.days:
        parser.error("--early must be a day before the last")
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_paper_"))
    try:
        t0 = time.perf_counter()
        build_lake(root, args.days)
        t1 = time.perf_counter()
        run_history(root, args.days, args.chunk)
        t2 = time.perf_counter()
        print(f"scratch lake: {args.days} days x {len(COINS)} coins, inputs {t1 - t0:.1f} s, "
              f"paper history {t2 - t1:.1f} s ({args.chunk}-day runs)")
        fills = sum(1 for _ in table("paper_fills").base(root).rglob("*.parquet"))
        sleeve = sum(1 for _ in table("paper_option_fills").base(root).rglob("*.parquet"))
        print(f"lake holds {fills} paper_fills and {sleeve} paper_option_fills partitions")
        ref = reference_seconds()
        print(reference_line(ref))
        times = {}
        for n in (args.early, args.days):
            day = FIRST + timedelta(days=n - 1)
            times[n] = best_seconds(lambda day=day: run_paper(root, day, day, COINS, CONFIG), args.repeats)
            print(f"one end-of-day run_paper, day {n:>5} ({day}): {times[n]:.3f} s "
                  f"= {times[n] / ref:.3f} x reference (best of {args.repeats})")
        print(f"day {args.days} / day {args.early}: {times[args.days] / times[args.early]:.2f}")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
