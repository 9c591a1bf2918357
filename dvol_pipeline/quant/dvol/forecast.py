"""One walk-forward fold: fit every family on the purged training window, predict the month.

The residual families (LightGBM, LSTM: HAR + λ · a learned residual) record their raw
residual forecast with each row (`residual_hat`); with earlier folds' rows at hand, a fold
keeps a family's λ only if that record shows the residual adds to HAR out of sample
(`gate_residual_families`, quant/learn/residual.py step 6), else the family forecasts HAR.

The ensemble is not fitted on the fold's training window: its weights come from earlier
folds' out-of-sample predictions (passed in), so it never sees the month it predicts; it
holds the fold's fitted members, so it predicts and saves like any family.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from dvol_pipeline.quant.dvol.features import FEATURES, HORIZONS, LABELS
from dvol_pipeline.quant.dvol.features.registry import OPT_IN_GROUPS
from dvol_pipeline.quant.learn.base import Forecaster
from dvol_pipeline.quant.learn.ensemble import Ensemble
from dvol_pipeline.quant.learn.names import BENCHMARK, ENSEMBLE_MEMBERS, RESIDUAL_FAMILIES
from dvol_pipeline.quant.learn.registry import MEMBER_FAMILIES, make_forecaster
from dvol_pipeline.quant.learn.parallel import balanced_groups, executor_workers
from dvol_pipeline.quant.learn.folds import Fold, split
from dvol_pipeline.quant.learn.residual import track_record

__all__ = [
    "CONTEXT_DAYS", "HORIZONS", "MEMBER_FAMILIES", "PREDICTION_SCHEMA", "FoldResult", "feature_columns", "fold_ensemble",
    "gate_residual_families", "run_fold",
]
CONTEXT_DAYS = 120
"""Feature history before a day that a model reads to predict it: the LSTM's 90-row
sequences and the forward fill of missing features, with room for gaps. A fold's features
start this far before its test month (or at its training start, if earlier), and the
end-of-day signals read this far back."""
PREDICTION_SCHEMA = {
    "date": pl.Date, "asset": pl.Utf8, "horizon": pl.Int32, "family": pl.Utf8, "fold": pl.Utf8,
    "y_hat": pl.Float64, "y": pl.Float64, "residual_hat": pl.Float64,
}


@dataclass
class FoldResult:
    fold: Fold
    predictions: pl.DataFrame
    models: dict[str, Forecaster] = field(default_factory=dict)
    fit_seconds: dict[str, float] = field(default_factory=dict)
    train_rows: int = 0


def feature_columns(frame: pl.DataFrame, drop_groups: Sequence[str] = (), include_groups: Sequence[str] = ()
                    ) -> list[str]:
    """Registry features present in `frame`, minus any dropped groups (for ablations) and the opt-in
    groups not asked for (`OPT_IN_GROUPS`: the micro lane's roll-up)."""
    return [f.name for f in FEATURES if f.name in frame.columns and f.group not in drop_groups
            and (f.group not in OPT_IN_GROUPS or f.group in include_groups)]


def _rows(test: pl.DataFrame, fold: Fold, family: str, y_hat: np.ndarray, target: str,
          residual: np.ndarray | None = None) -> pl.DataFrame:
    return test.select(
        "date", "asset",
        pl.lit(fold.horizon, pl.Int32).alias("horizon"),
        pl.lit(family).alias("family"),
        pl.lit(fold.key).alias("fold"),
        pl.Series("y_hat", y_hat, pl.Float64),
        pl.col(target).cast(pl.Float64).alias("y"),
        (pl.lit(None, pl.Float64) if residual is None
         else pl.Series("r", residual, pl.Float64, nan_to_null=True)).alias("residual_hat"),
    )


def run_fold(
    frame: pl.DataFrame,
    fold: Fold,
    families: Sequence[str] = MEMBER_FAMILIES,
    past_oos: pl.DataFrame | None = None,
    seed: int = 0,
    drop_groups: Sequence[str] = (),
    executor: Executor | None = None,
    configs: Mapping[str, Mapping[str, Any]] | None = None,
    include_groups: Sequence[str] = (),
) -> FoldResult:
    """Fit and predict one fold for one horizon; `past_oos` feeds the ensemble's weights.

    With `past_oos`, `result.models["ensemble"]` holds the fold's fitted members (those
    with weight), also in a month with no rows yet, so a saved fold always has its
    ensemble; its predictions combine the members' predictions of the month.

    With an `executor` (a process pool, see `parallel.py`), the families are fitted in
    balanced groups on its workers; every fit is seeded and single-threaded, so the
    result is identical to the serial one (same models, same predictions, same order).
    `configs`: per-family overrides of the families' defaults (e.g. the ablations' fixed rounds)."""
    target = LABELS[fold.horizon]
    train, test = split(frame, fold, target)
    result = FoldResult(fold, pl.DataFrame(schema=PREDICTION_SCHEMA), train_rows=train.height)
    if train.is_empty():
        return result
    # a month with no feature rows yet (the live month on its first day) still trains and
    # keeps its models: the end-of-day signals score each new day with them
    groups = balanced_groups(families, executor_workers(executor)) if executor is not None else [list(families)]
    if len(groups) > 1:
        fitted = [f.result() for f in [executor.submit(fit_families, frame, fold, g, seed, drop_groups, configs,
                                                       include_groups) for g in groups]]
    else:
        fitted = [fit_families(frame, fold, families, seed, drop_groups, configs, include_groups)]
    preds: dict[str, np.ndarray] = {}
    residuals: dict[str, np.ndarray] = {}
    for family in families:  # the serial order, whatever the grouping
        part = next(p for p in fitted if family in p[0])
        result.models[family], result.fit_seconds[family] = part[0][family], part[2][family]
        if family in part[1]:
            preds[family] = part[1][family]
        if family in part[3]:
            residuals[family] = part[3][family]
    if not test.is_empty():
        _, ordered, _ = _test_context(frame, fold, test)
        result.predictions = pl.concat(
            [_rows(ordered, fold, fam, y_hat, target, residuals.get(fam))
             for fam, y_hat in preds.items()]).cast(PREDICTION_SCHEMA)
    if past_oos is not None:
        _, result.predictions = gate_residual_families(fold, result.models, result.predictions, past_oos)
        ensemble, rows = fold_ensemble(fold, result.models, result.predictions, past_oos)
        if ensemble is not None:
            result.models["ensemble"] = ensemble
        if not rows.is_empty():
            result.predictions = pl.concat([result.predictions, rows])
    return result


def gate_residual_families(
    fold: Fold, models: Mapping[str, Forecaster], predictions: pl.DataFrame, past_oos: pl.DataFrame
) -> tuple[list[str], pl.DataFrame]:
    """Step 6 of the residual construction: each residual family of `models` keeps the λ its
    window chose only if its track record on `past_oos` (earlier folds' out-of-sample rows)
    also passes; else λ = 0 and its rows of the month become HAR's.

    Sets `state["track_record"]` on every residual model (and `state["window_shrinkage"]`, λ
    before the gate), so the caller re-saves them; returns (the families whose λ the gate
    closed, the predictions with their rows replaced by the `har` rows of the same days)."""
    closed = []
    for family in (f for f in RESIDUAL_FAMILIES if f in models):
        model = models[family]
        if model.har is None or "shrinkage" not in model.state:  # saved before the construction
            continue
        record = track_record(past_oos, family, fold.horizon, float(model.config["shrinkage_min_t"]))
        window = model.state.get("window_shrinkage", model.state["shrinkage"])
        model.state["track_record"], model.state["window_shrinkage"] = record, window
        model.state["shrinkage"] = window if record["lambda"] > 0 else 0.0
        if window > 0 and record["lambda"] == 0:
            closed.append(family)
    if not closed or predictions.is_empty():
        return closed, predictions
    har = predictions.filter(pl.col("family") == BENCHMARK).select("date", "asset", pl.col("y_hat").alias("__har"))
    if har.is_empty():  # no `har` rows to copy: y_hat − λ·residual_hat is HAR's forecast (to rounding)
        lam = pl.lit(0.0)
        for family in closed:
            lam = pl.when(pl.col("family") == family).then(models[family].state["window_shrinkage"]).otherwise(lam)
        back = pl.col("y_hat") - lam * pl.col("residual_hat").fill_null(0.0)
        return closed, predictions.with_columns(pl.when(pl.col("family").is_in(closed)).then(back)
                                                .otherwise(pl.col("y_hat")).alias("y_hat"))
    out = predictions.join(har, on=["date", "asset"], how="left", maintain_order="left")
    return closed, out.with_columns(pl.when(pl.col("family").is_in(closed)).then(pl.col("__har"))
                                    .otherwise(pl.col("y_hat")).alias("y_hat")).drop("__har")


def fold_ensemble(
    fold: Fold, models: Mapping[str, Forecaster], predictions: pl.DataFrame, past_oos: pl.DataFrame
) -> tuple[Ensemble | None, pl.DataFrame]:
    """The fold's ensemble (None unless ready) and its rows for the month.

    Its weights come from `past_oos` (earlier folds' out-of-sample rows) only; its members are
    the fold's fitted models (`models`: read only for the members with weight, so a caller may
    hand a mapping that loads them on demand); its rows combine the members' rows of the month
    (`predictions`, in `run_fold`'s order). Apart from the fit, so that a run can fit its folds'
    members in parallel (one step per fold) and add the ensembles afterwards, oldest fold first:
    fold M's weights read folds before M, whose members may have been fitted on another worker."""
    empty = pl.DataFrame(schema=PREDICTION_SCHEMA)
    # the ensemble combines the members this fold fitted: a run with fewer families gets an
    # ensemble of those (its weights still come from earlier folds only), none if it fitted none
    members = [m for m in ENSEMBLE_MEMBERS if m in models]
    if not members:
        return None, empty
    history = past_oos.filter(pl.col("horizon") == fold.horizon)
    config = {} if members == list(ENSEMBLE_MEMBERS) else {"members": members}
    ensemble = Ensemble.from_history(history, horizon=fold.horizon, as_of=fold.test_start, **config)
    ensemble.attach({m: models[m] for m in ensemble.weighted() if m in models})
    if predictions.is_empty():
        return (ensemble if ensemble.ready() else None), empty
    # the members' rows share one order (run_fold's `_rows` of the same test rows): combine them as arrays
    by_family = predictions.partition_by("family", maintain_order=True, as_dict=True)
    preds = {key[0]: part["y_hat"].to_numpy() for key, part in by_family.items()}
    first = next(iter(by_family.values()))
    rows = first.with_columns(pl.lit("ensemble").alias("family"),
                              pl.Series("y_hat", ensemble.combine(preds), pl.Float64),
                              pl.lit(None, pl.Float64).alias("residual_hat")).cast(PREDICTION_SCHEMA)
    return (ensemble if ensemble.ready() else None), rows


def _test_context(frame: pl.DataFrame, fold: Fold, test: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, np.ndarray]:
    """(every row up to the fold's end, the test rows in that order, their positions in it)."""
    # the LSTM reads each test row's last 90 days, so it predicts from the history up to the fold's end
    context = frame.filter(pl.col("date") <= fold.test_end).with_row_index("__i")
    ordered = context.join(test.select("date", "asset"), on=["date", "asset"], how="semi")
    return context.drop("__i"), ordered, ordered["__i"].to_numpy()


def fit_families(
    frame: pl.DataFrame, fold: Fold, families: Sequence[str], seed: int = 0, drop_groups: Sequence[str] = (),
    configs: Mapping[str, Mapping[str, Any]] | None = None, include_groups: Sequence[str] = (),
) -> tuple[dict[str, Forecaster], dict[str, np.ndarray], dict[str, float], dict[str, np.ndarray]]:
    """(models, test-month predictions, fit+predict seconds, the residual families' raw
    residual forecasts of the month) of `families` on the fold's purged training window; a
    module-level function, so a process pool can run it."""
    target = LABELS[fold.horizon]
    features = feature_columns(frame, drop_groups, include_groups)
    train, test = split(frame, fold, target)
    context, _, keep = _test_context(frame, fold, test)
    models, preds, seconds, residuals = {}, {}, {}, {}
    for family in families:
        started = time.perf_counter()
        config = (configs or {}).get(family, {})
        model = make_forecaster(family, fold.horizon, seed=seed, **config).fit(train, features, target)
        if keep.size:
            preds[family] = model.predict(context)[keep]
            if family in RESIDUAL_FAMILIES and getattr(model, "har", None) is not None:
                # the raw residual forecast, whatever λ: what later folds' track record judges
                residuals[family] = model.residual(context)[keep]
        models[family] = model
        seconds[family] = time.perf_counter() - started
    return models, preds, seconds, residuals
