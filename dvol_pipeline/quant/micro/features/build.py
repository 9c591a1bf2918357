"""`build_features`: micro_bars (plus ticker and liquidations) -> one feature row per bar.

Each (venue, symbol) series is computed on its own as numpy arrays (book, flow, vol, reversion
groups, numba kernels), then the series are joined for what needs several: the spot-perp
basis and BTC against the alts. Nothing reads a row after the bar's close: windows trail, the
recursive smoothers run forward, the other tables join as of the close (`lookahead_check`
verifies it by rebuilding from truncated inputs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import polars as pl

from .book import book_features
from .context import funding_columns, join_ticker, liquidation_notional, main_series, ticker_key
from .flow import flow_features, liquidation_features
from .frames import arrays, coin_expr, pair_expr
from .kernels import rolling_corr, rolling_z
from .registry import INT_FEATURES, NAMES, PRE_FUNDING_MINUTES, W, W_L, W_XL, missing_features
from .reversion import reversion_features
from .vol import vol_features

KEY = ["ts", "venue", "symbol", "bar"]
ExtraFeature = Callable[[dict[str, np.ndarray]], np.ndarray]
"""A research/test feature: the series' arrays (bar columns, `price`, `ret_bps`, `ts`) -> one value per bar."""


def _series(group: pl.DataFrame, liq: pl.DataFrame | None, extra: Mapping[str, ExtraFeature]) -> pl.DataFrame:
    b = arrays(group)
    cols: dict[str, np.ndarray] = {}
    for fn in (book_features, flow_features, vol_features, reversion_features):
        cols.update(fn(b))
    if "__tk_funding_rate" in group.columns or "__tk_mark_price" in group.columns:
        fund = funding_columns(group)
        cols["funding_bps"] = fund["funding_bps"]
        cols["funding_z"] = rolling_z(fund["funding_bps"], W_XL)
        cols["premium_bps"] = fund["premium_bps"]
        cols["time_to_funding_min"] = fund["time_to_funding_min"]
        oi = fund["open_interest"]
        with np.errstate(invalid="ignore", divide="ignore"):
            lagged = np.full(oi.size, np.nan)
            lagged[W:] = oi[:-W] if oi.size > W else lagged[W:]
            cols["oi_chg_pct"] = np.where((oi > 0) & (lagged > 0), 100 * np.log(oi / lagged), np.nan)
    if liq is not None:
        notional = liquidation_notional(b["ts"], liq["ts_local"].dt.epoch("ns").to_numpy(),
                                        liq["notional"].cast(pl.Float64).fill_null(0.0).to_numpy())
        cols.update(liquidation_features(notional))
    for name, fn in extra.items():
        cols[name] = np.asarray(fn(b), dtype=np.float64)
    cols["__logp"], cols["__ret"] = b["logp"], b["ret_bps"]
    return group.select(KEY + ["__coin", "__pair"]).with_columns(
        [pl.Series(k, v, pl.Float64, nan_to_null=True) for k, v in cols.items()])


def _by_series(frame: pl.DataFrame, fn: Callable[[pl.DataFrame], dict[str, np.ndarray]]) -> pl.DataFrame:
    parts = []
    for part in frame.partition_by(["venue", "symbol"], maintain_order=True):
        part = part.sort("ts")
        parts.append(part.with_columns([pl.Series(k, v, pl.Float64, nan_to_null=True) for k, v in fn(part).items()]))
    return pl.concat(parts, how="diagonal_relaxed") if parts else frame


def _f64(part: pl.DataFrame, name: str) -> np.ndarray:
    return part[name].cast(pl.Float64).fill_null(np.nan).to_numpy()


def _btc_features(frame: pl.DataFrame) -> pl.DataFrame:
    """BTC-leads-alt correlations, contemporaneous correlation and the ratio z-scores (null on BTC)."""
    btc = main_series(frame, pl.col("__coin") == "BTC", ["venue"]).sort("ts")
    if btc.height == 0:
        return frame
    btc = btc.select("venue", "ts", __btc_logp="__logp", __btc_ret="__ret").with_columns(
        [pl.col("__btc_ret").shift(k).over("venue").alias(f"__btc_ret_{k}") for k in (1, 2, 3)])
    joined = frame.join(btc, on=["venue", "ts"], how="left")

    def fn(part: pl.DataFrame) -> dict[str, np.ndarray]:
        n = part.height
        if part["__coin"][0] == "BTC":
            return {}
        r = _f64(part, "__ret")
        out = {f"btc_lead_{k}": rolling_corr(r, _f64(part, f"__btc_ret_{k}"), W) for k in (1, 2, 3)}
        out["btc_corr"] = rolling_corr(r, _f64(part, "__btc_ret"), W)
        spread = _f64(part, "__logp") - _f64(part, "__btc_logp")
        for w in (W, W_L):
            out[f"btc_ratio_z_{w}"] = rolling_z(spread, w) if n else spread
        return out

    out = _by_series(joined, fn)
    return out.drop([c for c in out.columns if c.startswith("__btc_")])


