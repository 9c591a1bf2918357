"""The micro tear sheet: one self-contained HTML page, the research plan's answer first.

Sections, in the order a researcher reads them: the gates (GO / NO-GO per strategy and symbol,
each criterion with its value and threshold), the books' quality, the information coefficient by
feature, the walk-forward's out-of-sample metrics and cross-symbol results, the cost curve (Sharpe
at 0.5-3x costs), per-regime and per-symbol results, and the paper fills' realised against assumed
slippage and fill rate. Same look as the DVOL tear sheet
(reports/html.py, reports/charts.py); a section whose table is missing says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from dvol_pipeline.reports.charts import Panel, Series, color, line_panels
from dvol_pipeline.reports.html import Section, cards, document, esc, explain, figure, note, table


@dataclass
class MicroReportData:
    run_id: str
    gates: pl.DataFrame | None
    quality: pl.DataFrame | None
    ic: pl.DataFrame | None
    fold_metrics: pl.DataFrame | None
    cross_symbol: pl.DataFrame | None
    metrics: pl.DataFrame | None
    fill_quality: pl.DataFrame | None = None


def _missing(frame: pl.DataFrame | None) -> bool:
    return frame is None or frame.is_empty()


def _gates(d: MicroReportData) -> str:
    if _missing(d.gates):
        return note("no micro_gates yet: materialize micro_research")
    decisions = d.gates.filter(pl.col("gate") == "decision").select("strategy", "symbol", "decision", "reason")
    go = decisions.filter(pl.col("decision") == "GO").height
    head = cards([("GO", str(go)), ("NO-GO", str(decisions.height - go))])
    criteria = d.gates.filter(pl.col("gate") != "decision").select(
        "strategy", "symbol", "gate", "criterion", pl.col("value").round(3), "threshold", "decision")
    return (head + explain("Gate 0: the microstructure features add at least 0.5 Sharpe over the same strategy "
                           "without them, the strategy is profitable at 2x costs, the top features' SHAP signs make "
                           "sense. Gate 1: Sharpe above 1.5 at realistic costs and 1.0 at 2x, SOL and ETH at least "
                           "70 % of BTC's, above 0.5 in every volatility regime. GO only if every criterion passes.")
            + table(decisions) + table(criteria, max_rows=200))


def _quality(d: MicroReportData) -> str:
    if _missing(d.quality):
        return note("no book_quality: the source had no depth data")
    q = d.quality.group_by("venue", "symbol").agg(
        pl.col("events").sum(), pl.col("sequence_breaks").sum().alias("breaks"), pl.col("resyncs").sum(),
        pl.col("crossed_states").sum().alias("crossed"), pl.col("skew_median_ms").median().round(2).alias("skew_ms"),
        pl.col("bbo_agreement").min().round(4).alias("bbo_agreement")).sort("venue", "symbol")
    return table(q)


def _ic(d: MicroReportData) -> str:
    if _missing(d.ic):
        return note("no micro_ic yet")
    pooled = d.ic.filter(pl.col("regime") == "all").group_by("feature").agg(pl.col("ic").mean().alias("mean_ic"))
    top = pooled.with_columns(pl.col("mean_ic").abs().alias("abs_ic")).sort("abs_ic", descending=True).head(25)
    return (explain("Spearman correlation of each feature with the forward mid return, out of the box (no model), "
                    "averaged over venues and symbols; the plan expects the best features at |IC| > 0.03.")
            + table(top.select("feature", pl.col("mean_ic").round(4))))


def _models(d: MicroReportData) -> str:
    if _missing(d.fold_metrics):
        return note("no walk-forward fold: the range is shorter than the training window")
    by = d.fold_metrics.group_by("family", "symbol").agg(
        pl.len().alias("folds"), pl.col("ic").mean().round(4), pl.col("auc").mean().round(3),
        pl.col("hit_rate").mean().round(3)).sort("family", "symbol")
    body = explain("Out-of-sample, fold by fold; the plan's bar is a test correlation with returns above 0.05.")
    body += table(by)
    if not _missing(d.cross_symbol):
        body += "<h3>Trained on BTC, tested on the others</h3>" + table(d.cross_symbol.with_columns(
            pl.col(pl.Float64).round(4)))
    return body


def _cost_curve(d: MicroReportData) -> str:
    if _missing(d.metrics):
        return note("no micro_strategy_metrics yet")
    pooled = d.metrics.filter(pl.col("regime") == "all").group_by("strategy", "execution", "cost_mult").agg(
        pl.col("sharpe").mean()).sort("strategy", "execution", "cost_mult")
    series = [Series(f"{s} {e}", g["cost_mult"].to_numpy(), g["sharpe"].fill_null(np.nan).to_numpy(), color(i))
              for i, ((s, e), g) in enumerate(pooled.group_by("strategy", "execution", maintain_order=True))]
    svg = line_panels("micro_cost_curve", [Panel("Sharpe against the cost multiplier (mean over venues and symbols)",
                                                 series, ylabel="Sharpe", reference=0.0, xlabel="cost multiplier")])
    return figure(svg, "Costs eat the edge: where each line crosses zero is the cost the strategy survives.")


def _per(d: MicroReportData, column: str) -> str:
    if _missing(d.metrics):
        return note("no micro_strategy_metrics yet")
    rows = d.metrics.filter((pl.col("cost_mult") - 1.0).abs() < 1e-9)
    rows = rows.filter(pl.col("regime") != "all") if column == "regime" else rows.filter(pl.col("regime") == "all")
    out = rows.group_by("strategy", "execution", column).agg(
        pl.col("sharpe").mean().round(2), pl.col("net_return").sum().round(4), pl.col("trades").sum(),
        pl.col("hit_rate").mean().round(3)).sort("strategy", "execution", column)
    return table(out, max_rows=200)


def _fills(d: MicroReportData) -> str:
    if _missing(d.fill_quality):
        return note("no paper replay yet (micro_eod): the realised fills are compared after the first end of day")
    q = d.fill_quality.group_by("strategy", "execution", "leg").agg(
        pl.col("orders").sum(), pl.col("realised_fill_rate").mean().round(3),
        pl.col("assumed_fill_rate").mean().round(3),
        pl.col("realised_slippage_bps").mean().round(2), pl.col("assumed_slippage_bps").mean().round(2)
    ).sort("strategy", "execution", "leg")
    return (explain("The paper replay's fills (queue position, 2 ms latency, against the rebuilt book) beside what "
                    "the backtest assumed: a passive order that the backtest filled but the queue did not is a "
                    "lower realised fill rate; slippage is in bps of the mid at sending.") + table(q))


def render_micro_report(d: MicroReportData) -> str:
    header = (f"<h1>Micro lane: order-book mean reversion</h1><p>run {esc(d.run_id)}: does order-book "
              "microstructure predict short-horizon mean reversion of BTC, ETH and SOL well enough to trade "
              "after costs?</p>")
    sections = [Section("gates", "The plan's gates: GO or NO-GO", _gates(d)),
                Section("quality", "The books the research stands on", _quality(d)),
                Section("ic", "Information coefficient by feature", _ic(d)),
                Section("models", "Walk-forward models, out of sample", _models(d)),
                Section("costs", "Cost curve", _cost_curve(d)),
                Section("regimes", "Per volatility regime (1x costs)", _per(d, "regime")),
                Section("symbols", "Per symbol (1x costs)", _per(d, "symbol")),
                Section("fills", "Fill model: realised against assumed", _fills(d))]
    return document("Micro lane tear sheet", header, sections)
