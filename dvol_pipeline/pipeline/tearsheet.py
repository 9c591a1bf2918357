"""Tear sheets: one self-contained HTML file per run and coin.

Files: `reports/<run id>/tearsheet_<COIN>.html` (catalog.report_file), copied to `reports/latest/`
so a bookmark always opens the newest; each run's files are also MLflow artifacts.
The renderer (reports/) knows nothing about the lake; this module maps the backtest,
forecast and promotion tables onto its inputs.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from dvol_pipeline.lake.catalog import report_file
from dvol_pipeline.lake.parquet import read_folds, read_single_or_none, read_table_or_none
from dvol_pipeline.pipeline.dvol.backtest import read_backtest_table
from dvol_pipeline.pipeline.dvol.forecasts import read_predictions
from dvol_pipeline.quant.dvol.backtest import strategy_metrics
from dvol_pipeline.quant.pricing.surface import comparison_summary
from dvol_pipeline.reports import TearSheetData, write_tearsheet

KEY_COLUMNS = ["strategy", "family", "horizon", "asset", "n_days", "net_usd", "ann_return", "sharpe", "sortino",
               "max_drawdown_usd", "hit_rate", "turnover", "exposure"]


@dataclass(frozen=True)
class TearSheetFile:
    asset: str
    path: Path
    latest: Path


def tearsheet_path(root: Path, run_id: str, asset: str) -> Path:
    return report_file(root, run_id, asset)


def _shap(root: Path) -> pl.DataFrame | None:
    shap = read_folds(root, "feature_importance")
    if shap.is_empty():
        return None
    keys = [c for c in ("feature", "group") if c in shap.columns]
    return shap.group_by(keys).agg(pl.col("mean_abs_shap").mean()).sort("mean_abs_shap", "feature", descending=[True, False])


def _in_vs_out(thresholds: pl.DataFrame, metrics: pl.DataFrame) -> pl.DataFrame:
    """In-sample: the chosen tau's Sharpe on the folds before the newest one; out: every traded month."""
    newest = thresholds.sort("fold").group_by("family", "horizon", "asset", maintain_order=True).last()
    ins = newest.select(
        pl.format("dvol_futures_{}d", "horizon").alias("strategy"), "family", "horizon", "asset",
        pl.lit("in_sample").alias("sample"), sharpe=pl.col("in_sample_sharpe"), n_days=pl.col("in_sample_days"),
    )
    outs = metrics.filter(pl.col("strategy").str.starts_with("dvol_futures")).select(
        "strategy", "family", pl.col("horizon").cast(ins.schema["horizon"]), "asset",
        pl.lit("out_of_sample").alias("sample"), "sharpe", pl.col("n_days").cast(ins.schema["n_days"]),
    )
    return pl.concat([ins, outs.cast(ins.schema)])


