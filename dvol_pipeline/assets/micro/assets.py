"""The micro lane as Dagster assets (group `micro`): thin glue over pipeline/micro/run.py.

Unpartitioned in Dagster: one run reads the source's ticks for a range of days and writes
the lake's (venue, symbol, day) partitions whole; the lake, not Dagster, keys the partitions
(a year of depth diffs for three symbols on two venues is ~2 000 partitions, and a backfill
reads each landing file once, though a file holds parts of two days). Contract checks warn:
a quarantined row is the contract working; a look-ahead in the features blocks.
"""

from datetime import date

import dagster as dg
from pydantic import Field

from dvol_pipeline.assets.metadata import catalog_metadata, markdown
from dvol_pipeline.contracts.micro import MICRO_RAW_TABLES
from dvol_pipeline.pipeline.micro import run as lane
from dvol_pipeline.resources import LakeResource, MarketResource

GROUP = "micro"
RAW = tuple(MICRO_RAW_TABLES)


class MicroRangeConfig(dg.Config):
    start: str = Field(default="", description="first UTC day (YYYY-MM-DD); empty: the inputs' first day")
    end: str = Field(default="", description="last UTC day, inclusive; empty: the inputs' last day")


class MicroIngestConfig(MicroRangeConfig):
    coins: list[str] = Field(default_factory=lambda: ["BTC", "ETH", "SOL"], description="simulated source: coins")
    intensity: float = Field(default=1.0, description="simulated source: event-rate multiplier (the demo runs lighter)")


class MicroBookConfig(MicroRangeConfig):
    gap_minutes: float = Field(default=lane.GAP_MINUTES, description="a hole longer than this is reported")
    bars: list[str] = Field(default_factory=lambda: ["1s", "1m", "5m"], description="time bars to build")
    volume_bars: bool = Field(default=True, description="also volume bars (size from the stream's daily volume)")


class MicroFeaturesConfig(MicroRangeConfig):
    bars: list[str] = Field(default_factory=lambda: list(lane.FEATURE_BARS), description="bar kinds to featurise")


