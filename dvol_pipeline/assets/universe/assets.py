"""The universe lane as Dagster assets (group `universe`): thin glue over pipeline/universe/run.py.

Unpartitioned: each step is one vectorised pass over every coin and day (a 60-coin,
4-year universe is seconds to a couple of minutes), and the walk-forward's folds live in
its tables' `fold` column; the walk-forward itself is one step per horizon (7, 14), then a
collect. The raw contract check warns (non-blocking): a quarantined bad print is the
contract working, not a reason to stop the lane.
"""


from datetime import date

import dagster as dg
from pydantic import Field

from dvol_pipeline.assets.metadata import catalog_metadata, markdown
from dvol_pipeline.lake.catalog import universe_report_file
from dvol_pipeline.pipeline.universe import run as lane
from dvol_pipeline.quant.universe.walkforward import UniverseWalkForwardConfig
from dvol_pipeline.resources import LakeResource, MarketResource
from dvol_pipeline.settings import HISTORY_START

GROUP = "universe"


class UniverseIngestConfig(dg.Config):
    start: str = Field(default=HISTORY_START, description="first day (YYYY-MM-DD); empty: the files' first day")
    end: str = Field(default="2024-12-31", description="last day, inclusive; empty: the files' last day")
    n_coins: int = Field(default=60, description="simulated source: coins in the universe (BTC, ETH, stablecoins included)")
    known_events: list[str] = Field(default_factory=list, description="real > 500 % moves, SYMBOL:YYYY-MM-DD")
    min_days: int = Field(default=400, description="bars a coin needs to be modelled")


class UniverseModelConfig(dg.Config):
    seed: int = 0
    n_trials: int = Field(default=4, description="Optuna trials per fold group (a year), at most 30")
    tune: bool = True
    refit_months: int = Field(default=3, description="LightGBM is refit every this many monthly folds")
    min_history_days: int = 365
    explain: bool = Field(default=True, description="SHAP and feature-group ablations on the newest fold")
    lstm: bool = Field(default=True, description="fit the LSTM family")
    lstm_refit_months: int = Field(default=6, description="the LSTM is refit every this many monthly folds")
    track: bool = Field(default=True, description="log the chosen parameters and the report to MLflow")


@dg.multi_asset(
    specs=[dg.AssetSpec("raw_universe_daily", group_name=GROUP, kinds={"parquet"}, metadata=catalog_metadata("raw_universe_daily"),
                        description="Daily bars of every coin of the universe, contract-checked."),
           dg.AssetSpec("universe_symbols", group_name=GROUP, kinds={"parquet"}, deps=["raw_universe_daily"],
                        metadata=catalog_metadata("universe_symbols"),
                        description="One row per coin: history, listing, stablecoin flag, modelled or why not.")],
    check_specs=[dg.AssetCheckSpec("contract", asset="raw_universe_daily",
                                   description="positive prices, OHLC, unique (symbol, date), > 500 % moves quarantined"),
                 dg.AssetCheckSpec("gaps", asset="raw_universe_daily", description="no hole longer than a day")],
)
def raw_universe(config: UniverseIngestConfig, lake: LakeResource, market: MarketResource):
    landing = market.landing or str(lake.path / "landing")
    start = date.fromisoformat(config.start) if config.start else date.min  # empty: the files' own range
    end = date.fromisoformat(config.end) if config.end else date.max
    ingest = lane.ingest_universe(lake.path, market.source, start, end,
                                  landing=landing, seed=market.seed, n_coins=config.n_coins,
                                  known_events=lane.parse_known_events(config.known_events), min_days=config.min_days)
    s = ingest.symbols
    yield dg.MaterializeResult(asset_key="raw_universe_daily", metadata={
        "dagster/row_count": ingest.rows_written, "source": ingest.source, "rows_from_source": ingest.rows_in,
        "rows_quarantined": ingest.rows_quarantined, "coins": s.height, "files": len(ingest.files),
        "source_notes": dg.MetadataValue.json({k: v for k, v in ingest.notes.items() if v})})
    yield dg.MaterializeResult(asset_key="universe_symbols", metadata={
        "dagster/row_count": s.height, "modelled": int(s["modelled"].sum()),
        "skipped": markdown(s.filter(~s["modelled"]).select("symbol", "skip_reason"), rows=60)})
    yield dg.AssetCheckResult(asset_key="raw_universe_daily", check_name="contract", passed=ingest.rows_quarantined == 0,
                              severity=dg.AssetCheckSeverity.WARN,
                              description=f"{ingest.rows_quarantined} row(s) quarantined",
                              metadata={"reasons": dg.MetadataValue.json(ingest.reasons)})
    yield dg.AssetCheckResult(asset_key="raw_universe_daily", check_name="gaps", passed=ingest.gaps.is_empty(),
                              severity=dg.AssetCheckSeverity.WARN, metadata={"gaps": markdown(ingest.gaps, rows=20)})


@dg.asset(group_name=GROUP, deps=["universe_symbols"], kinds={"parquet", "polars"}, metadata=catalog_metadata("universe_features"),
          description="Per (date, coin) features (data before the cut-off only) and 7/14-day realised-vol targets.",
          check_specs=[dg.AssetCheckSpec("no_lookahead", asset="universe_features", blocking=True,
                                         description="rebuilding from the bars up to a sampled day gives the same row "
                                                     "(a failing build is not written)")])
