"""End-of-day signals: score each new day with the promoted model of every horizon.

Why a separate step from `oos_predictions`: the monthly fold trains on the 1st, before the
month's days exist; each evening the day's features arrive and the fold's saved models
score them. The signal for day D uses the models of D's month (trained on data purged
before that month) and the promotion decided from folds before it, so it is exactly what
a desk would have seen that evening. A month whose fold has not run yet falls back to the
newest earlier fold, and the row says so in `model_version`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from dvol_pipeline.lake.forecasts import read_predictions
from dvol_pipeline.lake.parquet import read_table, write_partitions
from dvol_pipeline.quant.forecast import HORIZONS
from dvol_pipeline.quant.models.base import Forecaster
from dvol_pipeline.quant.models.ensemble import Ensemble

SIGNALS_ZONE = "signals"
SIGNALS_TABLE = "signals"
CONTEXT_DAYS = 120
"""Feature history handed to the models: the LSTM reads 90-day sequences."""

SIGNAL_SCHEMA = {
    "date": pl.Date, "asset": pl.Utf8, "yhat_1d": pl.Float64, "yhat_7d": pl.Float64, "yhat_14d": pl.Float64,
    "direction": pl.Int8, "confidence": pl.Float64, "primary_horizon": pl.Int32, "tau": pl.Float64,
    "model_version": pl.Utf8,
}
SIGNAL_DOCS = {
    "date": "UTC day whose close the signal is computed at (act from the next day)",
    "asset": "coin",
    "yhat_1d": "forecast DVOL change over the next day (vol points), promoted 1-day model",
    "yhat_7d": "forecast DVOL change over the next 7 days (vol points), promoted 7-day model",
    "yhat_14d": "forecast DVOL change over the next 14 days (vol points), promoted 14-day model",
    "direction": "+1 long DVOL, -1 short, 0 flat: the primary horizon's forecast against its threshold tau",
    "confidence": "share of past out-of-sample signals of this model beyond tau whose sign was right (0 when flat)",
    "primary_horizon": "the horizon whose promoted futures strategy had the best past net Sharpe",
    "tau": "the primary horizon's threshold (vol points), chosen on past folds only",
    "model_version": "family@fold per horizon, e.g. '1d=har@2024-06 7d=garch@2024-06 14d=garch@2024-06'",
}


@dataclass(frozen=True)
class Promotion:
    """What the signals need from `model_promotion` for one coin."""

    family: dict[int, str]  # horizon -> promoted family
    tau: dict[int, float]  # horizon -> threshold (vol points)
    confidence: dict[int, float]  # horizon -> past hit-rate of active signals
    primary: int  # horizon that sets the direction


def promotions_from_table(table: pl.DataFrame) -> dict[str, Promotion]:
    """`model_promotion` rows (asset, horizon, promoted_family, tau, hit_rate_active, primary) by coin."""
    out = {}
    for asset, rows in table.partition_by("asset", as_dict=True, maintain_order=True).items():
        rows = rows.sort("horizon")
        primary = rows.filter(pl.col("primary"))["horizon"]
        out[asset[0]] = Promotion(
            family=dict(zip(rows["horizon"], rows["promoted_family"], strict=True)),
            tau=dict(zip(rows["horizon"], rows["tau"].fill_null(0.0), strict=True)),
            confidence=dict(zip(rows["horizon"], rows["hit_rate_active"].fill_null(0.5), strict=True)),
            primary=int(primary[0]) if primary.len() else 7,
        )
    return out


def model_folder(root: Path, family: str, fold: str, horizon: int) -> Path:
    return root / "models" / family / fold / f"h{horizon}"


def fold_with_models(root: Path, family: str, horizon: int, day: date) -> str | None:
    """The fold of `day`'s month if its models exist, else the newest earlier one."""
    month = f"{day:%Y-%m}"
    # the ensemble is not saved itself; its members are, HAR among them in every fold
    base = root / "models" / ("har" if family == "ensemble" else family)
    folds = sorted(p.name for p in base.glob("*") if (p / f"h{horizon}").exists() and p.name <= month)
    return folds[-1] if folds else None


def _load(root: Path, family: str, fold: str, horizon: int) -> Forecaster:
    if family != "ensemble":
        return Forecaster.load(model_folder(root, family, fold, horizon))
    # the ensemble is not saved: members are, and its weights come from folds before this one
    past = read_predictions(root, before=fold).filter(pl.col("horizon") == horizon)
    ensemble = Ensemble.from_history(past, horizon=horizon, as_of=date.fromisoformat(f"{fold}-01"))
    ensemble.models = {
        m: Forecaster.load(model_folder(root, m, fold, horizon))
        for m, w in ensemble.weights.items()
        if w > 0
    }
    ensemble.window, ensemble.features = {"members": sorted(ensemble.models)}, sorted(
        {f for model in ensemble.models.values() for f in model.features}
    )
    return ensemble


def score_days(root: Path, features: pl.DataFrame, days: list[date], promotions: dict[str, Promotion]) -> pl.DataFrame:
    """One signal row per (day, coin) in `days` with features; see SIGNAL_DOCS."""
    rows = []
    cache: dict[tuple[str, str, int], Forecaster] = {}
    for asset, promo in sorted(promotions.items()):
        coin = features.filter(pl.col("asset") == asset).sort("date")
        for day in days:
            context = coin.filter(pl.col("date").is_between(day - timedelta(days=CONTEXT_DAYS), day))
            if context.is_empty() or context["date"][-1] != day:
                continue
            yhat, versions = {}, []
            for h in HORIZONS:
                family = promo.family.get(h, "har")
                fold = fold_with_models(root, family, h, day)
                if fold is None:
                    yhat[h] = float("nan")
                    versions.append(f"{h}d=none")
                    continue
                key = (family, fold, h)
                if key not in cache:
                    cache[key] = _load(root, family, fold, h)
                yhat[h] = float(cache[key].predict(context)[-1])
                stale = "" if fold == f"{day:%Y-%m}" else "(stale)"
                versions.append(f"{h}d={family}@{fold}{stale}")
            h0, tau = promo.primary, promo.tau.get(promo.primary, 0.0)
            y0 = yhat[h0]
            direction = 0 if not np.isfinite(y0) else (1 if y0 >= tau else -1 if y0 <= -tau else 0)
            rows.append({
                "date": day, "asset": asset, "yhat_1d": yhat[1], "yhat_7d": yhat[7], "yhat_14d": yhat[14],
                "direction": direction, "confidence": promo.confidence.get(h0, 0.5) if direction else 0.0,
                "primary_horizon": h0, "tau": tau, "model_version": " ".join(versions),
            })
    return pl.DataFrame(rows, schema=SIGNAL_SCHEMA) if rows else pl.DataFrame(schema=SIGNAL_SCHEMA)


def build_signals(root: Path, start: date, end: date, coins: list[str], promotion_table: pl.DataFrame) -> pl.DataFrame:
    """Score [start, end] and write one signals partition per (coin, day)."""
    features = read_table(root, "features", "features_daily", start - timedelta(days=CONTEXT_DAYS), end, coins)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    promotions = {a: p for a, p in promotions_from_table(promotion_table).items() if a in coins}
    signals = score_days(root, features, days, promotions)
    write_partitions(root, SIGNALS_ZONE, SIGNALS_TABLE, signals, "date", ["asset", "date"])
    return signals
