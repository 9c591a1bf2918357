"""The trade-level gate: LightGBM predicts whether a candidate's net P&L (costs x1) is > 0.

Walk-forward by calendar month, no leakage: fold K trains only on candidates whose EXIT
date is before month K starts (their label is known then) and predicts the candidates
entered in month K; features are the entry day's (surface, regime, DVOL and realised vol,
the structure and its entry terms), all known at that close. The probability threshold of
month K (`choose_thresholds`) uses only out-of-sample predictions of earlier folds whose
outcome was known before K starts, so nothing in month K or later can move it.
The classifier is quant/learn/gbm.py's LightGBM wrapper, configured by `gate_model`.
Deterministic: fixed seed, `deterministic=True`, a fixed number of threads.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from dvol_pipeline.quant.learn.folds import month_start
from dvol_pipeline.quant.learn.gbm import LightGBMClassifier
from dvol_pipeline.quant.evaluate.classification import class_scores, roc_auc

from .config import STRUCTURES, IVRankConfig

FEATURES: tuple[str, ...] = (
    # surface of the entry day
    "surf_atm_7d", "surf_atm_30d", "surf_atm_60d", "surf_atm_90d", "surf_term_slope", "surf_rr25_30d",
    "surf_bf25_30d",
    # regime
    "dvol_rank", "dvol_pct", "rv_iv_ratio", "iv30_pct", "regime_code",
    # DVOL and realised vol (features_daily)
    "dvol", "dvol_chg1", "dvol_chg5", "dvol_dist_ma22", "rv_5d", "rv_22d", "vrp_rv22", "vrp_rv5", "garch_vol30",
    "funding_mean",
    # the trade itself
    "structure_code", "asset_code", "entry_dte", "premium_frac",
)

FOLD_SCHEMA = {
    "fold": pl.Utf8, "n_train": pl.Int64, "n": pl.Int64, "base_rate": pl.Float64, "auc": pl.Float64,
    "accuracy": pl.Float64, "precision": pl.Float64, "recall": pl.Float64, "threshold": pl.Float64,
    "threshold_source": pl.Utf8, "n_past_folds": pl.Int64,
}


def month_of(col: str = "entry_date") -> pl.Expr:
    return pl.col(col).dt.strftime("%Y-%m")


LABEL = "win"
"""The gate's label: the candidate's net P&L (costs x1) is > 0."""


def design(frame: pl.DataFrame) -> pl.DataFrame:
    """The FEATURES as Float64 columns (a missing one all null: LightGBM routes missing values itself)."""
    cols = [pl.col(c).cast(pl.Float64) if c in frame.columns else pl.lit(None, pl.Float64).alias(c)
            for c in FEATURES]
    return frame.select(cols).fill_nan(None)


def gate_model(cfg: IVRankConfig) -> LightGBMClassifier:
    """The gate's classifier: LightGBM, binary (False/True), `n_estimators` rounds, row and column sampling."""
    params = {
        "learning_rate": cfg.learning_rate, "num_leaves": cfg.num_leaves, "min_child_samples": cfg.min_child_samples,
        "max_bin": cfg.max_bin, "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8, "verbose": -1,
    }
    return LightGBMClassifier(cfg.seed, params=params, rounds=cfg.n_estimators, classes=[False, True],
                              num_threads=cfg.num_threads)


def walk_forward(cands: pl.DataFrame, cfg: IVRankConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(candidates with `fold` and out-of-sample `prob`, per-fold metrics before thresholds).

    cands: entry_date, exit_date, net_usd and the FEATURES columns (structure_code, ...).
    A month with fewer than `min_train` labelled candidates, or one class only, is no fold.
    """
    cands = cands.with_columns(month_of().alias("fold"))
    data = design(cands).with_columns((cands["net_usd"] > 0).alias(LABEL))
    y_all = data[LABEL].to_numpy()
    exit_d = cands["exit_date"].to_numpy()
    fold_col = cands["fold"].to_numpy()
    prob = np.full(cands.height, np.nan)
    rows = []
    for fold in sorted(set(fold_col.tolist())):
        start = np.datetime64(month_start(fold), "D")
        train = exit_d < start
        test = fold_col == fold
        if train.sum() < cfg.min_train or np.unique(y_all[train]).size < 2:
            continue
        model = gate_model(cfg).fit(data.filter(pl.Series(train)), FEATURES, LABEL)
        p = model.predict_proba(data.filter(pl.Series(test)))[:, 1]
        prob[test] = p
        y = y_all[test]
        scores = class_scores(y, p >= 0.5, [False, True])
        rows.append({
            "fold": fold, "n_train": int(train.sum()), "n": int(test.sum()), "base_rate": float(y.mean()),
            "auc": roc_auc(y, p), "accuracy": scores["accuracy"], "precision": float(scores["precision"][1]),
            "recall": float(scores["recall"][1]),
        })
    out = cands.with_columns(pl.Series("prob", prob).fill_nan(None),
                             pl.when(pl.Series(np.isfinite(prob))).then(pl.col("fold")).otherwise(None).alias("fold"))
    folds = pl.DataFrame(rows, schema={k: v for k, v in FOLD_SCHEMA.items() if k in
                                       ("fold", "n_train", "n", "base_rate", "auc", "accuracy", "precision", "recall")})
    return out, folds.with_columns(pl.col(pl.Float64).fill_nan(None))


def choose_thresholds(oos: pl.DataFrame, folds: list[str], cfg: IVRankConfig) -> pl.DataFrame:
    """fold, threshold, threshold_source, n_past_folds: month K's probability threshold from the past only.

    oos: fold, exit_date, prob, net_usd of the candidates the gate would filter (the rule's).
    For month K only rows of folds before K with exit_date before K starts count: the grid
    threshold with the best mean net P&L over at least `min_taken` such rows taken (p >= t;
    ties: the lower threshold); `default_threshold` with fewer than `min_past_folds` folds
    or no grid value with enough rows taken.
    """
    base = oos.filter(pl.col("prob").is_not_null() & pl.col("fold").is_not_null())
    fold_a = base["fold"].to_numpy()
    exit_a = base["exit_date"].to_numpy()
    prob = base["prob"].to_numpy()
    net = base["net_usd"].to_numpy()
    grid = np.asarray(cfg.threshold_grid)
    rows = []
    for fold in folds:
        start = np.datetime64(month_start(fold), "D")
        past = (fold_a < fold) & (exit_a < start)
        n_past = int(np.unique(fold_a[past]).size)
        thr, source = cfg.default_threshold, "default (too few past folds)"
        if n_past >= cfg.min_past_folds:
            taken = prob[past][None, :] >= grid[:, None]
            count = taken.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(taken, net[past][None, :], 0.0).sum(axis=1) / count
            ok = count >= cfg.min_taken
            if ok.any():
                thr = float(grid[int(np.argmax(np.where(ok, mean, -np.inf)))])
                source = "past folds"
            else:
                source = "default (too few past trades above every threshold)"
        rows.append({"fold": fold, "threshold": thr, "threshold_source": source, "n_past_folds": n_past})
    return pl.DataFrame(rows, schema={k: FOLD_SCHEMA[k] for k in ("fold", "threshold", "threshold_source",
                                                                   "n_past_folds")})


def structure_code(col: str = "structure") -> pl.Expr:
    return pl.col(col).replace_strict({s: i for i, s in enumerate(STRUCTURES)}, return_dtype=pl.Int8)