def _day(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def _span(config: MicroRangeConfig, lake: LakeResource) -> tuple[dict, date, date]:
    """The streams with tick data (or a source's own bars) in the lake within the configured days
    (every day when empty), and the first and last of those days."""
    first, last = _day(config.start) or date.min, _day(config.end) or date.max
    streams = lane.streams_in_lake(lake.path, first, last)
    days = [d for ds in lane.streams_in_lake(lake.path, first, last, (*RAW, "micro_bars")).values() for d in ds]
    if not days:
        raise FileNotFoundError(f"no tick data in the lake under {lake.path} for {config.start or '...'}.."
                                f"{config.end or '...'}: materialize the raw tick tables first")
    return streams, min(days), max(days)


@dg.multi_asset(
    specs=[dg.AssetSpec(name, group_name=GROUP, kinds={"parquet"}, metadata=catalog_metadata(name),
                        description=MICRO_RAW_TABLES[name].doc) for name in RAW],
    check_specs=[dg.AssetCheckSpec("contract", asset="raw_book_deltas",
                                   description="positive prices, known sides, clocks and update ids in order; "
                                               "rejected rows quarantined with file, line and reason")],
)
def raw_ticks(config: MicroIngestConfig, lake: LakeResource, market: MarketResource):
    landing = market.landing or str(lake.path / "landing")
    ingest = lane.ingest_range(lake.path, market.source, landing=landing, start=_day(config.start),
                               end=_day(config.end), seed=market.seed, coins=tuple(config.coins),
                               intensity=config.intensity)
    for name in RAW:
        yield dg.MaterializeResult(asset_key=name, metadata={
            "dagster/row_count": ingest.rows_written.get(name, 0), "rows_from_source": ingest.rows_in.get(name, 0),
            "rows_quarantined": ingest.quarantined.get(name, 0), "duplicates_removed": ingest.duplicates.get(name, 0),
            "partitions_written": len(ingest.partitions.get(name, [])), "source": ingest.source})
    quarantined = sum(ingest.quarantined.values()) + ingest.unparsed
    yield dg.AssetCheckResult(
        asset_key="raw_book_deltas", check_name="contract", passed=quarantined == 0 and not ingest.refused,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{quarantined} row(s) quarantined, {ingest.unparsed} line(s) unparsable, "
                    f"{len(ingest.refused)} file(s) refused",
        metadata={"reasons": dg.MetadataValue.json(ingest.reasons), "notes": dg.MetadataValue.json(ingest.notes),
                  "refused": dg.MetadataValue.json([f"{p}: {why}" for p, why in ingest.refused]),
                  "missing_features": dg.MetadataValue.json(ingest.missing_features)})


BOOK_TABLES = ("book_top", "book_snapshots", "book_quality", "micro_gaps", "micro_bars")


def _units_config(op: str, config_class: type[dg.Config]) -> dg.ConfigMapping:
    """The graph's config is its first op's: run config stays `ops: {<asset>: {config: ...}}`."""

    @dg.config_mapping
    def mapping(config: config_class) -> dict:  # type: ignore[valid-type]
        return {op: {"config": config.model_dump()}}

    return mapping


@dg.op(ins={name: dg.In(dg.Nothing) for name in RAW}, out=dg.DynamicOut(dict))
def book_units(config: MicroBookConfig, lake: LakeResource):
    """One step per (venue, symbol, day) with ticks in the range: the executor may place each on any worker."""
    from dvol_pipeline.pipeline.micro.units import book_units as units_of
    from dvol_pipeline.pipeline.micro.units import unit_key

    _, first, last = _span(config, lake)
    for venue, symbol, day in units_of(lake.path, first, last):
        yield dg.DynamicOutput({"venue": venue, "symbol": symbol, "day": day.isoformat(), "bars": list(config.bars),
                                "volume_bars": config.volume_bars, "gap_minutes": config.gap_minutes},
                               mapping_key=unit_key((venue, symbol, day)))


@dg.op
def book_day(lake: LakeResource, unit: dict):
    """One unit: reads the lake, writes its day's partitions atomically, returns a small summary."""
    from dvol_pipeline.pipeline.micro.units import build_book_day

    return build_book_day(lake.path, unit["venue"], unit["symbol"], date.fromisoformat(unit["day"]),
                          tuple(unit["bars"]), unit["volume_bars"], unit["gap_minutes"])


@dg.op(out={**{name: dg.Out(dg.Nothing) for name in BOOK_TABLES},
            "bbo_agreement": dg.Out(dg.Nothing), "no_crossed_book": dg.Out(dg.Nothing)})
def books_collected(context: dg.OpExecutionContext, days: list):
    """The units' summaries as the five tables' metadata and the two book checks."""
    built = lane.collect_books(days)
    q = built.quality
    agreement = q["bbo_agreement"].drop_nulls()
    crossed = int(q["crossed_states"].sum()) if q.height else 0
    for line in built.notes:
        context.log.info(line)
    for name in ("book_top", "book_snapshots"):
        yield dg.Output(None, name, metadata={"streams": len(built.streams), "units": len(days)})
    yield dg.Output(None, "book_quality", metadata={
        "dagster/row_count": q.height, "quality": markdown(q, rows=30),
        "no_depth_data": ", ".join(f"{v}/{s}" for v, s in built.no_depth), "notes": dg.MetadataValue.json(built.notes)})
    yield dg.Output(None, "micro_gaps", metadata={"dagster/row_count": built.gaps.height,
                                                  "gaps": markdown(built.gaps, rows=20)})
    counts = built.bar_counts
    yield dg.Output(None, "micro_bars", metadata={
        "dagster/row_count": int(counts["len"].sum()) if counts.height else 0,
        "bars": markdown(counts.sort("venue", "symbol", "bar"), rows=60)})
    worst = float(agreement.min()) if agreement.len() else None
    yield dg.AssetCheckResult(asset_key="book_quality", check_name="bbo_agreement",
                              passed=worst is None or worst >= 0.99, severity=dg.AssetCheckSeverity.WARN,
                              description="no top-of-book stream to compare" if worst is None
                              else f"lowest agreement {worst:.4f} over {agreement.len()} session-day(s)")
    yield dg.AssetCheckResult(asset_key="book_quality", check_name="no_crossed_book", passed=crossed == 0,
                              severity=dg.AssetCheckSeverity.WARN, description=f"{crossed} crossed state(s)")


@dg.graph_multi_asset(
    outs={name: dg.AssetOut(kinds={"parquet", "numba"}, metadata=catalog_metadata(name),
                            dagster_type=dg.Nothing) for name in BOOK_TABLES},
    ins={name: dg.AssetIn(name, dagster_type=dg.Nothing) for name in RAW},
    group_name=GROUP,
    check_specs=[dg.AssetCheckSpec("bbo_agreement", asset="book_quality",
                                   description="the rebuilt best bid/ask equal the venue's own top-of-book stream on "
                                               ">= 99 % of synced seconds"),
                 dg.AssetCheckSpec("no_crossed_book", asset="book_quality",
                                   description="no rebuilt state with best bid >= best ask")],
    config=_units_config("book_units", MicroBookConfig),
)
def micro_books(raw_book_deltas, raw_trades, raw_top_of_book, raw_derivative_ticker, raw_liquidations):
    """One step per (venue, symbol, day) (`pipeline/micro/units.py`: the book replayed from the state at the
    day's start, its quality, gaps and bars), then one step that reports them."""
    units = book_units(raw_book_deltas=raw_book_deltas, raw_trades=raw_trades, raw_top_of_book=raw_top_of_book,
                       raw_derivative_ticker=raw_derivative_ticker, raw_liquidations=raw_liquidations)
    outs = books_collected(units.map(book_day).collect())
    return {**{name: outs[k] for k, name in enumerate(BOOK_TABLES)},
            "book_quality_bbo_agreement": outs[5], "book_quality_no_crossed_book": outs[6]}


@dg.op(ins={"micro_bars": dg.In(dg.Nothing)}, out=dg.DynamicOut(dict))
def feature_units(config: MicroFeaturesConfig, lake: LakeResource):
    """One step per day with bars in the range (a day's features read every stream of it: BTC against the
    alts, the spot-perp basis)."""
    from dvol_pipeline.pipeline.micro.units import feature_days

    _, first, last = _span(config, lake)
    for day in feature_days(lake.path, first, last):
        yield dg.DynamicOutput({"day": day.isoformat(), "bars": list(config.bars)},
                               mapping_key=day.strftime("d%Y%m%d"))


@dg.op
def features_day(lake: LakeResource, unit: dict):
    from dvol_pipeline.pipeline.micro.units import build_features_day

    return build_features_day(lake.path, date.fromisoformat(unit["day"]), tuple(unit["bars"]))


@dg.op(out={"micro_features": dg.Out(dg.Nothing), "micro_daily": dg.Out(dg.Nothing),
            "no_lookahead": dg.Out(dg.Nothing)})
def features_collected(context: dg.OpExecutionContext, days: list):
    if not days:
        raise FileNotFoundError("no micro_bars in the range: build the bars first")
    out = lane.collect_features(days)
    if not out.leak.passed:
        context.log.error(str(out.leak.violations))
    yield dg.Output(None, "micro_features", metadata={
        "dagster/row_count": out.rows, "columns": out.columns, "days": len(days),
        "features_not_built": dg.MetadataValue.json({k: v for k, v in out.missing.items() if v})})
    yield dg.Output(None, "micro_daily", metadata={"dagster/row_count": out.daily_rows})
    yield dg.AssetCheckResult(asset_key="micro_features", check_name="no_lookahead", passed=bool(out.leak.passed),
                              severity=dg.AssetCheckSeverity.ERROR,
                              metadata={"values_compared": int(out.leak.n_compared),
                                        "violations": markdown(out.leak.violations)})


@dg.graph_multi_asset(
    outs={"micro_features": dg.AssetOut(kinds={"parquet", "polars"}, dagster_type=dg.Nothing,
                                        metadata=catalog_metadata("micro_features")),
          "micro_daily": dg.AssetOut(kinds={"parquet"}, dagster_type=dg.Nothing,
                                     metadata=catalog_metadata("micro_daily"))},
    ins={"micro_bars": dg.AssetIn("micro_bars", dagster_type=dg.Nothing)},
    group_name=GROUP,
    check_specs=[dg.AssetCheckSpec("no_lookahead", asset="micro_features", blocking=True,
                                   description="sampled rows rebuilt from bars truncated at their close are equal")],
    config=_units_config("feature_units", MicroFeaturesConfig),
)
def micro_features(micro_bars):
    """One step per day (`units.build_features_day`), then one step that reports them and the look-ahead check."""
    outs = features_collected(feature_units(micro_bars=micro_bars).map(features_day).collect())
    return {"micro_features": outs[0], "micro_daily": outs[1], "micro_features_no_lookahead": outs[2]}


micro_assets = [raw_ticks, micro_books, micro_features]


class MicroResearchConfig(MicroRangeConfig):
    bar: str = Field(default="1m", description="bar kind the models and strategies read")
    horizon: str = Field(default="5m", description="label horizon (1m, 5m, 15m on 1-minute bars)")
    min_train_hours: float = Field(default=90 * 24,
                                   description="walk-forward: minimum training window (the plan: 90 days)")
    test_hours: float = Field(default=30 * 24, description="walk-forward: test window (the plan: 30 days)")
    step_hours: float = Field(default=30 * 24, description="walk-forward: step (the plan: 30 days)")
    embargo_hours: float = Field(default=24, description="walk-forward: embargo after training (the plan: 1 day)")
    n_trials: int = Field(default=3, description="Optuna trials per fold, scored on purged k-fold inside the window")
    track: bool = Field(default=True, description="log every fitted model (fold, venue, symbol, family) to MLflow")


RESEARCH_TABLES = ("micro_predictions", "micro_fold_metrics", "micro_cross_symbol", "micro_ic", "micro_trades",
                   "micro_strategy_metrics", "micro_gates")


@dg.multi_asset(
    specs=[dg.AssetSpec(name, group_name=GROUP, kinds={"parquet", "lightgbm"}, deps=["micro_features"],
                        metadata=catalog_metadata(name)) for name in RESEARCH_TABLES],
)
def micro_research(context: dg.AssetExecutionContext, config: MicroResearchConfig, lake: LakeResource):
    """Labels, walk-forward models, IC, the three strategies at 0.5-3x costs, and the plan's gates."""
    from datetime import timedelta

    from dvol_pipeline.pipeline.micro.research import ResearchConfig, build_research, track_research, write_research

    _, first, last = _span(config, lake)
    cfg = ResearchConfig(bar=config.bar, horizon=config.horizon, min_train=timedelta(hours=config.min_train_hours),
                         test=timedelta(hours=config.test_hours), step=timedelta(hours=config.step_hours),
                         embargo=timedelta(hours=config.embargo_hours), n_trials=config.n_trials)
    out = build_research(lake.path, first, last, cfg)
    write_research(lake.path, out)
    runs = track_research(lake.path, out) if config.track else 0
    context.log.info(f"{runs} model run(s) logged to MLflow (experiment micro_walkforward)")
    for line in out.notes:
        context.log.info(line)
    counts = {"micro_predictions": out.predictions, "micro_fold_metrics": out.fold_metrics,
              "micro_cross_symbol": out.cross_symbol, "micro_ic": out.ic, "micro_trades": out.trades,
              "micro_strategy_metrics": out.metrics, "micro_gates": out.gates}
    for name, frame in counts.items():
        meta = {"dagster/row_count": frame.height}
        if name == "micro_gates":
            meta["decisions"] = markdown(out.decisions, rows=30)
        yield dg.MaterializeResult(asset_key=name, metadata=meta)


micro_assets = [*micro_assets, micro_research]


@dg.asset(group_name=GROUP, kinds={"html"},
          deps=["micro_gates", "micro_strategy_metrics", "micro_ic", "book_quality", "micro_fill_quality"],
          description="The micro tear sheet (self-contained HTML): the gates first, then books, IC, models, costs.")
def micro_report(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    from dvol_pipeline.lake.catalog import micro_report_file
    from dvol_pipeline.pipeline.micro.research import build_report

    path = build_report(lake.path, context.run.run_id[:8])
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(path)),
                                          "latest": dg.MetadataValue.path(str(micro_report_file(lake.path, "latest")))})


