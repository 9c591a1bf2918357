"""`build_features`: raw tables -> the daily feature table, one row per (date, asset).

Rows: every day raw_dvol has a close, per asset. Each group is built from its own table on
a complete daily grid and left-joined on (date, asset). A group whose table is missing (or
empty) is absent: its columns are not in the frame and it is not in `groups_used`; nothing
is zero-filled. Models train on what exists. Deterministic: no randomness, no wall clock,
a fixed row and column order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import polars as pl

from dvol_pipeline.quant.dvol import regimes
from . import flows, garch, iv, realized
from ._frames import complete_days, extend_after
from .registry import EXTRA_GROUP, FEATURES, GROUPS, LABELS
from .vrp import vrp_features

KEY = ["date", "asset"]
NON_GARCH_LOOKBACK_DAYS = 65
GARCH_RETURNS = "garch_returns"
"""The optional table (asset, date, ret) of returns before the bars read (`garch_series`)."""
ExtraFeatures = Callable[[pl.DataFrame], pl.DataFrame]


@dataclass
class FeatureSet:
    frame: pl.DataFrame
    """date, asset, every available feature (registry order, then extras), y_1d, y_7d, y_14d."""
    groups_used: list[str]
    estimators: dict[str, str]
    garch_fits: pl.DataFrame = field(default_factory=pl.DataFrame)
    """One row per (asset, refit period) whose days the frame holds: the GARCH parameters used
    (empty without GARCH)."""
    returns: pl.DataFrame = field(default_factory=pl.DataFrame)
    """asset, date, ret: the daily log returns GARCH was fitted and filtered on, on a complete
    daily grid per asset (empty without GARCH); what a later build passes as `garch_returns`."""

    @property
    def feature_columns(self) -> list[str]:
        return [c for c in self.frame.columns if c not in KEY and c not in LABELS.values()]



def _table(tables: Mapping[str, pl.DataFrame | None], name: str) -> pl.DataFrame | None:
    t = tables.get(name)
    return None if t is None or t.is_empty() else t


def _join(frame: pl.DataFrame, part: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    return frame.join(part.select(*KEY, *columns), on=KEY, how="left")


def build_features(
    tables: Mapping[str, pl.DataFrame | None],
    *,
    garch_refit: str = "monthly",
    garch_min_obs: int = garch.MIN_OBS,
    garch_window_days: int | None = None,
    extra_features: ExtraFeatures | None = None,
    regime_thresholds: regimes.RegimeThresholds = regimes.RegimeThresholds(),
) -> FeatureSet:
    """Build the feature table from raw tables (name -> frame in its TableSpec schema).

    `garch_refit`: "monthly" (default), "weekly", "quarterly", or "none" (no GARCH group);
    `garch_window_days`: fit on that many days before each refit (None: expanding window).
    See `lookback_days` for how much history a row needs to be reproduced exactly.
    `extra_features`: a hook for research and tests; called with the assembled frame
    (features only, no labels) and must return it with added columns, which join the
    frame as features of group "extra" and are subject to the leakage check like any other
    (the check sees what the hook computes from the frame; data the hook reads from
    elsewhere is outside the contract).
    `regime_thresholds`: the window and marks of the `regime` group (quant/dvol/regimes.py).
    """
    if garch_refit != "none" and garch_refit not in garch.REFIT_EVERY:
        raise ValueError(f"garch_refit={garch_refit!r}; choose one of {sorted(garch.REFIT_EVERY)} or 'none'")
    raw_dvol = _table(tables, "raw_dvol")
    if raw_dvol is None:
        raise ValueError("raw_dvol is required to build features (it defines the rows and the labels); "
                         "ingest DVOL bars for the range first")
    daily = iv.dvol_daily(raw_dvol)
    frame = iv.iv_features(daily)
    groups = {"iv", "calendar"}
    est: dict[str, str] = {"dvol": iv.dvol_bar_kind(raw_dvol)}
    fits, stats, returns = pl.DataFrame(), None, pl.DataFrame()

    ohlcv = _table(tables, "raw_ohlcv")
    if ohlcv is not None:
        frame, fits, stats, returns = _price_groups(frame, ohlcv, groups, est,
                                                    (garch_refit, garch_min_obs, garch_window_days),
                                                    _table(tables, GARCH_RETURNS))

    funding = _table(tables, "raw_funding")
    if funding is not None:
        frame = _join(frame, flows.funding_features(funding), ["funding_mean", "funding_std", "funding_chg5"])
        groups.add("funding")

    summary, chain = _table(tables, "raw_options_summary"), _table(tables, "raw_option_chain")
    if summary is None and chain is not None:
        summary = flows.summary_from_chain(chain)
        est["flow"] = "options summary aggregated from raw_option_chain"
    elif summary is not None:
        est["flow"] = "raw_options_summary"
    if summary is not None:
        fl = flows.flow_features(summary, frame.select(*KEY, "dvol"))
        frame = _join(frame, fl, [f.name for f in FEATURES if f.group == "flow"])
        groups.add("flow")

    surface = _table(tables, "surface_features")
    if surface is not None:
        wanted = [f.name for f in FEATURES if f.group == "surface"]
        have = [c for c in wanted if c in surface.columns]
        surface = surface.unique(KEY, keep="last").sort(KEY)
        frame = _join(frame, surface, [c for c in have if c != regimes.IV30_PCT_FEATURE])
        if "surf_atm_30d" in frame.columns:
            pct = regimes.ranked(regimes.grid(frame.select(*KEY, "surf_atm_30d")), "surf_atm_30d", regime_thresholds,
                                 None, regimes.IV30_PCT_FEATURE)
            frame = _join(frame, pct, [regimes.IV30_PCT_FEATURE])
        groups.add("surface")
        est["surface"] = "raw SVI per expiry of D's end-of-day chain (surface_features)"

    if stats is not None:
        reg = regimes.vol_regimes(frame.select(*KEY, "dvol"), stats.select(*KEY, "rv"), None, regime_thresholds)
        frame = _join(frame, regimes.regime_features(reg), [f.name for f in FEATURES if f.group == "regime"])
        groups.add("regime")
        est["regime"] = "DVOL rank/percentile over 365 days and 20-day realised/implied (quant/dvol/regimes.py)"

    onchain = _table(tables, "raw_onchain")
    if onchain is not None:
        frame = _join(frame, flows.onchain_features(onchain), [f.name for f in FEATURES if f.group == "onchain"])
        groups.add("onchain")

    micro = _table(tables, "micro_daily")
    if micro is not None:  # the micro lane's roll-up, where its tick data covers the days (null elsewhere)
        have = [f.name for f in FEATURES if f.group == "micro" and f.name in micro.columns]
        frame = _join(frame, micro.unique(KEY, keep="last"), have)
        groups.add("micro")
        est["micro"] = "micro_daily: the micro lane's daily roll-up of its intraday features"

    ordered = [f.name for f in FEATURES if f.name in frame.columns]
    frame = frame.select(*KEY, *ordered).sort(KEY)
    if extra_features is not None:
        frame = _add_extra(frame, extra_features)
        groups.add(EXTRA_GROUP)
    frame = frame.join(iv.labels(daily), on=KEY, how="left").sort(KEY)
    used = [g for g in GROUPS if g in groups] + ([EXTRA_GROUP] if EXTRA_GROUP in groups else [])
    return FeatureSet(frame=frame, groups_used=used, estimators=est, garch_fits=fits, returns=returns)


def lookback_days(garch_refit: str = "monthly", garch_window_days: int | None = None,
                  regime_thresholds: regimes.RegimeThresholds = regimes.RegimeThresholds()) -> int | None:
    """Days of history before D that row D depends on (None: all history, expanding GARCH).

    A build from tables starting `lookback_days` before D gives row D exactly as a build
    from the whole history (up to float rounding of sliding sums): the longest window is
    the regime group's year of DVOL closes (D-364..D; dvol_ma66 spans D-65..D). An expanding
    GARCH depends on all history; a windowed one on its fit window before the period start
    plus the period (and the close before the window).
    """
    base = max(NON_GARCH_LOOKBACK_DAYS, regime_thresholds.window_days - 1)
    if garch_refit == "none":
        return base
    if garch_window_days is None:
        return None
    return max(base, garch_window_days + garch.PERIOD_MAX_DAYS[garch_refit])


def garch_series(stats: pl.DataFrame, history: pl.DataFrame | None) -> pl.DataFrame:
    """The daily returns GARCH sees: `history`'s (asset, date, ret) for the days it covers, then
    the bars' own returns (`daily_price_stats`) after its last day per asset; on a complete
    daily grid per asset (missing returns are null; GARCH skips them).

    Why: an expanding-window GARCH fits on every return since the first day, but every other
    feature of day D needs only the year before it. A build that reads a year of bars (the
    end-of-day run) passes the returns an earlier build saw for the days before that year (the
    `garch_returns` table), and fits and filters on exactly the series a build from all history
    would. The first day of a bounded read has no previous close: the history covers it."""
    own = stats.select("asset", "date", pl.col("ret").cast(pl.Float64))
    if history is not None and not history.is_empty():
        own = extend_after(history.select("asset", "date", pl.col("ret").cast(pl.Float64)), own)
    return complete_days(own.sort("asset", "date"))


def _price_groups(frame, ohlcv, groups, est, garch_args, garch_history
                  ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame | None, pl.DataFrame]:
    """rv, jump, garch and vrp from price bars; updates `groups` and `est` in place.
    Also returns the daily price stats (None without usable bars) for the regime group, and
    the returns GARCH used (`garch_series`)."""
    stats = realized.daily_price_stats(ohlcv)
    if stats.is_empty():
        est["realized_vol"] = "absent: raw_ohlcv has no usable 1h or 1d bars"
        return frame, pl.DataFrame(), None, pl.DataFrame()
    rv = realized.realized_features(stats)
    has_jump = rv["bv_1d"].drop_nulls().len() > 0
    for g in ("rv", "jump") if has_jump else ("rv",):
        frame = _join(frame, rv, [f.name for f in FEATURES if f.group == g])
        groups.add(g)
    est |= realized.estimator_summary(stats)
    fits, returns = pl.DataFrame(), pl.DataFrame()
    if garch_args[0] != "none":
        returns = garch_series(stats, garch_history)
        gf, fits = garch.garch_features(returns, *garch_args, since=frame["date"].min())
        frame = _join(frame, gf, ["garch_vol1", "garch_vol30"])
        groups.add("garch")
        est["garch"] = garch.describe(*garch_args)
    groups.add("vrp")
    return vrp_features(frame), fits, stats, returns


def _add_extra(frame: pl.DataFrame, fn: ExtraFeatures) -> pl.DataFrame:
    out = fn(frame)
    if not isinstance(out, pl.DataFrame) or out.height != frame.height or out.columns[: frame.width] != frame.columns:
        raise ValueError("extra_features must return the frame it was given with columns appended (same rows)")
    clash = [c for c in out.columns[frame.width:] if c in LABELS.values()]
    if clash:
        raise ValueError(f"extra_features may not add label columns {clash}")
    return out
