"""The micro lane's research step: labels, walk-forward models, IC, the three strategies and the gates.

Reads `micro_features` and `micro_bars` of one bar kind over a range, then (all decisions in
`quant/micro`):

1. labels (`models/labels.py`) and a regime per bar (trailing volatility percentile x ADX trend);
2. the walk-forward (`models/walkforward.py`): LightGBM regression and classification per
   (venue, symbol), feature selection and tuning inside each training window, the purged folds of
   `FoldConfig` (the plan's 90/30/30 days with a 1-day embargo; the demo scales it to hours);
3. the information coefficient of every feature by symbol, horizon and regime;
4. the three strategies (`strategies/`), aggressive and passive, the classifier's `p_up` joined as
   the microstructure strategy's optional filter, and the same runs without the microstructure
   filters (the Gate 0 baseline); every trade priced by the shared dynamic cost model
   (`strategies/costs.py` over quant/execution/costs_dynamic.py);
5. `micro_strategy_metrics` at 0.5-3x costs and `micro_gates` on the perpetual venue's aggressive runs.

The tables are single files rebuilt from the range (research outputs, not partitions of data).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import polars as pl

from dvol_pipeline.lake.parquet import read_table_or_none, write_partitions, write_single

GATE_EXECUTION = "aggressive"


@dataclass(frozen=True)
class ResearchConfig:
    bar: str = "1m"
    horizon: str = "5m"
    min_train: timedelta = timedelta(days=90)
    test: timedelta = timedelta(days=30)
    step: timedelta = timedelta(days=30)
    embargo: timedelta = timedelta(days=1)
    n_trials: int = 3
    families: tuple[str, ...] = ("lgbm_reg", "lgbm_clf")
    seed: int = 0
    gate_venue_suffix: str = "_usdm"
    """The gates read the perpetual venue's runs (one venue per strategy and symbol)."""

    @classmethod
    def demo(cls) -> ResearchConfig:
        """Two days of ticks: train on the first day, test 4-hour windows of the second."""
        return cls(min_train=timedelta(hours=24), test=timedelta(hours=4), step=timedelta(hours=4),
                   embargo=timedelta(minutes=15), n_trials=0)


@dataclass
class ResearchBuild:
    predictions: pl.DataFrame
    fold_metrics: pl.DataFrame
    cross_symbol: pl.DataFrame
    ic: pl.DataFrame
    trades: pl.DataFrame
    metrics: pl.DataFrame
    gates: pl.DataFrame
    notes: list[str] = field(default_factory=list)
    mlflow: list[dict] = field(default_factory=list)
    """One record per fitted model (`models.walkforward.mlflow_records`): what `track_research` logs."""

    @property
    def decisions(self) -> pl.DataFrame:
        """One GO / NO-GO line per strategy and symbol."""
        return self.gates.filter(pl.col("gate") == "decision").select("strategy", "symbol", "decision")


def _runs(frame: pl.DataFrame, cost_fn, with_micro: bool) -> list:
    from dvol_pipeline.quant.micro.strategies import funding_basis, mean_reversion, microstructure

    runs = []
    for passive in (False, True):
        micro = microstructure.MicroConfig(passive=passive)
        if not with_micro:  # the same fade without the microstructure filters (toxicity, the model)
            micro = replace(micro, vpin_max=float("inf"), use_p_up=False)
        runs += [mean_reversion.run_strategy(frame, mean_reversion.MeanReversionConfig(passive=passive), cost_fn),
                 funding_basis.run_strategy(frame, funding_basis.FundingBasisConfig(passive=passive), cost_fn),
                 microstructure.run_strategy(frame, micro, cost_fn)]
    return runs