micro_assets = [*micro_assets, micro_report]


EOD_TABLES = ("micro_drift", "micro_paper_fills", "micro_paper_pnl", "micro_fill_quality", "micro_health")


@dg.multi_asset(
    specs=[dg.AssetSpec(name, group_name=GROUP, kinds={"parquet"}, deps=["micro_gates"],
                        metadata=catalog_metadata(name)) for name in EOD_TABLES],
    check_specs=[dg.AssetCheckSpec("kill_switch", asset="micro_health",
                                   description="no depth gap over 10 minutes on the day (else the paper book is flat)"),
                 dg.AssetCheckSpec("no_retrain_flag", asset="micro_health",
                                   description="every strategy's rolling 7-day Sharpe is at least 0.5"),
                 dg.AssetCheckSpec("no_feature_drift", asset="micro_drift",
                                   description="no feature with PSI > 0.25 or over 1 % of rows beyond 3 sigma")],
)
def micro_eod(context: dg.AssetExecutionContext, config: MicroRangeConfig, lake: LakeResource):
    """The last day of the range: paper replay with queue-aware fills, drift, degradation, the kill switch."""
    from dvol_pipeline.pipeline.micro.eod import build_eod, write_eod

    _, _, last = _span(config, lake)
    out = build_eod(lake.path, last)
    rows = write_eod(lake.path, out)
    for name in EOD_TABLES:
        yield dg.MaterializeResult(asset_key=name, metadata={"dagster/row_count": rows[name], "date": str(last)})
    killed, retrain, drifting = out.killed, out.retrain, out.drifting
    yield dg.AssetCheckResult(asset_key="micro_health", check_name="kill_switch", passed=killed.height == 0,
                              severity=dg.AssetCheckSeverity.WARN, description=f"{killed.height} stream(s) flattened")
    yield dg.AssetCheckResult(asset_key="micro_health", check_name="no_retrain_flag", passed=retrain.height == 0,
                              severity=dg.AssetCheckSeverity.WARN,
                              description=f"{retrain.height} strategy run(s) below a 7-day Sharpe of 0.5 (needs a "
                                          "full week of days)")
    yield dg.AssetCheckResult(asset_key="micro_drift", check_name="no_feature_drift", passed=drifting.height == 0,
                              severity=dg.AssetCheckSeverity.WARN,
                              description=f"{drifting.height} (stream, feature) pair(s) drifting against the days "
                                          "before")


micro_assets = [*micro_assets, micro_eod]
