"""The micro lane's end of day: a paper replay of the strategies on the day's book, drift, degradation, kill switch.

For the last day of a run (`day`), reading the lake (decisions in `quant/micro/monitor.py` and
`quant/micro/paper.py`):

- the data-quality kill switch: a depth gap over 10 minutes on the day flattens that stream's paper
  book from the gap's start (`micro_gaps`);
- a paper replay of each strategy, passive and aggressive, on the day's features against the rebuilt
  book with the queue-aware fill model and a 2 ms latency, and its realised fill rate and slippage
  against what the backtest assumed;
- feature drift of the day against the days before it (PSI and the plan's 3-sigma rule);
- model degradation: each strategy's rolling 7-day Sharpe; below 0.5 raises the retrain flag.

Each output is written per (venue, symbol, day) with a `date` column, so the history of the nightly
runs stays in the lake.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from dvol_pipeline.lake.parquet import read_table_or_none, write_partitions

LATENCY_NS = 2_000_000
"""Order-to-exchange latency of the paper replay (2 ms: a co-located collector's order path, typical)."""
DRIFT_HISTORY_DAYS = 7
"""Days before the day that the drift compares it with."""


@dataclass
class EodBuild:
    day: date
    drift: pl.DataFrame
    fills: pl.DataFrame
    pnl: pl.DataFrame
    fill_quality: pl.DataFrame
    health: pl.DataFrame
    """Per venue, symbol, strategy and execution: killed, retrain, the 7-day Sharpe, drifting features."""

    @property
    def killed(self) -> pl.DataFrame:
        """The streams the kill switch flattened on the day."""
        h = self.health
        return h.filter(pl.col("killed")).select("venue", "symbol").unique() if h.height else h

    @property
    def retrain(self) -> pl.DataFrame:
        """The strategy runs whose full week's Sharpe is below the threshold."""
        h = self.health
        return h.filter(pl.col("retrain").fill_null(False)) if "retrain" in h.columns else h.clear()

    @property
    def drifting(self) -> pl.DataFrame:
        """The (stream, feature) pairs that drift against the days before."""
        return self.drift.filter(pl.col("drift")) if self.drift.height else self.drift


def _dated(frame: pl.DataFrame, day: date) -> pl.DataFrame:
    return frame.with_columns(pl.lit(day).alias("date"))


def build_eod(root, day: date, bar: str = "1m") -> EodBuild:
    from dvol_pipeline.quant.micro.models.labels import feature_columns
    from dvol_pipeline.quant.micro.monitor import degradation, feature_drift, kill_switch
    from dvol_pipeline.quant.micro.paper import paper_replay
    from dvol_pipeline.quant.micro.strategies import mean_reversion, microstructure
    from dvol_pipeline.quant.micro.strategies.common import strategy_frame
    from dvol_pipeline.quant.micro.strategies.costs import dynamic_cost_fn, market_state
    from dvol_pipeline.quant.micro.strategies.metrics import daily_returns

    first = day - timedelta(days=DRIFT_HISTORY_DAYS)
    features = read_table_or_none(root, "micro_features", first, day)
    bars = read_table_or_none(root, "micro_bars", first, day)
    if features is None or bars is None:
        raise FileNotFoundError(f"the micro end of day needs micro_features and micro_bars up to {day}")
    features = features.filter(pl.col("bar") == bar)
    bars = bars.filter(pl.col("bar") == bar)
    on_day = pl.col("ts").dt.date() == day
    live, train = features.filter(on_day), features.filter(~on_day)
    drift = feature_drift(train, live, feature_columns(features)) if train.height and live.height else pl.DataFrame()

    series = live.select("venue", "symbol").unique().sort("venue", "symbol")
    gaps = read_table_or_none(root, "micro_gaps", day - timedelta(days=1), day + timedelta(days=1))
    no_gaps = pl.DataFrame(schema={"venue": pl.Utf8, "symbol": pl.Utf8, "stream": pl.Utf8,
                                   "gap_start": pl.Datetime("ns", "UTC"), "gap_end": pl.Datetime("ns", "UTC"),
                                   "minutes": pl.Float64})
    kill = kill_switch(gaps if gaps is not None else no_gaps, day, series=series)

    width = {"1s": 1.0, "1m": 60.0, "5m": 300.0}[bar]
    cost_fn = dynamic_cost_fn(market_state(features, bars), width)
    strategies = [(mean_reversion.run_strategy, mean_reversion.MeanReversionConfig(passive=p)) for p in (False, True)]
    strategies += [(microstructure.run_strategy, microstructure.MicroConfig(passive=p)) for p in (False, True)]
    book = read_table_or_none(root, "book_top", day, day)
    trades = read_table_or_none(root, "raw_trades", day, day)
    if book is not None and trades is not None and live.height:
        paper = paper_replay(live, bars.filter(on_day), book, trades, strategies, LATENCY_NS, kill, cost_fn=cost_fn)
        fills, pnl, quality = paper.fills, paper.pnl, paper.vs_assumed
    else:  # no depth data: nothing to queue against
        fills = pnl = quality = pl.DataFrame()

    # the 7-day Sharpe of each strategy's daily net, from the backtest over the days in the lake
    frame = strategy_frame(features, bars)
    runs = [run(frame, config, cost_fn) for run, config in strategies]
    daily = pl.concat([daily_returns(r.bar_pnl) for r in runs if r.bar_pnl.height], how="diagonal_relaxed") \
        if any(r.bar_pnl.height for r in runs) else pl.DataFrame()
    health = kill.select("venue", "symbol", "killed", "flatten_ts")
    if daily.height:
        degraded = degradation(daily).filter(pl.col("date") == day).select(
            "strategy", "execution", "venue", "symbol", "sharpe_7d", "days", "retrain")
        health = health.join(degraded, on=["venue", "symbol"], how="left")
    if drift.height:
        drifting = drift.group_by("venue", "symbol").agg(pl.col("drift").sum().alias("drifting_features"))
        health = health.join(drifting, on=["venue", "symbol"], how="left")
    return EodBuild(day, drift, fills, pnl, quality, health)


def write_eod(root, build: EodBuild) -> dict[str, int]:
    """Each non-empty output as the day's partitions; returns rows per table."""
    from dvol_pipeline.lake.catalog import table

    written = {}
    for name, frame in (("micro_drift", build.drift), ("micro_paper_fills", build.fills),
                        ("micro_paper_pnl", build.pnl), ("micro_fill_quality", build.fill_quality),
                        ("micro_health", build.health)):
        if frame.height and {"venue", "symbol"} <= set(frame.columns):
            write_partitions(root, table(name), _dated(frame, build.day))
        written[name] = frame.height
    return written
