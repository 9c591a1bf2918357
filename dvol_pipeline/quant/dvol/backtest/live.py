"""The decisions that turn a walk-forward backtest into what trades: per-fold and live promotion.

* `promotion_history`: `promote()` as of every fold, i.e. which family each horizon would
  have traded that month, decided on the folds before it.
* `live_promotion`: the decision as of the newest fold, per coin and horizon, with the
  fold's threshold, the past hit rate of its active signals, and the primary horizon (the
  one whose promoted futures strategy had the best past net Sharpe) that sets a signal's
  direction.
* `option_signals`: the futures signal of the family promoted as of each day's fold, which
  the option book trades.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from dvol_pipeline.quant.dvol.backtest.listing import TERM_COLUMNS
from dvol_pipeline.quant.dvol.backtest.promotion import fold_start, promote
from dvol_pipeline.quant.stats import active_hit_rate

OPTION_HORIZON = 7
"""The option book trades the 7-day forecast: its straddles hold 7-21 days to expiry."""
HISTORY_SCHEMA = {"fold": pl.Utf8, "horizon": pl.Int32, "promoted_family": pl.Utf8, "reason": pl.Utf8}


def market_frame(features: pl.DataFrame) -> pl.DataFrame:
    """What the futures backtest reads from features_daily (the surface's ATM term structure
    prices the listed futures' basis); absent feature groups become nulls."""
    cols = {"jump_1d": pl.Float64, "jump_share_1d": pl.Float64, "funding_mean": pl.Float64, "regime_code": pl.Int8,
            **{c: pl.Float64 for c in TERM_COLUMNS}}
    missing = [pl.lit(None, dtype=t).alias(c) for c, t in cols.items() if c not in features.columns]
    return features.with_columns(missing).select("date", "asset", "dvol", *cols)


def _futures(daily: pl.DataFrame) -> pl.DataFrame:
    return daily.filter(pl.col("strategy").str.starts_with("dvol_futures"))


def promotion_history(daily: pl.DataFrame, folds: list[str]) -> pl.DataFrame:
    """promote() as of every fold: which family each horizon would have traded that month."""
    futures = _futures(daily)
    rows = [promote(futures, fold)[0].with_columns(fold=pl.lit(fold)) for fold in folds]
    if not rows:
        return pl.DataFrame(schema=HISTORY_SCHEMA)
    return pl.concat(rows).select(*HISTORY_SCHEMA)


def option_signals(daily: pl.DataFrame, history: pl.DataFrame, horizon: int = OPTION_HORIZON) -> pl.DataFrame:
    """date, asset, signal: the futures signal of the family promoted as of each day's fold."""
    promoted = history.filter(pl.col("horizon") == horizon).select("fold", family="promoted_family")
    return (
        _futures(daily).filter(pl.col("horizon") == horizon)
        .with_columns(fold=pl.col("date").dt.strftime("%Y-%m"))
        .join(promoted, on=["fold", "family"], how="semi")
        .select("date", "asset", signal=pl.col("signal").fill_null(0.0).sign().cast(pl.Int8))
        .sort("asset", "date")
    )


def live_promotion(
    daily: pl.DataFrame, thresholds: pl.DataFrame, predictions: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(model_promotion per coin and horizon, evidence) as of the newest fold."""
    newest = max(predictions["fold"].unique().to_list())
    decisions, evidence = promote(_futures(daily), newest)
    start = fold_start(newest)
    rows = []
    for asset in sorted(predictions["asset"].unique().to_list()):
        for horizon, family, reason in decisions.select("horizon", "promoted_family", "reason").iter_rows():
            tau = thresholds.filter(
                (pl.col("family") == family) & (pl.col("horizon") == horizon)
                & (pl.col("asset") == asset) & (pl.col("fold") == newest)
            )["tau"]
            tau_value = float(tau[0]) if tau.len() else float("nan")
            past = predictions.filter(
                (pl.col("family") == family) & (pl.col("horizon") == horizon) & (pl.col("asset") == asset)
                & (pl.col("date") < start - pl.duration(days=horizon)) & pl.col("y").is_not_null()
            )
            rows.append({
                "asset": asset, "horizon": int(horizon), "promoted_family": family, "reason": reason,
                "tau": tau_value, "as_of_fold": newest,
                "hit_rate_active": _none_if_nan(active_hit_rate(past["y_hat"].to_numpy(), past["y"].to_numpy(), tau_value)),
                "past_net_sharpe": _past_sharpe(evidence, horizon, family),
            })
    # all-null columns (no past trades, e.g. a history that ends before the futures' listing) keep their type
    table = pl.DataFrame(rows, schema_overrides={"tau": pl.Float64, "hit_rate_active": pl.Float64,
                                                 "past_net_sharpe": pl.Float64}).with_columns(pl.col("horizon").cast(pl.Int32))
    best = (
        table.sort("past_net_sharpe", "horizon", descending=[True, False], nulls_last=True)
        .group_by("asset", maintain_order=True).first().select("asset", primary_horizon="horizon")
    )
    table = table.join(best, on="asset").with_columns(primary=pl.col("horizon") == pl.col("primary_horizon"))
    columns = ["asset", "horizon", "promoted_family", "reason", "tau", "hit_rate_active", "as_of_fold",
               "past_net_sharpe", "primary"]
    return table.select(columns).sort("asset", "horizon"), evidence


def _none_if_nan(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def _past_sharpe(evidence: pl.DataFrame, horizon: int, family: str) -> float | None:
    row = evidence.filter((pl.col("horizon") == horizon) & (pl.col("family") == family))["net_sharpe"]
    return None if row.len() == 0 or row[0] is None else float(row[0])
