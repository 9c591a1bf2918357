"""Out-of-sample forecast metrics for ΔDVOL (signal quality, not trading P&L).

R²_oos is measured against the zero-change forecast, the natural benchmark for a change.
The hit rate is `quant.stats.hit_rate`: sign agreement over the rows where both the forecast
and the change are nonzero; `hit_n` is how many rows that is and `zero_n` how many rows were
left out for a zero on either side (a zero forecast makes no call).
The Diebold–Mariano test uses a Newey–West (HAC) variance with h−1 lags, because
overlapping h-day labels make forecast errors autocorrelated (statsmodels does the HAC).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import polars as pl

from dvol_pipeline.quant.evaluate.regime_labels import decode as decode_regime
from dvol_pipeline.quant.learn.names import BENCHMARK
from dvol_pipeline.quant.stats import hit_counts, mae, r2_oos, rmse


@dataclass(frozen=True)
class ForecastMetrics:
    n: int
    rmse: float
    mae: float
    r2_oos: float
    spearman: float
    hit_rate: float
    hit_n: int = 0
    zero_n: int = 0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _clean(y: np.ndarray, y_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.isfinite(y) & np.isfinite(y_hat)
    return y[keep], y_hat[keep]


def forecast_metrics(y: np.ndarray, y_hat: np.ndarray) -> ForecastMetrics:
    y, y_hat = _clean(np.asarray(y, float), np.asarray(y_hat, float))
    n = len(y)
    if n == 0:
        return ForecastMetrics(0, *(float("nan"),) * 5)
    from scipy import stats  # imported here: the end of day scores without it (import time)

    spearman = float(stats.spearmanr(y, y_hat).statistic) if n > 2 and np.std(y_hat) > 0 else float("nan")
    hits = hit_counts(y_hat, y)
    return ForecastMetrics(
        n=n,
        rmse=rmse(y, y_hat),
        mae=mae(y, y_hat),
        r2_oos=r2_oos(y, y_hat, np.zeros_like(y)),
        spearman=spearman,
        hit_rate=hits.rate,
        hit_n=hits.counted,
        zero_n=hits.zeros,
    )


def diebold_mariano(y: np.ndarray, y_hat: np.ndarray, y_bench: np.ndarray, horizon: int) -> tuple[float, float]:
    """(DM statistic, two-sided p-value) on squared errors; negative = better than the benchmark.

    The statistic is the t-value of the mean loss differential, from an OLS on a constant
    with a Newey–West covariance of h−1 lags.
    """
    y, y_hat, y_bench = (np.asarray(a, float) for a in (y, y_hat, y_bench))
    keep = np.isfinite(y) & np.isfinite(y_hat) & np.isfinite(y_bench)
    d = (y[keep] - y_hat[keep]) ** 2 - (y[keep] - y_bench[keep]) ** 2
    if len(d) < 10 or np.allclose(d, d[0]):
        return float("nan"), float("nan")
    import statsmodels.api as sm  # imported here: the end of day scores without it (import time)

    fit = sm.OLS(d, np.ones(len(d))).fit(cov_type="HAC", cov_kwds={"maxlags": max(horizon - 1, 0)})
    return float(fit.tvalues[0]), float(fit.pvalues[0])


def regime_labels(levels: pl.Series, history: pl.Series) -> pl.Series:
    """low / mid / high DVOL by terciles of `history` (past data only, chosen by the caller)."""
    lo, hi = history.drop_nulls().quantile(1 / 3), history.drop_nulls().quantile(2 / 3)
    return (
        pl.select(
            pl.when(levels < lo).then(pl.lit("low")).when(levels > hi).then(pl.lit("high")).otherwise(pl.lit("mid"))
        )
        .to_series()
        .alias("regime")
    )


def regimes_by_fold(predictions: pl.DataFrame, dvol: pl.DataFrame) -> pl.Series:
    """Each prediction row's DVOL regime, with terciles from that coin's DVOL before its fold began.

    `dvol` has date, asset, dvol (the level known at each date).
    """
    rows = predictions.with_row_index("__i").join(dvol, on=["date", "asset"], how="left")
    out = pl.Series("regime", [None] * predictions.height, pl.Utf8)
    for (fold, asset), part in rows.group_by("fold", "asset", maintain_order=True):
        start = part["date"].min().replace(day=1)
        past = dvol.filter((pl.col("asset") == asset) & (pl.col("date") < start))["dvol"]
        if past.drop_nulls().len() < 30:
            continue
        out[part["__i"].to_numpy()] = regime_labels(part["dvol"], past).to_numpy()
    return out


def vol_regime_of(rows: pl.DataFrame, dvol: pl.DataFrame) -> pl.Series:
    """Each row's volatility-regime label (quant/dvol/regimes.py) from `dvol`'s `regime_code`
    column (features_daily's, decided at each day's cut-off); "unknown" where none is known."""
    codes = rows.select("date", "asset").join(dvol.select("date", "asset", "regime_code"), on=["date", "asset"],
                                              how="left", maintain_order="left")
    return codes.select(decode_regime(pl.col("regime_code")).fill_null("unknown").alias("vol_regime")).to_series()


def metrics_table(predictions: pl.DataFrame, dvol: pl.DataFrame, benchmark: str = BENCHMARK) -> pl.DataFrame:
    """Metrics per family x horizon x coin (and ALL coins), overall, per fold and per regime,
    with Diebold-Mariano against `benchmark` on the same rows.

    Two regime scopes share the `regime` column: `regime` (DVOL terciles of the coin's past
    folds) and, when `dvol` carries features_daily's `regime_code`, `vol_regime` (the labels
    of quant/dvol/regimes.py: low_vol, high_vol, iv_expansion, iv_contraction, neutral)."""
    labelled = predictions.filter(pl.col("y").is_not_null() & pl.col("y_hat").is_not_nan())
    labelled = labelled.with_columns(regimes_by_fold(labelled, dvol).fill_null("unknown"))
    scopes: list[tuple[str, list[str]]] = [("overall", []), ("fold", ["fold"]), ("regime", ["regime"])]
    if "regime_code" in dvol.columns:
        labelled = labelled.with_columns(vol_regime_of(labelled, dvol))
        scopes.append(("vol_regime", ["vol_regime"]))
    bench = labelled.filter(pl.col("family") == benchmark).select(
        "date", "asset", "horizon", "fold", pl.col("y_hat").alias("y_bench")
    )
    labelled = labelled.join(bench, on=["date", "asset", "horizon", "fold"], how="left")
    both = pl.concat([labelled, labelled.with_columns(pl.lit("ALL").alias("asset"))])
    rows = []
    for scope, keys in scopes:
        for key, g in both.group_by(["family", "horizon", "asset", *keys], maintain_order=True):
            y, y_hat = g["y"].to_numpy(), g["y_hat"].to_numpy()
            m = forecast_metrics(y, y_hat)
            dm, p = diebold_mariano(y, y_hat, g["y_bench"].fill_null(float("nan")).to_numpy(), int(key[1]))
            rows.append({"scope": scope, "family": key[0], "horizon": key[1], "asset": key[2],
                         "fold": key[3] if scope == "fold" else "ALL", "regime": key[3] if scope in ("regime", "vol_regime") else "ALL",
                         **m.as_dict(), "dm_vs_" + benchmark: dm, "dm_pvalue": p})
    return pl.DataFrame(rows).sort("scope", "horizon", "asset", "family", "fold", "regime")


def fold_summary(predictions: pl.DataFrame) -> pl.DataFrame:
    """RMSE and R²_oos per family and horizon over the given folds (a run's headline)."""
    rows = []
    for (family, h), g in predictions.group_by("family", "horizon", maintain_order=True):
        m = forecast_metrics(g["y"].to_numpy(), g["y_hat"].to_numpy())
        rows.append({"family": family, "h": h, "n": m.n, "rmse": round(m.rmse, 3), "r2_oos": round(m.r2_oos, 4)})
    return pl.DataFrame(rows).sort("h", "rmse") if rows else pl.DataFrame()
