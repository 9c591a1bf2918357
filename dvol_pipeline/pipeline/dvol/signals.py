"""End-of-day signals: score each new day with the promoted model of every horizon.

Why a separate step from `oos_predictions`: the monthly fold trains on the 1st, before the
month's days exist; each evening the day's features arrive and the fold's saved models
score them. The signal for day D uses the models of D's month (trained on data purged
before that month) and the promotion decided from folds before it, so it is exactly what
a desk would have seen that evening. A month whose fold has not run yet falls back to the
newest earlier fold, and the row says so in `model_version`. The rule itself (direction,
confidence, fallbacks, the row's `model_version` and `family`) is quant/dvol/signals.py.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl

from dvol_pipeline.lake.catalog import table
from dvol_pipeline.lake.parquet import read_table, write_partitions
from dvol_pipeline.pipeline.dvol.forecasts import model_store
from dvol_pipeline.quant.dvol.features import HORIZONS
from dvol_pipeline.quant.dvol.forecast import CONTEXT_DAYS
from dvol_pipeline.quant.learn.base import Forecaster
from dvol_pipeline.quant.dvol.signals import (
    Promotion,
    Scored,
    SignalConfig,
    decide,
    followed_family,
    model_version,
    promotions_from_table,
)

SIGNALS_TABLE = "signals"
SIGNAL_SCHEMA = table(SIGNALS_TABLE).schema


def score_days(
    root: Path, features: pl.DataFrame, days: list[date], promotions: dict[str, Promotion],
    config: SignalConfig = SignalConfig(),
) -> pl.DataFrame:
    """One signal row per (day, coin) in `days` with features; see the catalog's `signals` columns."""
    rows = []
    store = model_store(root)
    cache: dict[tuple[str, str, int], Forecaster] = {}
    for asset, promo in sorted(promotions.items()):
        coin = features.filter(pl.col("asset") == asset).sort("date")
        for day in days:
            context = coin.filter(pl.col("date").is_between(day - timedelta(days=CONTEXT_DAYS), day))
            if context.is_empty() or context["date"][-1] != day:
                continue
            yhat, models = {}, {}
            for h in HORIZONS:
                family = promo.family_for(h, config)
                models[h] = Scored(family, store.newest_fold(family, h, f"{day:%Y-%m}"))
                if models[h].fold is None:
                    yhat[h] = float("nan")
                    continue
                key = (family, models[h].fold, h)
                if key not in cache:
                    cache[key] = store.load(*key)
                yhat[h] = float(cache[key].predict(context)[-1])
            d = decide(yhat, promo, config)
            rows.append({
                "date": day, "asset": asset, **{f"yhat_{h}d": yhat[h] for h in HORIZONS},
                "direction": d.direction, "confidence": d.confidence, "primary_horizon": d.primary_horizon,
                "tau": d.tau, "model_version": model_version(models, day), "family": followed_family(models, d),
            })
    return pl.DataFrame(rows, schema=SIGNAL_SCHEMA) if rows else pl.DataFrame(schema=SIGNAL_SCHEMA)


def build_signals(
    root: Path, start: date, end: date, coins: list[str], promotion_table: pl.DataFrame,
    config: SignalConfig = SignalConfig(),
) -> pl.DataFrame:
    """Score [start, end] and write one signals partition per (coin, day)."""
    features = read_table(root, "features_daily", start - timedelta(days=CONTEXT_DAYS), end, coins)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    promotions = {a: p for a, p in promotions_from_table(promotion_table, config).items() if a in coins}
    signals = score_days(root, features, days, promotions, config)
    write_partitions(root, SIGNALS_TABLE, signals)
    return signals
