"""A small lake holding every table the API and dashboard read, written through the lake's
own writers (so each file passes its contract), with values a test can check by hand.

Signals for BTC and ETH on every day of DAYS except HOLE (a missing day between held ones);
surfaces, greeks and exposures for the last SURFACE_DAYS days; a `version` number is baked
into the values so a test can tell the old partition from a rewritten one.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from dvol_pipeline.lake.catalog import table
from dvol_pipeline.lake.parquet import write_fold, write_partitions, write_single
from dvol_pipeline_tests.toy_market import toy_table

COINS = ("BTC", "ETH")
START, END = date(2024, 11, 22), date(2024, 12, 31)
HOLE = date(2024, 12, 10)
DAYS = [START + timedelta(days=i) for i in range((END - START).days + 1)]
SIGNAL_DAYS = [d for d in DAYS if d != HOLE]
SURFACE_DAYS = DAYS[-5:]
TENORS = (7, 30, 60, 90)
DELTAS = ("10P", "25P", "ATM", "25C", "10C")
EXPIRY_DAYS = (3, 10, 38)
STRIKES = (50_000.0, 60_000.0, 70_000.0)
LEVEL = {"BTC": 55.0, "ETH": 70.0}


def _utc(day: date, hours: float = 0.0) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hours)


def expiry_code(when: datetime) -> str:
    """Deribit's 27DEC24 style."""
    return f"{when.day}{when:%b%y}".upper()


def signal_rows(days: list[date], coins=COINS, version: int = 0) -> pl.DataFrame:
    rows = []
    for coin in coins:
        for d in days:
            i = (d - START).days
            v = version + i / 100
            rows.append({"date": d, "asset": coin, "yhat_1d": v, "yhat_7d": v, "yhat_14d": v if i else float("nan"),
                         "direction": 1 if i % 2 else -1, "confidence": 0.6, "primary_horizon": 7, "tau": 1.5,
                         "model_version": f"v{version} 1d=har@{d:%Y-%m} 7d=har@{d:%Y-%m} 14d=har@{d:%Y-%m}"})
    return pl.DataFrame(rows, schema=table("signals").schema)


def surface_rows(days: list[date], coins=COINS, version: int = 0) -> dict[str, pl.DataFrame]:
    params, grid, feats, greeks, exposures = [], [], [], [], []
    for coin in coins:
        for d in days:
            snap, atm = _utc(d, 23 + 59 / 60), LEVEL[coin] + version - 0.5 * (END - d).days
            for n, days_out in enumerate(EXPIRY_DAYS):
                expiry = _utc(d + timedelta(days=days_out), 8)
                T = (expiry - snap).total_seconds() / (365 * 86400)
                w = (atm / 100) ** 2 * T
                params.append({"date": d, "ts": snap, "asset": coin, "expiry": expiry, "T": T,
                               "days_to_expiry": T * 365, "forward": 60_000.0, "a": w * 0.8, "b": w, "rho": -0.2,
                               "m": 0.0, "sigma": 0.2 + 0.05 * n, "n_points": 20, "rmse_vol": 0.1,
                               "max_abs_err_vol": 0.2, "atm_iv": atm, "repaired": False, "rmse_vol_raw": 0.1})
                for strike in STRIKES:
                    for typ in ("C", "P"):
                        name = f"{coin}-{expiry_code(expiry)}-{int(strike)}-{typ}"
                        greeks.append({"ts": snap, "date": d, "asset": coin, "instrument_name": name, "expiry": expiry,
                                       "strike": strike, "option_type": typ, "T": T, "forward": 60_000.0,
                                       "mark_iv": atm + version, "delta": 0.5 if typ == "C" else -0.5,
                                       "gamma": 1e-5, "vega": 20.0 + version, "theta": -5.0, "open_interest": 10.0})
                exposures.append({"ts": snap, "date": d, "asset": coin, "expiry": expiry, "days_to_expiry": T * 365,
                                  "n_options": 6, "open_interest": 60.0, "net_delta_coin": 1.0 + version,
                                  "net_gamma_usd": 1000.0 * (n + 1), "net_vega_usd": 500.0 * (n + 1),
                                  "net_theta_usd": -300.0 * (n + 1), "call_oi": 30.0, "put_oi": 30.0})
            for tenor in TENORS:
                for j, label in enumerate(DELTAS):
                    grid.append({"date": d, "asset": coin, "tenor_days": tenor, "delta_label": label,
                                 "k": (j - 2) * 0.05, "iv": atm + abs(j - 2) + tenor / 100})
            feats.append({"date": d, "asset": coin, **{f"surf_atm_{t}d": atm + t / 100 for t in TENORS},
                          "surf_term_slope": 0.8, "surf_rr25_30d": -1.5 + version, "surf_bf25_30d": 1.0,
                          "surf_dvol_replica": atm, "surf_replica_gap": 0.1, "surf_fit_rmse": 0.1})
    schema = lambda name: {c.name: c.dtype for c in table(name).columns}  # noqa: E731
    frames = {"surface_params": params, "surface_grid": grid, "surface_features": feats, "chain_greeks": greeks,
              "chain_exposures": exposures}
    return {name: pl.DataFrame(rows).cast(schema(name)) for name, rows in frames.items()}


