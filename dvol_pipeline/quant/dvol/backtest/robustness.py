"""Is the result an accident of the exact marks, tau or cost assumptions?

(a) Noise injection: add seeded Gaussian noise to each day's DVOL mark (so to the P&L and
    to the tau selection that reads it) and to funding (the guardrail input), rebuild
    everything, and report the spread of net Sharpe and net P&L over the draws.
(b) Sweep: every strategy at fixed taus x cost multipliers (all risk controls on), for a
    heatmap of where the edge survives costs.
Variants run side by side as extra rows of one panel, so each is one pass over the days.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from dvol_pipeline.quant.dvol.backtest.config import BacktestConfig
from dvol_pipeline.quant.dvol.backtest.positions import Panel, build_panel, simulate
from dvol_pipeline.quant.evaluate.daily_frame import FUTURES_STRATEGY
from dvol_pipeline.quant.evaluate.strategy import array_summary
from dvol_pipeline.quant.dvol.backtest.threshold import select_taus


def _net_usd(sim) -> np.ndarray:
    path = sim.path
    return (path.gross_vol - path.cost_vol) * sim.usd_per_vol


def perturbed_market(market: pl.DataFrame, config: BacktestConfig, rng: np.random.Generator) -> pl.DataFrame:
    rob = config.robustness
    frame = market.sort("asset", "date")
    noisy = [pl.col("dvol") + rng.normal(0.0, rob.dvol_noise_sd, frame.height)]
    if "funding_mean" in frame.columns:
        noisy.append(pl.col("funding_mean") + rng.normal(0.0, rob.funding_noise_sd, frame.height))
    return frame.with_columns(noisy)


def noise_injection(predictions: pl.DataFrame, market: pl.DataFrame, config: BacktestConfig) -> pl.DataFrame:
    """strategy, family, horizon, asset (and ALL), draws, sharpe/net_usd mean, p5, p95."""
    rob = config.robustness
    rng = np.random.default_rng(rob.seed)
    panels = [build_panel(predictions, perturbed_market(market, config, rng), config) for _ in range(rob.draws)]
    panel = Panel.stack(panels, pl.DataFrame({"draw": np.arange(rob.draws)}))
    sim = simulate(panel, select_taus(panel, config).by_day(), config)
    summary = array_summary(panel.keys, _net_usd(sim), panel.started, config.annualization)
    return (
        summary.group_by("family", "horizon", "asset", maintain_order=True)
        .agg(
            draws=pl.len(),
            sharpe_mean=pl.col("sharpe").mean(), sharpe_p5=pl.col("sharpe").quantile(0.05, "linear"),
            sharpe_p95=pl.col("sharpe").quantile(0.95, "linear"),
            net_usd_mean=pl.col("net_usd").mean(), net_usd_p5=pl.col("net_usd").quantile(0.05, "linear"),
            net_usd_p95=pl.col("net_usd").quantile(0.95, "linear"),
        )
        .with_columns(strategy=FUTURES_STRATEGY)
        .select("strategy", pl.exclude("strategy"))
        .sort("horizon", "family", "asset")
    )


def tau_cost_sweep(panel: Panel, config: BacktestConfig) -> pl.DataFrame:
    """strategy, family, horizon, asset (and ALL), tau, cost_mult, net_usd, sharpe, max_drawdown_usd."""
    labels = pl.DataFrame(
        [(float(t), float(m)) for t in config.robustness.sweep_taus for m in config.cost_multipliers],
        schema={"tau": pl.Float64, "cost_mult": pl.Float64}, orient="row",
    )
    tiled = panel.tile(labels)
    sim = simulate(tiled, tiled.keys["tau"].to_numpy()[:, None], config, cost_mult=tiled.keys["cost_mult"].to_numpy())
    summary = array_summary(tiled.keys, _net_usd(sim), tiled.started, config.annualization)
    return (
        summary.with_columns(strategy=FUTURES_STRATEGY)
        .select("strategy", "family", "horizon", "asset", "tau", "cost_mult", "net_usd", "sharpe", "max_drawdown_usd")
        .sort("horizon", "family", "asset", "tau", "cost_mult")
    )