def build_research(root, first: date, last: date, config: ResearchConfig = ResearchConfig()) -> ResearchBuild:
    from dvol_pipeline.quant.micro.gates import gates_table
    from dvol_pipeline.quant.micro.models.ic import feature_ic
    from dvol_pipeline.quant.micro.models.labels import HORIZONS, KEY, feature_columns, label_names, make_labels
    from dvol_pipeline.quant.micro.models.validate import FoldConfig, regime_labels
    from dvol_pipeline.quant.micro.models.walkforward import WalkForwardConfig, mlflow_records, run_walkforward
    from dvol_pipeline.quant.micro.strategies import metrics as strategy_metrics
    from dvol_pipeline.quant.micro.strategies.common import strategy_frame
    from dvol_pipeline.quant.micro.strategies.costs import dynamic_cost_fn, market_state

    features = read_table_or_none(root, "micro_features", first, last)
    bars = read_table_or_none(root, "micro_bars", first, last)
    if features is None or bars is None:
        raise FileNotFoundError(f"the micro lane's research needs micro_features and micro_bars for {first}..{last}")
    features = features.filter(pl.col("bar") == config.bar).sort("venue", "symbol", "ts")
    bars = bars.filter(pl.col("bar") == config.bar).sort("venue", "symbol", "ts")
    k = HORIZONS[config.bar][config.horizon]
    label = label_names(config.horizon)["ret"]
    frame = features.join(make_labels(bars, config.bar, {config.horizon: k}), on=KEY, how="left")
    frame = frame.with_columns(regime_labels(frame).alias("regime"))
    names = [c for c in feature_columns(features) if c != "regime"]
    width = {"1s": timedelta(seconds=1), "1m": timedelta(minutes=1), "5m": timedelta(minutes=5)}[config.bar]
    folds = FoldConfig(min_train=config.min_train, test=config.test, step=config.step, embargo=config.embargo)
    wf = run_walkforward(frame, names, label, WalkForwardConfig(
        horizon=config.horizon, horizon_bars=k, bar_width=width, folds=folds, families=config.families,
        n_trials=config.n_trials, seed=config.seed))
    ic = feature_ic(frame, names, label, config.horizon)
    notes = [f"{wf.fold_metrics['fold'].n_unique() if wf.fold_metrics.height else 0} walk-forward fold(s) of "
             f"{config.min_train} training, {config.test} test, {config.embargo} embargo"]

    p_up = (wf.predictions.filter(pl.col("family") == "lgbm_clf").select("ts", "venue", "symbol", "p_up")
            if wf.predictions.height else None)
    with_p = frame.join(p_up, on=["ts", "venue", "symbol"], how="left") if p_up is not None else frame
    # every trade's legs priced by the shared dynamic cost model (fees, spread, impact, adverse selection)
    cost_fn = dynamic_cost_fn(market_state(features, bars), width.total_seconds())
    sf = strategy_frame(with_p, bars)
    runs = _runs(sf, cost_fn, with_micro=True)
    baseline_runs = _runs(sf, cost_fn, with_micro=False)
    metrics = strategy_metrics.strategy_metrics_table(runs)
    baseline = strategy_metrics.strategy_metrics_table(baseline_runs)
    gate_rows = (pl.col("execution") == GATE_EXECUTION) & pl.col("venue").str.ends_with(config.gate_venue_suffix)
    gates = gates_table(metrics.filter(gate_rows), baseline.filter(gate_rows))
    trades = pl.concat([r.trades for r in runs], how="diagonal_relaxed")
    return ResearchBuild(wf.predictions, wf.fold_metrics, wf.cross_symbol, ic, trades, metrics, gates, notes,
                         mlflow_records(wf))


MICRO_EXPERIMENT = "micro_walkforward"


def track_research(root, build: ResearchBuild) -> int:
    """Every fitted model of the walk-forward as an MLflow run (tuned parameters, kept and dropped
    features, fold dates, out-of-sample scores, mean |SHAP| per feature); returns the runs logged."""
    from dvol_pipeline.lake.tracking import log_model_run

    for record in build.mlflow:
        params = {k: str(v) for k, v in record["params"].items()}
        log_model_run(root, record["run_name"], record["tags"], params, record["metrics"], None, {},
                      experiment=MICRO_EXPERIMENT)
    return len(build.mlflow)


def write_research(root, build: ResearchBuild) -> None:
    """Every research table of the range, each replaced whole (predictions per venue, symbol, day)."""
    from dvol_pipeline.lake.catalog import table

    if build.predictions.height:
        write_partitions(root, table("micro_predictions"), build.predictions)
    for name, frame in (("micro_fold_metrics", build.fold_metrics), ("micro_cross_symbol", build.cross_symbol),
                        ("micro_ic", build.ic), ("micro_trades", build.trades),
                        ("micro_strategy_metrics", build.metrics), ("micro_gates", build.gates)):
        # a range with nothing to show (no fold, no trade) still replaces the last run's file, typed
        frame = frame.with_columns(pl.col(c).cast(pl.Utf8) for c, t in frame.schema.items() if t == pl.Null)
        write_single(root, name, frame)


def build_report(root, run_id: str):
    """Write `reports/<run id>/micro.html` and its `latest` copy from the lake's micro tables."""
    import shutil

    from dvol_pipeline.lake.catalog import micro_report_file
    from dvol_pipeline.lake.parquet import read_single_or_none
    from dvol_pipeline.reports.html import write_html
    from dvol_pipeline.reports.micro.tearsheet import MicroReportData, render_micro_report

    quality = read_table_or_none(root, "book_quality")
    data = MicroReportData(run_id, read_single_or_none(root, "micro_gates"), quality,
                           read_single_or_none(root, "micro_ic"), read_single_or_none(root, "micro_fold_metrics"),
                           read_single_or_none(root, "micro_cross_symbol"),
                           read_single_or_none(root, "micro_strategy_metrics"),
                           read_table_or_none(root, "micro_fill_quality"))
    path = write_html(render_micro_report(data), micro_report_file(root, run_id))
    latest = micro_report_file(root, "latest")
    if latest != path:
        latest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, latest)
    return path
