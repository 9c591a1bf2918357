"""The desk's one-row-per-coin view of the universe lane's tables: which family to show, and its rows.

The universe lane's decision, read by the service (`serve/views.py`, which presents every lane
from the lake). It reads the lane's tables by column name, as the service reads every table.

The family shown at a horizon is the regression family with the lowest QLIKE pooled over the
folds *before* the newest fold (n-weighted mean of the `fold` scope of
`universe_forecast_metrics`, split `all`), RMSE breaking ties; where no earlier fold is scored
(a lake with one fold), the `overall` scope stands in and the answer says so. The classifier
(`lgbm_class`) has no vol forecast and is never chosen; it gives the regime and its
probabilities.
"""

from __future__ import annotations

import math

import polars as pl

CLASSIFIER = "lgbm_class"


def choose_family(metrics: pl.DataFrame, horizon: int, before_fold: str | None) -> tuple[str | None, str]:
    """The family to show at `horizon` and how it was chosen (a sentence)."""
    m = metrics.filter((pl.col("split") == "all") & (pl.col("horizon") == horizon)
                       & (pl.col("family") != CLASSIFIER) & pl.col("qlike").is_not_null()
                       & pl.col("qlike").is_not_nan())
    past = m.filter((pl.col("scope") == "fold") & (pl.col("group") < before_fold)) if before_fold else m.head(0)
    if past.height:
        k = past["group"].n_unique()
        basis = f"lowest n-weighted QLIKE over the {k} fold{'s' if k != 1 else ''} before {before_fold}"
        pool = past
    else:
        pool = m.filter(pl.col("scope") == "overall")
        basis = "lowest overall QLIKE (no earlier fold scored)"
    if pool.is_empty():
        return None, f"no scored regression family at {horizon} d in universe_forecast_metrics"
    ranked = pool.group_by("family").agg(
        ((pl.col("qlike") * pl.col("n")).sum() / pl.col("n").sum()).alias("qlike"),
        ((pl.col("rmse").fill_nan(None) ** 2 * pl.col("n")).sum() / pl.col("n").sum()).sqrt().alias("rmse"),
    ).sort("qlike", "rmse", "family", nulls_last=True)
    return ranked["family"][0], basis


def _f(v) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None


def desk_rows(preds: pl.DataFrame, metrics: pl.DataFrame | None, horizon: int) -> dict:
    """One row per coin at `horizon`: the chosen family's newest forecast, the classifier's newest regime
    and probabilities, and the newest realised vol next to what the family had forecast for it."""
    p = preds.filter((pl.col("split") == "all") & (pl.col("horizon") == horizon))
    newest_fold = p["fold"].max() if p.height else None
    family, basis = choose_family(metrics, horizon, newest_fold) if metrics is not None and metrics.height \
        else (None, "universe_forecast_metrics has no rows")
    rows = []
    for (symbol,), g in sorted(p.group_by("symbol"), key=lambda kv: kv[0][0]):
        row = {"symbol": symbol, "family": family, "date": None, "forecast": None, "regime": None,
               "p_low": None, "p_mid": None, "p_high": None, "realised_date": None, "realised": None,
               "forecast_then": None, "regime_date": None}
        fam = g.filter((pl.col("family") == family) & pl.col("y_hat").is_not_null()).sort("date")
        if fam.height:
            last = fam.row(-1, named=True)
            row.update(date=last["date"], forecast=_f(last["y_hat"]))
            known = fam.filter(pl.col("y").is_not_null())
            if known.height:
                k = known.row(-1, named=True)
                row.update(realised_date=k["date"], realised=_f(k["y"]), forecast_then=_f(k["y_hat"]))
        cls = g.filter((pl.col("family") == CLASSIFIER) & pl.col("class_hat").is_not_null()).sort("date")
        if cls.height:
            c = cls.row(-1, named=True)
            row.update(regime=c["class_hat"], p_low=_f(c["p_low"]), p_mid=_f(c["p_mid"]), p_high=_f(c["p_high"]),
                       regime_date=c["date"])
        if row["forecast"] is not None or row["regime"] is not None:  # a coin with nothing to show has no row
            rows.append(row)
    return {"horizon": horizon, "family": family, "basis": basis, "rows": rows}


def coin_series(preds: pl.DataFrame, symbol: str, family: str, horizon: int) -> pl.DataFrame:
    """The family's forecast and the realised vol of one coin over time (date, y, y_hat)."""
    return preds.filter((pl.col("split") == "all") & (pl.col("horizon") == horizon) & (pl.col("symbol") == symbol)
                        & (pl.col("family") == family)).select("date", "y", "y_hat").sort("date")
