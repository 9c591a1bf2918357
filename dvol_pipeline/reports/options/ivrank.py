"""The tear sheet's IV-rank section: the gate's AUC per fold, net Sharpe per strategy x regime,
cost sensitivity 0.5-3x and the P&L by greek, from the ivrank_* tables.

Why these four: the gate is only worth its complexity if its out-of-sample AUC clears 0.5
month after month; the regime table says where a strategy earns; the cost curve says how
much of it survives worse fills; the greeks say whether it was the vol view (vega), the
carry (theta against gamma) or the hedge.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from dvol_pipeline.reports import charts
from dvol_pipeline.reports.charts import Panel, Series
from dvol_pipeline.reports.html import explain, figure, table
from dvol_pipeline.reports.inputs import TearSheetData, Unavailable, frame_of

GREEK_COLUMNS = ("delta_usd", "gamma_usd", "vega_usd", "theta_usd", "residual_usd")
TEXT = (
    "Three IV-rank strategies on the same out-of-sample months: the rule (sell a condor or the rich side's credit "
    "spread at high IV rank, buy a straddle at low rank), the same rule taken only when the walk-forward LightGBM "
    "gate's probability clears the threshold chosen on past folds, and a structure per regime chosen from past "
    "months. AUC is of each month's predictions of every candidate trade (every day x structure); 0.5 is a coin toss."
)


def _fold_dates(folds: pl.Series) -> np.ndarray:
    return np.array([np.datetime64(date(int(f[:4]), int(f[5:7]), 1), "D") for f in folds.to_list()])


def _gate(data: TearSheetData) -> str:
    folds = frame_of(data, "ivrank_folds").sort("fold")
    x = _fold_dates(folds["fold"])
    auc = folds["auc"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    lines = [Series("AUC", x, auc, color=charts.color(0)),
             Series("threshold", x, folds["threshold"].cast(pl.Float64).to_numpy(), color=charts.color(1), dashed=True)]
    svg = charts.line_panels("ivrank-auc", [Panel("Gate: out-of-sample AUC per month", lines, reference=0.5)])
    overall = folds.select((pl.col("auc") * pl.col("n")).sum() / pl.col("n").filter(pl.col("auc").is_not_null()).sum())
    text = f"n-weighted mean AUC {overall.item():.3f} over {folds.height} months."
    return figure(svg, text) + table(folds)


def _sharpe_grid(data: TearSheetData, asset: str) -> str:
    m = frame_of(data, "ivrank_metrics").filter((pl.col("cost_mult") == 1.0) & (pl.col("asset") == asset))
    if m.is_empty():
        raise Unavailable(f"ivrank_metrics has no rows for {asset} at cost x1")
    strategies = sorted(m["strategy"].unique().to_list())
    regimes = ["ALL", *sorted(r for r in m["regime"].unique().to_list() if r != "ALL")]
    grid = np.full((len(strategies), len(regimes)), np.nan)
    for row in m.iter_rows(named=True):
        if row["sharpe"] is not None:
            grid[strategies.index(row["strategy"]), regimes.index(row["regime"])] = row["sharpe"]
    svg = charts.matrix_heatmaps("ivrank-sharpe", [(f"Net Sharpe, {asset}, costs x1", strategies, regimes, grid)],
                                 ncols=1, cell_in=0.9)
    shown = m.select("strategy", "regime", "n_trades", "hit_rate", "net_usd", "sharpe", "max_drawdown_usd")
    return figure(svg, "Rows: strategy; columns: the trades' entry regime (ALL: every trade).") + table(
        shown.sort("strategy", "regime"))


def _costs(data: TearSheetData, asset: str) -> str:
    m = frame_of(data, "ivrank_metrics").filter((pl.col("regime") == "ALL") & (pl.col("asset") == asset))
    lines = []
    for i, (name,) in enumerate(sorted(m.partition_by("strategy", as_dict=True))):
        part = m.filter(pl.col("strategy") == name).sort("cost_mult")
        lines.append(Series(name, part["cost_mult"].to_numpy(), part["net_usd"].to_numpy(), color=charts.color(i)))
    svg = charts.line_panels("ivrank-costs", [Panel("Net P&L (USD) by cost multiplier", lines, reference=0.0,
                                                    xlabel="cost multiplier", usd=True)])
    pivot = m.pivot(on="cost_mult", index="strategy", values="sharpe").sort("strategy")
    return figure(svg, "Every cost (spreads and fees) scaled; exits do not depend on costs, so this is exact.") + (
        "<p>Net Sharpe by cost multiplier:</p>" + table(pivot))


def _greeks(data: TearSheetData, asset: str) -> str:
    m = frame_of(data, "ivrank_metrics").filter(
        (pl.col("regime") == "ALL") & (pl.col("asset") == asset) & (pl.col("cost_mult") == 1.0))
    cols = [c for c in GREEK_COLUMNS if c in m.columns]
    body = table(m.select("strategy", "gross_usd", *cols, "cost_usd", "net_usd").sort("strategy"))
    if data.ivrank_daily is not None and not data.ivrank_daily.is_empty():
        daily = data.ivrank_daily
        if asset != "ALL":
            daily = daily.filter(pl.col("asset") == asset)
        lines = []
        for i, name in enumerate(sorted(daily["strategy"].unique().to_list())):
            part = daily.filter(pl.col("strategy") == name).group_by("date").agg(pl.col("net_usd").sum()).sort("date")
            lines.append(Series(name, part["date"].to_numpy(), np.cumsum(part["net_usd"].to_numpy()),
                                color=charts.color(i)))
        svg = charts.line_panels("ivrank-equity", [Panel("Cumulative net P&L (USD, costs x1)", lines, reference=0.0,
                                                         usd=True)])
        body = figure(svg, "Summed over the days each strategy held a trade.") + body
    return body


def ivrank_section(data: TearSheetData, guarded) -> str:
    asset = data.asset if data.ivrank_metrics is not None and (data.ivrank_metrics["asset"] == data.asset).any() \
        else "ALL"
    return (
        explain(TEXT)
        + "<h3>Gate</h3>" + guarded(lambda: _gate(data))
        + "<h3>Net Sharpe by strategy and regime</h3>" + guarded(lambda: _sharpe_grid(data, asset))
        + "<h3>Cost sensitivity</h3>" + guarded(lambda: _costs(data, asset))
        + "<h3>Attribution by greek</h3>" + guarded(lambda: _greeks(data, asset))
    )