def build_tearsheet_data(root: Path, asset: str, run_id: str, generated_at: str, notes: list[str]) -> TearSheetData:
    daily = read_backtest_table(root, "backtest_daily").filter(pl.col("asset") == asset)
    futures_metrics = read_backtest_table(root, "strategy_metrics")
    options = daily.filter(pl.col("strategy").str.starts_with("option"))
    option_metrics = strategy_metrics(options, all_assets=False) if options.height else None
    metrics = futures_metrics if option_metrics is None else pl.concat([futures_metrics, option_metrics], how="diagonal_relaxed")
    metrics = metrics.filter(pl.col("asset") == asset)
    # NaN (a strategy that never traded has no Sharpe) must rank last, not first
    key = (
        metrics.select([c for c in KEY_COLUMNS if c in metrics.columns])
        .with_columns(pl.col(pl.Float64).fill_nan(None))
        .sort("sharpe", descending=True, nulls_last=True)
    )
    promotion = read_single_or_none(root, "model_promotion")
    option_costs = read_single_or_none(root, "option_cost_sensitivity")
    smiles = read_table_or_none(root, "surface_model_comparison", coins=[asset])
    return TearSheetData(
        title=f"DVOL strategies: {asset}",
        asset=asset,
        run_id=run_id,
        generated_at=generated_at,
        notes=notes,
        key_numbers=key,
        daily=daily.filter(pl.col("strategy").str.starts_with("dvol_futures")),
        predictions=read_predictions(root).filter(pl.col("asset") == asset),
        shap=_shap(root),
        cost_sensitivity=read_backtest_table(root, "cost_sensitivity").filter(pl.col("asset") == asset),
        by_regime=read_backtest_table(root, "metrics_by_regime").filter(pl.col("asset") == asset),
        by_year=read_backtest_table(root, "metrics_by_year").filter(pl.col("asset") == asset),
        in_vs_out_of_sample=_in_vs_out(read_backtest_table(root, "thresholds"), futures_metrics).filter(
            pl.col("asset") == asset
        ),
        sweep=read_backtest_table(root, "tau_cost_sweep").filter(pl.col("asset") == asset),
        robustness=read_backtest_table(root, "noise_robustness").filter(pl.col("asset") == asset),
        risk_effects=read_backtest_table(root, "risk_control_effects").filter(pl.col("asset") == asset),
        options_daily=options if options.height else None,
        options_cost_sensitivity=None if option_costs is None else option_costs.filter(pl.col("asset") == asset),
        promotion=None if promotion is None else promotion.filter(pl.col("asset") == asset),
        ivrank_folds=read_single_or_none(root, "ivrank_gate_folds"),
        ivrank_metrics=read_single_or_none(root, "ivrank_strategy_metrics"),
        ivrank_daily=read_single_or_none(root, "ivrank_daily"),
        smile_models=None if smiles is None else comparison_summary(smiles),
    )


def write_tearsheets(
    root: Path, coins: list[str], run_id: str, generated_at: str, notes: list[str] | None = None
) -> list[TearSheetFile]:
    out = []
    for asset in coins:
        data = build_tearsheet_data(root, asset, run_id, generated_at, list(notes or []))
        path = write_tearsheet(data, tearsheet_path(root, run_id, asset))
        latest = tearsheet_path(root, "latest", asset)
        latest.parent.mkdir(parents=True, exist_ok=True)
        tmp = latest.with_suffix(".html.tmp")
        shutil.copyfile(path, tmp)
        tmp.replace(latest)
        out.append(TearSheetFile(asset, path, latest))
    return out


TEARSHEET_NOTES = [
    "Every figure is out of sample: forecasts come from walk-forward folds, each month's threshold and "
    "promoted family were chosen on earlier months only.",
    "DVOL futures are modelled as tracking the index (no basis or roll); costs and contract size are in "
    "quant/dvol/backtest/config.py.",
]


@dataclass(frozen=True)
class PublishedTearSheets:
    files: list[TearSheetFile]
    mlflow_run_id: str
    artifact_uri: str


def publish_tearsheets(root: Path, coins: list[str], run_id: str, generated_at: str) -> PublishedTearSheets:
    """Write every coin's tear sheet and log them as one MLflow run's artifacts."""
    from dvol_pipeline.lake.tracking import log_report_run

    files = write_tearsheets(root, coins, run_id, generated_at, TEARSHEET_NOTES)
    metrics = read_backtest_table(root, "strategy_metrics").filter(pl.col("asset") == "ALL")
    best = metrics.with_columns(pl.col("sharpe").fill_nan(None)).sort("sharpe", descending=True, nulls_last=True)
    mlflow_run, artifacts = log_report_run(
        root, f"tearsheets-{run_id[:8]}", {"dagster_run_id": run_id},
        {"best_net_sharpe": float(best["sharpe"][0] or float("nan"))} if best.height else {},
        [f.path for f in files],
    )
    return PublishedTearSheets(files, mlflow_run, artifacts)