def universe_features(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    features, leak = lane.build_features(lake.path)
    if not leak.passed:
        context.log.error(leak.summary())
    return dg.MaterializeResult(
        metadata={"dagster/row_count": features.height, "columns": len(features.columns),
                  "date_range": f"{features['date'].min()}..{features['date'].max()}"},
        check_results=[dg.AssetCheckResult(
            check_name="no_lookahead", passed=leak.passed, severity=dg.AssetCheckSeverity.ERROR, description=leak.summary(),
            metadata={"days_checked": ", ".join(map(str, leak.days_checked)), "values_compared": leak.n_compared,
                      "violations": markdown(leak.violations)})])


FORECAST_TABLES = ("universe_predictions", "universe_forecast_metrics", "universe_class_metrics")
FORECAST_OPS = ("universe_horizons", "universe_horizon", "universe_forecasts_collected")


def _walkforward_config(config: UniverseModelConfig) -> UniverseWalkForwardConfig:
    return UniverseWalkForwardConfig(seed=config.seed, n_trials=config.n_trials, tune=config.tune,
                                     refit_months=config.refit_months, min_history_days=config.min_history_days,
                                     explain=config.explain, lstm=config.lstm, lstm_refit_months=config.lstm_refit_months)


@dg.config_mapping
def _forecasts_config(config: UniverseModelConfig) -> dict:
    """The graph's config is every op's: run config stays `ops: {universe_forecasts: {config: ...}}`."""
    return {op: {"config": config.model_dump()} for op in FORECAST_OPS}


@dg.op(ins={"universe_features": dg.In(dg.Nothing)}, out=dg.DynamicOut(int))
def universe_horizons(config: UniverseModelConfig, lake: LakeResource):
    """One step per horizon: the executor may place each on any worker. Not one per coin: the pooled
    LightGBM, HAR and LSTM read every coin in one fit (docs/universe.md)."""
    for h in lane.forecast_horizons(lake.path, _walkforward_config(config)):
        yield dg.DynamicOutput(h, mapping_key=f"h{h}")


@dg.op
def universe_horizon(context: dg.OpExecutionContext, config: UniverseModelConfig, lake: LakeResource, horizon: int):
    """Every fold of one horizon: reads the lake, writes its forecasts atomically, returns a small part."""
    return lane.forecast_horizon(lake.path, _walkforward_config(config), horizon, context.run_id)


@dg.op(out={name: dg.Out(dg.Nothing) for name in FORECAST_TABLES})
def universe_forecasts_collected(context: dg.OpExecutionContext, config: UniverseModelConfig, lake: LakeResource,
                                 parts: list):
    """The horizons' parts as the three tables (and calibration, importance, MLflow), as one pass would write them."""
    out = lane.collect_forecasts(lake.path, _walkforward_config(config), parts, context.run_id, track=config.track)
    yield dg.Output(None, "universe_predictions", metadata={
        "dagster/row_count": out.predictions.height, "folds": out.predictions["fold"].n_unique(),
        "held_out_symbols": ", ".join(out.held_out), "skipped": dg.MetadataValue.json(out.skipped),
        "mlflow_runs": dg.MetadataValue.json(out.mlflow_runs), "seconds": round(out.seconds, 1)})
    yield dg.Output(None, "universe_forecast_metrics", metadata={
        "dagster/row_count": out.forecast_metrics.height, "headline": markdown(out.headline, rows=20)})
    yield dg.Output(None, "universe_class_metrics", metadata={"dagster/row_count": out.class_metrics.height})


@dg.graph_multi_asset(
    outs={name: dg.AssetOut(kinds={"parquet", "mlflow"}, metadata=catalog_metadata(name), dagster_type=dg.Nothing)
          for name in FORECAST_TABLES},
    ins={"universe_features": dg.AssetIn("universe_features", dagster_type=dg.Nothing)},
    group_name=GROUP,
    config=_forecasts_config,
)
def universe_forecasts(universe_features):
    # one step per horizon (`lane.forecast_horizon`: every fold of it), then one that writes the tables;
    # a comment, not a docstring: the graph's docstring would become the three assets' description
    outs = universe_forecasts_collected(universe_horizons(universe_features=universe_features).map(universe_horizon).collect())
    return dict(zip(FORECAST_TABLES, outs))


@dg.asset(group_name=GROUP, deps=["universe_predictions"], kinds={"parquet"}, metadata=catalog_metadata("universe_strategy_metrics"),
          description="Vol-targeting per coin vs buy-and-hold and trailing vol, net of costs.")
def universe_strategy_metrics(lake: LakeResource) -> dg.MaterializeResult:
    metrics = lane.build_strategy(lake.path)
    return dg.MaterializeResult(metadata={"dagster/row_count": metrics.height,
                                          "book": markdown(metrics.filter(metrics["symbol"] == "ALL"))})


@dg.asset(group_name=GROUP, deps=["universe_strategy_metrics", "universe_class_metrics", "universe_forecast_metrics"],
          kinds={"html", "mlflow"}, description="The universe report (self-contained HTML), logged to MLflow.")
def universe_report(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    path, uri = lane.build_report(lake.path, context.run.run_id[:8])
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(path)),
                                          "latest": dg.MetadataValue.path(str(universe_report_file(lake.path, "latest"))),
                                          "mlflow_artifacts": uri or ""})


universe_assets = [raw_universe, universe_features, universe_forecasts, universe_strategy_metrics, universe_report]