UNIVERSE_COINS = ("ADA", "DOGE", "SOL", "XRP")
UNIVERSE_DAYS = DAYS[-30:]


def universe_rows() -> tuple[pl.DataFrame, pl.DataFrame]:
    """The universe lane's predictions (horizons 7 and 14; har_pooled, lgbm and the classifier; the last
    `h` days not yet realised) and forecast metrics (folds 2024-11, 2024-12 and overall)."""
    rows = []
    for n, coin in enumerate(UNIVERSE_COINS):
        for h in (7, 14):
            for i, d in enumerate(UNIVERSE_DAYS):
                y = 0.5 + 0.1 * n + 0.05 * math.sin(i / 4) if i < len(UNIVERSE_DAYS) - h else None
                base = {"date": d, "symbol": coin, "target": "rv", "horizon": h, "fold": f"{d:%Y-%m}",
                        "split": "all", "y": y, "class": None if y is None else "mid"}
                for fam, bias in (("har_pooled", 0.02), ("lgbm", -0.03)):
                    rows.append({**base, "family": fam, "y_hat": 0.5 + 0.1 * n + bias + 0.04 * math.sin((i - 1) / 4),
                                 "class_hat": "mid", "p_low": None, "p_mid": None, "p_high": None})
                p_high = (n + 1) / 10 + i / 200
                rows.append({**base, "family": "lgbm_class", "y_hat": None,
                             "class_hat": "high" if p_high > 0.35 else "mid",
                             "p_low": 0.3, "p_mid": 0.7 - p_high, "p_high": p_high})
    preds = pl.DataFrame(rows).with_columns(pl.col("horizon").cast(pl.Int32))
    metrics = pl.DataFrame([{"scope": scope, "group": group, "family": fam, "horizon": h, "split": "all", "n": 100,
                             "qlike": q + (0.05 if fam == "lgbm" else 0.0), "rmse": q / 2}
                            for scope, group, q in (("fold", "2024-11", 0.4), ("fold", "2024-12", 0.5),
                                                    ("overall", "ALL", 0.45))
                            for fam in ("har_pooled", "lgbm") for h in (7, 14)]).with_columns(
        pl.col("horizon").cast(pl.Int32), pl.col("n").cast(pl.Int64))
    return preds, metrics


def build(root: Path, universe: bool = False) -> Path:
    """Write the whole small lake under `root` (with the universe lane's tables when `universe`)."""
    root.mkdir(parents=True, exist_ok=True)
    write_partitions(root, "raw_dvol", toy_table("raw_dvol", START, END, COINS))
    feats = pl.DataFrame([{"date": d, "asset": c, "dvol": LEVEL[c] + math.sin(i / 5)}
                          for c in COINS for i, d in enumerate(DAYS)])
    write_partitions(root, "features_daily", feats)
    write_partitions(root, "signals", signal_rows(SIGNAL_DAYS))
    for name, frame in surface_rows(SURFACE_DAYS).items():
        write_partitions(root, name, frame)
    preds = pl.DataFrame([{"date": d, "asset": c, "horizon": 7, "family": "har", "fold": f"{d:%Y-%m}",
                           "y_hat": 0.5, "y": None} for c in COINS for d in DAYS],
                         schema=table("oos_predictions").schema)
    for (fold,), part in preds.partition_by("fold", as_dict=True).items():
        write_fold(root, "oos_predictions", fold, part)
    promo = pl.DataFrame([{"asset": c, "horizon": h, "promoted_family": "har", "reason": "test", "tau": 1.5,
                           "hit_rate_active": 0.6, "as_of_fold": "2024-12", "past_net_sharpe": 1.0,
                           "primary": h == 7} for c in COINS for h in (1, 7, 14)],
                         schema=table("model_promotion").schema)
    write_single(root, "model_promotion", promo)
    daily = pl.DataFrame([{"date": d, "asset": c, "strategy": s, "family": "har", "sample": "oos",
                           "net_usd": 10.0, "equity_usd": 10.0 * (i + 1), "drawdown_usd": -float(i % 3)}
                          for c in COINS for s in ("dvol_futures_7d", "dvol_futures_1d") for i, d in enumerate(DAYS)])
    write_single(root, "backtest_daily", daily)
    if universe:
        preds, metrics = universe_rows()
        write_single(root, "universe_predictions", preds)
        write_single(root, "universe_forecast_metrics", metrics)
    return root