def _basis_features(frame: pl.DataFrame) -> pl.DataFrame:
    """Spot-perp basis of each `<x>_spot` / `<x>_usdm` pair of one coin, at the same bar close."""
    keys = ["__pair", "__coin"]
    spot = main_series(frame, pl.col("venue").str.ends_with("_spot"), keys)
    perp = main_series(frame, pl.col("venue").str.ends_with("_usdm"), keys)
    if spot.height == 0 or perp.height == 0:
        return frame
    pair = (spot.select(*keys, "ts", __s="__logp").join(perp.select(*keys, "ts", __p="__logp"), on=[*keys, "ts"])
            .sort("ts").with_columns(basis_bps=1e4 * ((pl.col("__p") - pl.col("__s")).exp() - 1.0)))
    if pair.height == 0:
        return frame
    parts = []
    for part in pair.partition_by(keys, maintain_order=True):
        z = rolling_z(part["basis_bps"].fill_null(np.nan).to_numpy(), W_L)
        parts.append(part.with_columns(basis_z=pl.Series(z, dtype=pl.Float64, nan_to_null=True)))
    pair = pl.concat(parts).select(*keys, "ts", "basis_bps", "basis_z")
    eligible = pl.col("venue").str.ends_with("_spot") | pl.col("venue").str.ends_with("_usdm")
    with_basis = frame.filter(eligible).join(pair, on=[*keys, "ts"], how="left")
    return pl.concat([with_basis, frame.filter(~eligible)], how="diagonal_relaxed")


def _calendar(frame: pl.DataFrame) -> pl.DataFrame:
    t = pl.col("ts") - pl.duration(nanoseconds=1)
    exprs = [t.dt.hour().cast(pl.Int8).alias("hour"), t.dt.weekday().cast(pl.Int8).alias("weekday"),
             (t.dt.date() == t.dt.month_end().dt.date()).cast(pl.Int8).alias("is_month_end")]
    if "time_to_funding_min" in frame.columns:
        exprs.append((pl.col("time_to_funding_min") <= PRE_FUNDING_MINUTES).cast(pl.Int8).alias("pre_funding"))
    return frame.with_columns(exprs)


def _interactions(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        ofi_z_x_depth_imb_5=pl.col("ofi_z") * pl.col("depth_imb_5"),
        vpin_x_spread_z=pl.col("vpin_bvc") * pl.col("spread_z"),
        trade_imb_x_kyle=pl.col("trade_imb_20") * pl.col("kyle_lambda"))


def build_features(bars: pl.DataFrame, ticker: pl.DataFrame | None = None, liquidations: pl.DataFrame | None = None,
                   bar: str = "1m", extra_features: Mapping[str, ExtraFeature] | None = None) -> pl.DataFrame:
    """One row per (venue, symbol, ts) of the `bar` kind: ts, venue, symbol, bar and every feature of
    the registry (null where `missing_features` says an input is absent), then `extra_features`."""
    extra = dict(extra_features or {})
    rows = bars.filter(pl.col("bar") == bar).unique(["venue", "symbol", "ts"], keep="last", maintain_order=True)
    rows = ticker_key(rows).with_columns(__pair=pair_expr("venue"))
    if ticker is not None and ticker.height:
        rows = join_ticker(rows, ticker)
    liq_by_key: dict[tuple[str, str], pl.DataFrame] = {}
    if liquidations is not None:
        liq = liquidations.with_columns(__coin=coin_expr("symbol")).sort("ts_local")
        liq_by_key = {k: g for k, g in liq.partition_by(["venue", "__coin"], as_dict=True).items()}
    empty_liq = pl.DataFrame({"ts_local": pl.Series([], dtype=pl.Datetime("ns", "UTC")),
                              "notional": pl.Series([], dtype=pl.Float64)})
    parts = []
    for part in rows.partition_by(["venue", "symbol"], maintain_order=True):
        part = part.sort("ts")
        liq_part = None
        if liquidations is not None:
            liq_part = liq_by_key.get((part["__tk_venue"][0], part["__coin"][0]), empty_liq)
        parts.append(_series(part, liq_part, extra))
    if not parts:
        schema = {"ts": pl.Datetime("ns", "UTC"), "venue": pl.Utf8, "symbol": pl.Utf8, "bar": pl.Utf8}
        return pl.DataFrame(schema=schema | {n: pl.Int8 if n in INT_FEATURES else pl.Float64 for n in NAMES}
                            | {n: pl.Float64 for n in extra})
    frame = pl.concat(parts, how="diagonal_relaxed")
    frame = _basis_features(_btc_features(frame))
    frame = _interactions(_calendar(frame))
    for name in NAMES:
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.Int8 if name in INT_FEATURES else pl.Float64).alias(name))
    gone = missing_features(bars.filter(pl.col("bar") == bar), ticker, liquidations)
    if gone:
        frame = frame.with_columns([pl.lit(None, frame.schema[n]).alias(n) for n in gone])
    return (frame.select(KEY + NAMES + list(extra))
            .with_columns(pl.col("ts").cast(pl.Datetime("ns", "UTC")))
            .sort(["venue", "symbol", "ts"]))
