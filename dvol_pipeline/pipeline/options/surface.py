"""Surfaces and greeks: read a range's chains once, build, write per (coin, day).

Tables (zone `surface`, partitioned like the raw lake): `surface_params` (SVI per expiry,
arbitrage-repaired, raw fit alongside), `surface_model_comparison` (SVI vs SABR in and out of
sample, every `EVAL_EVERY_DAYS`-th day),
`surface_grid` (constant maturity x delta), `surface_features` (the `surface` feature
group), `chain_greeks` (every option's greeks from its own mark IV) and `chain_exposures`
(open-interest exposures per expiry). A day is a pure function of that day's chain, so a
backfill and an end-of-day run write the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from dvol_pipeline.lake.parquet import read_table_or_none, write_partitions
from dvol_pipeline.progress import phased, step
from dvol_pipeline.quant.pricing.options import chain_greeks, exposures_by_expiry
from dvol_pipeline.quant.pricing.surface import EVAL_EVERY_DAYS, LiquidityRules, SurfaceBuild, build_surfaces
from dvol_pipeline.quant.pricing.surface.alerts import ATM30, RR25, AlertRules, iv_spikes, skew_inversions

SURFACE_TABLES = ("surface_params", "surface_grid", "surface_features", "surface_model_comparison")
GREEK_TABLES = ("chain_greeks", "chain_exposures")


@dataclass
class SurfaceRange:
    build: SurfaceBuild | None  # None: no chains in the range (see NO_CHAIN)
    chain_rows: int
    partitions: dict[str, int]


NO_CHAIN = ("no raw_option_chain for {start}..{end} {coins}: nothing to fit (the simulated market and "
            "Deribit provide end-of-day chains; CryptoDataDownload does not)")


def read_chain(root: Path, start: date, end: date, coins: list[str]) -> pl.DataFrame | None:
    """The range's chains, or None when the source provides none (a CDD-only lake)."""
    return read_table_or_none(root, "raw_option_chain", start, end, coins)


def _write(root: Path, name: str, frame: pl.DataFrame) -> int:
    return len(write_partitions(root, name, frame))


@phased("option_surface", total=3)
def build_surface_range(
    root: Path, start: date, end: date, coins: list[str], rules: LiquidityRules = LiquidityRules()
) -> SurfaceRange:
    step(f"read chains {start}..{end}")
    chain = read_chain(root, start, end, coins)
    if chain is None:
        return SurfaceRange(None, 0, {n: 0 for n in SURFACE_TABLES})
    dvol = read_table_or_none(root, "raw_dvol", start, end, coins)
    # the day before the range: the next-day test of the range's first day fits on it
    prior = read_chain(root, start - timedelta(days=1), start - timedelta(days=1), coins)
    step(f"fit and repair SVI, fit SABR, compare, on {chain.height:,} quotes")
    build = build_surfaces(chain, dvol, rules, compare_every=EVAL_EVERY_DAYS, prior_chain=prior)
    del prior
    step(f"write {', '.join(SURFACE_TABLES)}")
    frames = {"surface_params": build.params, "surface_grid": build.grid, "surface_features": build.features,
              "surface_model_comparison": build.comparison}
    return SurfaceRange(build, chain.height, {n: _write(root, n, f) for n, f in frames.items()})


@phased("chain_greeks", total=3)
def build_greeks_range(
    root: Path, start: date, end: date, coins: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]] | None:
    """None when the range has no chains."""
    step(f"read chains {start}..{end}")
    chain = read_chain(root, start, end, coins)
    if chain is None:
        return None
    step(f"greeks of {chain.height:,} quotes")
    greeks = chain_greeks(chain)
    exposures = exposures_by_expiry(greeks)
    step(f"write {', '.join(GREEK_TABLES)}")
    written = {"chain_greeks": _write(root, "chain_greeks", greeks), "chain_exposures": _write(root, "chain_exposures", exposures)}
    return greeks, exposures, written


SIDE_LOOKBACK_DAYS = 30
"""Days before a range read to judge it: the spike's week, and the skew's side before the range."""


def surface_alerts(root: Path, features: pl.DataFrame, rules: AlertRules = AlertRules()
                   ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The range's IV spikes and skew inversions (quant/pricing/surface/alerts.py), judged with the lake's
    `surface_features` of the days just before the range (a one-day run needs its past week; an
    inversion is judged against the side of those days)."""
    cols = ["date", "asset", ATM30, RR25]
    if features.is_empty() or not set(cols) <= set(features.columns):
        empty = pl.DataFrame(schema={"date": pl.Date, "asset": pl.Utf8, ATM30: pl.Float64, RR25: pl.Float64})
        return iv_spikes(empty, rules), skew_inversions(empty, rules)
    start = features["date"].min()
    coins = sorted(features["asset"].unique().to_list())
    before = read_table_or_none(root, "surface_features", start - timedelta(days=SIDE_LOOKBACK_DAYS),
                                start - timedelta(days=1), coins)
    history = features.select(cols) if before is None else pl.concat([before.select(cols), features.select(cols)])
    in_range = pl.col("date") >= start
    return iv_spikes(history, rules).filter(in_range), skew_inversions(history, rules).filter(in_range)
