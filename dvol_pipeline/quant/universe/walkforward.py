"""The universe walk-forward: monthly folds, purge = horizon (+ the gap-fill allowance).

Folds come from the project's `quant.walkforward.monthly_folds`: fold M predicts every day
of month M from rows dated before start(M) - purge. Per fold and horizon:

* each coin's regime thresholds are the terciles of *its own training labels* (never a
  cut over the whole history), and the realised and implied classes use them;
* a coin is scored only with `min_train_rows` labelled training rows (else skipped that fold);
* LightGBM (regression and multiclass) is refit every `refit_months` folds on the rows
  before the refit fold's own purge, with parameters an Optuna search chose inside the
  first training window of each fold group (year); cheap families refit every fold;
* cross-symbol validation: the pooled HAR and LightGBM are also fitted without the
  held-out coins and scored on them only (`split = held_out`);
* the LSTM (per-coin sequences, pooled) is refit every `lstm_refit_months` folds;
* the ensemble weights the regression families by inverse MSE on earlier folds only;
* every regression forecast is clipped to the range of the coin's own training labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from dvol_pipeline.quant.universe import models as m
from dvol_pipeline.quant.universe.features import HORIZONS, MAX_FILL_DAYS, feature_columns, feature_group
from dvol_pipeline.quant.universe.tuning import tune_lgbm
from dvol_pipeline.quant.learn.explain import ablate_groups, mean_abs_shap
from dvol_pipeline.quant.learn.folds import Fold, monthly_folds
from dvol_pipeline.quant.learn.gbm import feature_matrix

REGRESSION = ("persistence", "garch", "har_coin", "har_pooled", "lgbm", "lstm")
FAMILIES = (*REGRESSION, "lgbm_class", "ensemble")
BENCHMARK = "har_pooled"
REQUIRED = ("har_d", "har_w", "har_m", "ret_std_7", "ret_std_14")


@dataclass(frozen=True)
class UniverseWalkForwardConfig:
    seed: int = 0
    horizons: tuple[int, ...] = HORIZONS
    min_history_days: int = 365
    min_train_rows: int = 180
    refit_months: int = 3
    n_trials: int = 4
    tune: bool = True
    held_out_share: float = 0.2
    explain: bool = True
    lstm: bool = True
    """The LSTM family (refit every `lstm_refit_months` folds: it is the costliest fit)."""
    lstm_refit_months: int = 6

    def __post_init__(self) -> None:
        if not 0 < self.held_out_share < 1 or min(self.refit_months, self.lstm_refit_months) < 1 \
                or not 1 <= self.n_trials <= 30:
            raise ValueError("held_out_share must be in (0, 1), refit_months >= 1, n_trials in 1..30")

    @property
    def regression_families(self) -> tuple[str, ...]:
        return REGRESSION if self.lstm else tuple(f for f in REGRESSION if f != "lstm")


@dataclass
class WalkForwardResult:
    predictions: pl.DataFrame
    tuning: pl.DataFrame
    importance: pl.DataFrame
    skipped: dict[str, str] = field(default_factory=dict)
    held_out: list[str] = field(default_factory=list)
    fits: list[dict] = field(default_factory=list)
    """Every LightGBM fit: fold, horizon, split, the symbols it trained on (for the cross-symbol test)."""


def held_out_symbols(symbols: list[str], share: float, seed: int) -> list[str]:
    """A seeded, deterministic draw of coins the cross-symbol models never train on."""
    rng = np.random.default_rng(seed + 7)
    pool = sorted(s for s in symbols if s not in ("BTC", "ETH"))
    k = max(1, int(round(share * len(pool))))
    return sorted(rng.choice(pool, size=min(k, len(pool)), replace=False).tolist()) if pool else []


def usable_rows(features: pl.DataFrame, symbols: pl.DataFrame) -> pl.DataFrame:
    """Feature rows the models may use: modelled coins, not an interpolated day, core features known."""
    modelled = symbols.filter(pl.col("modelled"))["symbol"].to_list()
    return features.filter(pl.col("symbol").is_in(modelled) & ~pl.col("filled")).drop_nulls(list(REQUIRED))


def _thresholds(train: pl.DataFrame, target: str, min_rows: int) -> pl.DataFrame:
    return train.group_by("symbol").agg(
        pl.col(target).quantile(1 / 3).alias("q_lo"), pl.col(target).quantile(2 / 3).alias("q_hi"),
        pl.col(target).mean().alias("y_bench"), pl.col(target).min().alias("y_min"), pl.col(target).max().alias("y_max"),
        pl.len().alias("n_train"),
    ).filter(pl.col("n_train") >= min_rows)


def _rows(test: pl.DataFrame, family: str, h: int, fold: Fold, split: str, y_hat=None, probs=None) -> pl.DataFrame:
    out = test.select("date", "symbol", "tier", pl.col(f"y_{h}").alias("y"), "class", "q_lo", "q_hi", "y_bench")
    out = out.with_columns(pl.lit(family).alias("family"), pl.lit("rv").alias("target"),
                           pl.lit(h, pl.Int32).alias("horizon"), pl.lit(fold.key).alias("fold"), pl.lit(split).alias("split"))
    if y_hat is not None:
        # a regression's forecast is kept inside the range of the coin's own training labels: a linear
        # fit can go negative (or far out) on a coin's extreme day, and QLIKE explodes on a near-zero forecast
        bounded = np.clip(np.asarray(y_hat, float), test["y_min"].to_numpy(), test["y_max"].to_numpy())
        out = out.with_columns(pl.Series("y_hat", m.floor(bounded)))
        out = out.with_columns(m.classify(pl.col("y_hat"), pl.col("q_lo"), pl.col("q_hi")).alias("class_hat"))
        return out.with_columns(pl.lit(None, pl.Float64).alias(c) for c in ("p_low", "p_mid", "p_high"))
    p = np.asarray(probs)
    return out.with_columns(
        pl.lit(None, pl.Float64).alias("y_hat"),
        pl.Series("class_hat", np.array(m.CLASSES)[p.argmax(axis=1)].tolist(), pl.Utf8),
        pl.Series("p_low", p[:, 0]), pl.Series("p_mid", p[:, 1]), pl.Series("p_high", p[:, 2]))


def _shap(model, test: pl.DataFrame, features: list[str], h: int, fold: str) -> pl.DataFrame:
    value = mean_abs_shap(model.booster, feature_matrix(test, features))
    return pl.DataFrame({"horizon": h, "kind": "shap", "feature": features, "group": [feature_group(f) for f in features],
                         "value": value, "fold": fold}).with_columns(pl.col("horizon").cast(pl.Int32))


def _ablations(train, test, features, target, params, seed, h, fold) -> pl.DataFrame:
    labelled = test.filter(pl.col(target).is_not_null())
    if labelled.height < 50:
        return pl.DataFrame()
    y = labelled[target].to_numpy()

    def refit_rmse(group: str | None, kept: list[str]) -> float:
        pred = m.lgbm_regressor(train, kept, target, params, seed).predict(labelled)
        return float(np.sqrt(np.mean((pred - y) ** 2)))

    base = refit_rmse(None, features)
    rows = [{"feature": a["group"], "group": a["group"], "value": a["delta"]}
            for a in ablate_groups(features, feature_group, refit_rmse, base)]
    return pl.DataFrame(rows).with_columns(pl.lit(h, pl.Int32).alias("horizon"), pl.lit("ablation").alias("kind"),
                                           pl.lit(fold).alias("fold"))


@dataclass(frozen=True)
class Prepared:
    """What every horizon reads: the usable rows, the feature columns, the held-out coins and the coins
    skipped before any fit (stablecoins, short histories) with the reason."""

    rows: pl.DataFrame
    feats: list[str]
    held_out: list[str]
    skipped: dict[str, str]


@dataclass
class HorizonResult:
    """One horizon's walk-forward: its forecasts (unsorted), tuning rows, importance frames, LightGBM
    fits, and the coins it never scored (sorted)."""

    horizon: int
    predictions: pl.DataFrame
    tuning: list[dict] = field(default_factory=list)
    importance: list[pl.DataFrame] = field(default_factory=list)
    fits: list[dict] = field(default_factory=list)
    unscored: list[str] = field(default_factory=list)


def prepare(features: pl.DataFrame, symbols: pl.DataFrame, cfg: UniverseWalkForwardConfig) -> Prepared:
    """The state shared by every horizon, computed once: nothing in it depends on a horizon."""
    rows = usable_rows(features, symbols).sort("symbol", "date")
    if rows.is_empty():
        raise ValueError("no usable universe rows: every coin is a stablecoin or too short (see universe_symbols)")
    held_out = held_out_symbols(rows["symbol"].unique().to_list(), cfg.held_out_share, cfg.seed)
    skipped = dict(zip(*symbols.filter(~pl.col("modelled")).select("symbol", "skip_reason").to_dict(as_series=False).values()))
    return Prepared(rows, feature_columns(rows), held_out, skipped)


def run_horizon(prep: Prepared, h: int, cfg: UniverseWalkForwardConfig = UniverseWalkForwardConfig(),
                first_fold: str | None = None) -> HorizonResult:
    """Every fold of one horizon. It reads only `prep` and `cfg`: its tuning, models, LSTM and ensemble
    history start empty, so the horizons are independent steps (the pooled models are not: one fit
    reads every coin, which is why the lane fans out by horizon, not by coin)."""
    rows, feats, held_out = prep.rows, prep.feats, prep.held_out
    target = f"y_{h}"
    folds = monthly_folds(rows["date"].min(), rows["date"].max(), h + MAX_FILL_DAYS, cfg.min_history_days)
    folds = [f for f in folds if first_fold is None or f.key >= first_fold]
    preds, tuning, importance, fits = [], [], [], []
    params, group, models, done, lstm = {}, None, {}, [], None
    scored_any: set[str] = set()
    for i, fold in enumerate(folds):
        train_all = rows.filter(pl.col("date").is_between(fold.train_start, fold.train_end) & pl.col(target).is_not_null())
        th = _thresholds(train_all, target, cfg.min_train_rows)
        train = train_all.join(th, on="symbol").with_columns(m.classify(pl.col(target), pl.col("q_lo"), pl.col("q_hi")).alias("class"))
        test = rows.filter(pl.col("date").is_between(fold.test_start, fold.test_end)).join(th, on="symbol")
        test = test.with_columns(m.classify(pl.col(target), pl.col("q_lo"), pl.col("q_hi")).alias("class"))
        if test.is_empty() or train.height < 500:
            continue
        scored_any |= set(test["symbol"].unique().to_list())
        if cfg.tune and fold.key[:4] != group:
            group = fold.key[:4]
            params, best = tune_lgbm(train, feats, target, h + MAX_FILL_DAYS, cfg.n_trials, cfg.seed)
            tuning.append({"group": group, "horizon": h, "fold": fold.key, "params": params, "valid_qlike": best,
                           "n_trials": cfg.n_trials, "train_rows": train.height})
        cls_feats = [*feats, "q_lo", "q_hi"]
        if i % cfg.refit_months == 0 or not models:
            fit_rows = train.filter(~pl.col("symbol").is_in(held_out))
            models = {
                "lgbm": m.lgbm_regressor(train, feats, target, params, cfg.seed),
                "lgbm_class": m.lgbm_classifier(train, cls_feats, params, cfg.seed),
                "lgbm_xs": m.lgbm_regressor(fit_rows, feats, target, params, cfg.seed),
                "fold": fold.key,
            }
            fits.append({"fold": fold.key, "horizon": h, "split": "all", "symbols": sorted(train["symbol"].unique())})
            fits.append({"fold": fold.key, "horizon": h, "split": "held_out",
                         "symbols": sorted(fit_rows["symbol"].unique())})
        if cfg.lstm and (lstm is None or i % cfg.lstm_refit_months == 0):
            from dvol_pipeline.quant.universe.lstm import UniverseLSTM

            in_train = rows.select(pl.col("date").is_between(fold.train_start, fold.train_end)
                                   & pl.col(target).is_not_null() & pl.col("symbol").is_in(th["symbol"].implode())
                                   ).to_series().to_numpy()
            lstm = UniverseLSTM(h, cfg.seed).fit(rows, in_train, target)
        out = [
            _rows(test, "persistence", h, fold, "all", m.persistence(test, h)),
            _rows(test, "garch", h, fold, "all", test[f"garch_vol_{h}"].fill_null(test[f"ret_std_{h}"]).to_numpy()),
            _rows(test, "har_coin", h, fold, "all", m.har_per_coin(train, test, target)),
            _rows(test, "har_pooled", h, fold, "all", m.har_pooled(train, test, target)),
            _rows(test, "lgbm", h, fold, "all", models["lgbm"].predict(test)),
            _rows(test, "lgbm_class", h, fold, "all", probs=models["lgbm_class"].predict_proba(test)),
        ]  # regression families in REGRESSION order first (the ensemble zips them with its weights)
        # earlier folds' forecasts whose labels were known before this fold's purge (date <= train_end)
        past = pl.concat(done).filter(pl.col("date") <= fold.train_end) if done else pl.DataFrame()
        if cfg.lstm:
            # the test rows' windows read every earlier usable row of their coin (history, not labels)
            in_test = rows.select(pl.col("date").is_between(fold.test_start, fold.test_end)
                                  & pl.col("symbol").is_in(th["symbol"].implode())).to_series().to_numpy()
            keyed = rows.filter(pl.Series(in_test)).select("symbol", "date").with_columns(
                pl.Series("lstm", lstm.predict(rows, in_test)))
            pred = test.select("symbol", "date").join(keyed, on=["symbol", "date"], how="left")["lstm"].to_numpy()
            pooled = out[3]["y_hat"].to_numpy()
            out.insert(5, _rows(test, "lstm", h, fold, "all", np.where(np.isfinite(pred), pred, pooled)))
        families = list(cfg.regression_families)
        weights = m.ensemble_weights(past, families)
        blend = sum(weights[f] * o["y_hat"].to_numpy() for f, o in zip(families, out[:len(families)]))
        out.append(_rows(test, "ensemble", h, fold, "all", blend))
        xs_test = test.filter(pl.col("symbol").is_in(held_out))
        if xs_test.height:
            xs_train = train.filter(~pl.col("symbol").is_in(held_out))
            out.append(_rows(xs_test, "har_pooled", h, fold, "held_out", m.har_pooled(xs_train, xs_test, target)))
            out.append(_rows(xs_test, "lgbm", h, fold, "held_out", models["lgbm_xs"].predict(xs_test)))
        if cfg.explain:  # TreeSHAP of the fold's LightGBM on its test month (cheap: the booster's own pred_contrib)
            importance.append(_shap(models["lgbm"], test, feats, h, fold.key))
        fold_preds = pl.concat(out, how="diagonal_relaxed")
        done.append(fold_preds.filter(pl.col("split") == "all"))
        preds.append(fold_preds)
    if cfg.explain and folds and models:
        labelled_fold = next((f for f in reversed(folds) if rows.filter(
            pl.col("date").is_between(f.test_start, f.test_end) & pl.col(target).is_not_null()).height >= 50), None)
        if labelled_fold is not None:
            tr = rows.filter(pl.col("date").is_between(labelled_fold.train_start, labelled_fold.train_end)
                             & pl.col(target).is_not_null())
            te = rows.filter(pl.col("date").is_between(labelled_fold.test_start, labelled_fold.test_end))
            importance.append(_ablations(tr, te, feats, target, params, cfg.seed, h, labelled_fold.key))
    unscored = sorted(set(rows["symbol"].unique().to_list()) - scored_any)
    return HorizonResult(h, pl.concat(preds, how="diagonal_relaxed") if preds else pl.DataFrame(),
                         tuning, [i for i in importance if i.height], fits, unscored)


PREDICTION_COLUMNS = ["date", "symbol", "family", "target", "horizon", "fold", "split", "y", "y_hat", "class",
                      "class_hat", "p_low", "p_mid", "p_high", "tier", "y_bench", "q_lo", "q_hi"]


def combine(held_out: list[str], skipped: dict[str, str], parts: list[HorizonResult],
            cfg: UniverseWalkForwardConfig = UniverseWalkForwardConfig()) -> WalkForwardResult:
    """The horizons' results as one WalkForwardResult, whatever order or process they ran in: parts in
    `cfg.horizons` order, forecasts sorted by their key, a coin no horizon scored added to `skipped`."""
    order = {h: k for k, h in enumerate(cfg.horizons)}
    parts = sorted(parts, key=lambda p: order[p.horizon])
    if [p.horizon for p in parts] != list(cfg.horizons):
        raise ValueError(f"the walk-forward's horizons are {list(cfg.horizons)}; got parts for {[p.horizon for p in parts]}")
    skipped = dict(skipped)
    for p in parts:
        for s in p.unscored:
            skipped.setdefault(s, f"too little history: never {cfg.min_train_rows} labelled training rows before a fold")
    frames = [p.predictions for p in parts if p.predictions.height]
    predictions = pl.concat(frames, how="diagonal_relaxed").select(PREDICTION_COLUMNS).sort(
        "split", "family", "horizon", "symbol", "date") if frames else pl.DataFrame()
    tuning = [t for p in parts for t in p.tuning]
    tuning_frame = pl.DataFrame([{**t, "params": str(t["params"])} for t in tuning]) if tuning else pl.DataFrame()
    importance = [i for p in parts for i in p.importance]
    imp = pl.concat(importance, how="diagonal_relaxed") if importance else pl.DataFrame()
    return WalkForwardResult(predictions, tuning_frame, imp, skipped, list(held_out), [f for p in parts for f in p.fits])


def run_walkforward(features: pl.DataFrame, symbols: pl.DataFrame, cfg: UniverseWalkForwardConfig = UniverseWalkForwardConfig(),
                    first_fold: str | None = None) -> WalkForwardResult:
    """Every horizon in one process: `prepare`, `run_horizon` per horizon, `combine` (the universe
    asset runs the same three as separate steps, one per horizon)."""
    prep = prepare(features, symbols, cfg)
    return combine(prep.held_out, prep.skipped, [run_horizon(prep, h, cfg, first_fold) for h in cfg.horizons], cfg)
