"""Stylised facts of a market's raw tables, measured like MARKET_FACTS.md measures them.

Why a module: the tests assert these figures against bands around the real-market facts,
and a calibration script prints them; one implementation keeps the two honest. Works on
any source's frames (simulated or real) with the raw table shapes.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats


def _acf(x: np.ndarray, lag: int) -> float:
    x = x - x.mean()
    return float(np.dot(x[:-lag], x[lag:]) / np.dot(x, x))


def daily_closes(ohlcv: pl.DataFrame) -> pl.DataFrame:
    """date, asset, close of the spot series (last hourly close of each UTC day)."""
    return (
        ohlcv.filter(pl.col("kind") == "spot")
        .sort("asset", "ts")
        .group_by("asset", pl.col("ts").dt.date().alias("date"), maintain_order=True)
        .agg(close=pl.col("close").last())
    )


def coin_facts(closes: pl.DataFrame, dvol: pl.DataFrame, funding: pl.DataFrame | None = None) -> dict:
    """Facts for one coin from its daily closes, DVOL bars and (optionally) funding."""
    c = closes.sort("date")["close"].to_numpy()
    r = np.diff(np.log(c))
    d = dvol.sort("ts")
    lvl = d["close"].to_numpy()
    dd = np.diff(lvl)
    r_same = r[-dd.size :] if dd.size <= r.size else r
    # DVOL on day t vs realised vol of the next 30 daily returns (close-to-close)
    n = min(lvl.size, c.size)
    lr = np.log(c[:n])
    rets = np.diff(lr)
    rv = np.array([np.sqrt(365.0 / 30.0 * np.sum(rets[t : t + 30] ** 2)) * 100 for t in range(n - 30)])
    vrp = lvl[: n - 30] - rv
    logd = np.log(lvl)
    beta = np.polyfit(logd[:-1], logd[1:], 1)[0]
    wd = d["ts"].dt.weekday().to_numpy()[1:]  # 1 = Monday
    out = {
        "ret_vol_ann": float(r.std() * np.sqrt(365) * 100),
        "ret_exkurt": float(stats.kurtosis(r)),
        "absret_acf1": _acf(np.abs(r), 1),
        "absret_acf5": _acf(np.abs(r), 5),
        "absret_acf10": _acf(np.abs(r), 10),
        "dvol_mean": float(lvl.mean()),
        "dvol_median": float(np.median(lvl)),
        "dvol_p05": float(np.percentile(lvl, 5)),
        "dvol_p95": float(np.percentile(lvl, 95)),
        "dvol_min": float(lvl.min()),
        "dvol_max": float(lvl.max()),
        "ddvol_std": float(dd.std()),
        "ddvol_exkurt": float(stats.kurtosis(dd)),
        "ddvol_share_gt5": float(np.mean(np.abs(dd) > 5)),
        "ddvol_acf1": _acf(dd, 1),
        "dvol_halflife": float(np.log(0.5) / np.log(beta)) if 0 < beta < 1 else float("inf"),
        "dvol_range_median": float((d["high"] - d["low"]).median()),
        "vrp_mean": float(vrp.mean()),
        "vrp_median": float(np.median(vrp)),
        "vrp_share_pos": float(np.mean(vrp > 0)),
        "corr_ddvol_ret": float(np.corrcoef(dd, r_same)[0, 1]),
        "corr_ddvol_absret": float(np.corrcoef(dd, np.abs(r_same))[0, 1]),
        "ddvol_std_by_weekday": [float(dd[wd == k].std()) for k in range(1, 8)],
    }
    if funding is not None:
        fd = funding.group_by(pl.col("ts").dt.date()).agg(pl.col("rate").mean())["rate"].to_numpy()
        out |= {
            "funding_mean": float(fd.mean()),
            "funding_std": float(fd.std()),
            "funding_share_neg": float(np.mean(fd < 0)),
            "funding_p01": float(np.percentile(fd, 1)),
            "funding_p99": float(np.percentile(fd, 99)),
        }
    return out


def market_facts(ohlcv: pl.DataFrame, dvol: pl.DataFrame, funding: pl.DataFrame) -> dict:
    """Per-coin facts plus the BTC/ETH cross facts (when both coins are present)."""
    closes = daily_closes(ohlcv)
    coins = sorted(closes["asset"].unique().to_list())
    out: dict = {
        coin: coin_facts(
            closes.filter(pl.col("asset") == coin),
            dvol.filter(pl.col("asset") == coin),
            funding.filter(pl.col("asset") == coin),
        )
        for coin in coins
    }
    if {"BTC", "ETH"} <= set(coins):
        cl = closes.pivot(on="asset", index="date", values="close").sort("date")
        rb, re_ = (np.diff(np.log(cl[c].to_numpy())) for c in ("BTC", "ETH"))
        dv = dvol.with_columns(date=pl.col("ts").dt.date()).pivot(on="asset", index="date", values="close").sort("date")
        db, de = (dv[c].to_numpy() for c in ("BTC", "ETH"))
        out["cross"] = {
            "ret_corr": float(np.corrcoef(rb, re_)[0, 1]),
            "ddvol_corr": float(np.corrcoef(np.diff(db), np.diff(de))[0, 1]),
            "dvol_ratio_median": float(np.median(de / db)),
        }
    return out
