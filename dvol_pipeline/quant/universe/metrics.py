"""Universe forecast and regime metrics per scope (overall, symbol, market-cap tier, fold, held-out coins).

Every statistic is `quant.stats` (one definition each); Diebold-Mariano is
`quant.metrics.diebold_mariano` against the pooled HAR on the same rows. R²_oos is against
each coin's training-window mean of the target (the forecast a desk has without a model).
The top-20 % hit rate is over the scope's rows. The implied class of a regression is its
forecast bucketed by the fold's thresholds; ROC-AUC (high vs rest) scores the classifier
by its p_high and a regression by its forecast.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from dvol_pipeline.quant import stats
from dvol_pipeline.quant.evaluate import classification
from dvol_pipeline.quant.evaluate.forecast import diebold_mariano
from dvol_pipeline.quant.universe.models import CLASSES
from dvol_pipeline.quant.universe.walkforward import BENCHMARK

SCOPES = (("overall", None), ("symbol", "symbol"), ("tier", "tier"), ("fold", "fold"))


def _scoped(preds: pl.DataFrame):
    """The rows of each scope in turn (one scope in memory at a time); plus scope `held_out_coins`:
    the models trained on every coin, scored on the cross-symbol held-out coins only (the
    like-for-like comparison with split held_out)."""
    for scope, col in SCOPES:
        part = preds.with_columns(pl.lit(scope).alias("scope"),
                                  (pl.col(col).cast(pl.Utf8) if col else pl.lit("ALL")).alias("group"))
        yield part.filter(pl.col("group").is_not_null())
    held = preds.filter(pl.col("split") == "held_out")["symbol"].unique().implode()
    yield preds.filter((pl.col("split") == "all") & pl.col("symbol").is_in(held)).with_columns(
        pl.lit("held_out_coins").alias("scope"), pl.lit("ALL").alias("group"))


def forecast_metrics_table(preds: pl.DataFrame) -> pl.DataFrame:
    scored = preds.filter(pl.col("y").is_not_null() & pl.col("y_hat").is_not_null())
    bench = scored.filter(pl.col("family") == BENCHMARK).select(
        "date", "symbol", "horizon", "split", pl.col("y_hat").alias("y_har"))
    scored = scored.join(bench, on=["date", "symbol", "horizon", "split"], how="left")
    rows = []
    for (scope, group, split, family, h), g in (
            item for part in _scoped(scored) for item in part.group_by("scope", "group", "split", "family", "horizon")):
        y, y_hat = g["y"].to_numpy(), g["y_hat"].to_numpy()
        dm, p = diebold_mariano(y, y_hat, g["y_har"].fill_null(np.nan).to_numpy(), int(h)) if family != BENCHMARK \
            else (float("nan"), float("nan"))
        rows.append({"scope": scope, "group": group, "split": split, "family": family, "horizon": h, "n": len(y),
                     "mae": stats.mae(y, y_hat), "rmse": stats.rmse(y, y_hat),
                     "r2_oos": stats.r2_oos(y, y_hat, g["y_bench"].to_numpy()), "qlike": stats.qlike(y, y_hat),
                     "top20_hit_rate": stats.top_share_hit_rate(y, y_hat, 0.2), "dm_vs_har_pooled": dm, "dm_pvalue": p})
    return pl.DataFrame(rows).with_columns(pl.col("n").cast(pl.Int64), pl.col("horizon").cast(pl.Int32)).sort(
        "scope", "group", "split", "horizon", "family")


def class_metrics_table(preds: pl.DataFrame) -> pl.DataFrame:
    scored = preds.filter(pl.col("class").is_not_null() & pl.col("class_hat").is_not_null())
    rows = []
    for (scope, group, split, family, h), g in (
            item for part in _scoped(scored) for item in part.group_by("scope", "group", "split", "family", "horizon")):
        sc = classification.class_scores(g["class"].to_list(), g["class_hat"].to_list(), CLASSES)
        counts = sc["counts"]
        score = g["p_high"] if family == "lgbm_class" else g["y_hat"]
        row = {"scope": scope, "group": group, "split": split, "family": family, "horizon": h, "n": g.height,
               "accuracy": sc["accuracy"], "precision_macro": sc["precision_macro"], "recall_macro": sc["recall_macro"],
               "f1_macro": sc["f1_macro"],
               "auc_high": classification.roc_auc((g["class"] == "high").to_numpy(), score.fill_null(np.nan).to_numpy())}
        for i, c in enumerate(CLASSES):
            row.update({f"precision_{c}": sc["precision"][i], f"recall_{c}": sc["recall"][i], f"f1_{c}": sc["f1"][i]})
            row.update({f"n_{c}_as_{d}": int(counts[i, j]) for j, d in enumerate(CLASSES)})
        rows.append(row)
    return pl.DataFrame(rows).with_columns(pl.col("n").cast(pl.Int64), pl.col("horizon").cast(pl.Int32)).sort(
        "scope", "group", "split", "horizon", "family")


def calibration_table(preds: pl.DataFrame) -> pl.DataFrame:
    rows = []
    scored = preds.filter((pl.col("split") == "all") & pl.col("y").is_not_null() & pl.col("y_hat").is_not_null())
    for (family, h), g in scored.group_by("family", "horizon"):
        hat, y, n = stats.decile_calibration(g["y"].to_numpy(), g["y_hat"].to_numpy())
        rows += [{"family": family, "horizon": h, "decile": i + 1, "mean_forecast": float(a), "mean_realised": float(b),
                  "n": int(c)} for i, (a, b, c) in enumerate(zip(hat, y, n))]
    return pl.DataFrame(rows).with_columns(pl.col("horizon").cast(pl.Int32), pl.col("decile").cast(pl.Int32)).sort(
        "family", "horizon", "decile")


def headline(forecast: pl.DataFrame, classes: pl.DataFrame) -> pl.DataFrame:
    """Overall, all coins: R²_oos, QLIKE and macro-F1 per family and horizon (the note's table)."""
    f = forecast.filter((pl.col("scope") == "overall") & (pl.col("split") == "all")).select(
        "family", "horizon", "r2_oos", "qlike", "rmse")
    c = classes.filter((pl.col("scope") == "overall") & (pl.col("split") == "all")).select(
        "family", "horizon", "f1_macro", "accuracy", "auc_high")
    return f.join(c, on=["family", "horizon"], how="full", coalesce=True).sort("horizon", "family")
