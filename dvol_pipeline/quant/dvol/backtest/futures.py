"""The DVOL-futures backtest of the walk-forward forecasts: every family x horizon x coin.

Daily P&L in vol points = position_t x (F_{t+1} - F_t) - cost of the trade at t, F the
held DVOL future's price (listing.py: a basis to the index from the term structure, rolls
before expiries, nothing before listing; the index itself with `contract=None`);
USD = vol points x multiplier_usd x contracts_per_unit (config.py). tau per fold comes from past folds (threshold.py);
positions from staggered tranches (positions.py); controls from risk.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from dvol_pipeline.quant.dvol.backtest.config import BacktestConfig
from dvol_pipeline.quant.dvol.backtest.positions import Panel, Simulation, build_panel, simulate
from dvol_pipeline.quant.dvol.backtest.risk import jump_days
from dvol_pipeline.quant.dvol.backtest.robustness import noise_injection, tau_cost_sweep
from dvol_pipeline.quant.evaluate.daily_frame import FUTURES_DAILY_SCHEMA, FUTURES_STRATEGY, KEYS
from dvol_pipeline.quant.evaluate.strategy import array_summary, by_regime, by_year, strategy_metrics
from dvol_pipeline.quant.dvol.backtest.threshold import select_taus, thresholds_frame
from dvol_pipeline.quant.stats import drawdown


@dataclass(frozen=True)
class BacktestResult:
    daily: pl.DataFrame
    thresholds: pl.DataFrame
    metrics: pl.DataFrame
    by_year: pl.DataFrame
    by_regime: pl.DataFrame
    cost_sensitivity: pl.DataFrame
    risk_effects: pl.DataFrame
    sweep: pl.DataFrame
    robustness: pl.DataFrame
    kill_events: pl.DataFrame


def daily_frame(panel: Panel, sim: Simulation, tau: np.ndarray) -> pl.DataFrame:
    """The FUTURES_DAILY_SCHEMA frame: one row per strategy and day from its first forecast."""
    path, usd = sim.path, sim.usd_per_vol
    rows, days = np.nonzero(panel.started)
    net_vol = path.gross_vol - path.cost_vol
    equity = np.cumsum(net_vol * usd, axis=1)
    keys = panel.keys[rows]
    cols = {
        "date": panel.dates[days], "asset": keys["asset"], "strategy": keys.select(FUTURES_STRATEGY).to_series(),
        "family": keys["family"], "horizon": keys["horizon"], "sample": np.full(len(rows), "oos"),
        "position": path.position[rows, days], "turnover": path.turnover[rows, days],
        "gross_usd": path.gross_vol[rows, days] * usd, "cost_usd": path.cost_vol[rows, days] * usd,
        "net_usd": net_vol[rows, days] * usd, "equity_usd": equity[rows, days],
        "drawdown_usd": drawdown(net_vol * usd)[rows, days],
        "gross_vol": path.gross_vol[rows, days], "cost_vol": path.cost_vol[rows, days],
        "net_vol": net_vol[rows, days],
        "tau": np.broadcast_to(tau, panel.y_hat.shape)[rows, days], "signal": sim.signal[rows, days],
        "y_hat": pl.Series(panel.y_hat[rows, days]).fill_nan(None),
        "guardrail": panel.guardrail[rows, days], "stopped": path.stopped[rows, days],
        "killed": path.killed[rows, days],
        "contract_expiry": panel.contract_expiry[rows, days],
        "futures_price": pl.Series(panel.futures_price[rows, days]).fill_nan(None),
        "roll": panel.roll[rows, days] & (path.turnover[rows, days] > 0),
    }
    return pl.DataFrame({c: pl.Series(c, cols[c]).cast(t) for c, t in FUTURES_DAILY_SCHEMA.items()})


def cost_sensitivity(panel: Panel, sim: Simulation, config: BacktestConfig) -> pl.DataFrame:
    """The same trades repriced at each cost multiplier (taus and control decisions held at
    the 1x run, so the table isolates what costs do; the sweep lets tau and costs vary)."""
    gross, cost = sim.path.gross_vol * sim.usd_per_vol, sim.path.cost_vol * sim.usd_per_vol
    out = []
    for mult in config.cost_multipliers:
        summary = array_summary(panel.keys, gross - mult * cost, panel.started, config.annualization)
        spent = array_summary(panel.keys, mult * cost, panel.started, config.annualization)["net_usd"]
        out.append(summary.with_columns(cost_mult=pl.lit(float(mult)), cost_usd=spent))
    return (
        pl.concat(out).with_columns(strategy=FUTURES_STRATEGY)
        .select("strategy", *KEYS[1:], "cost_mult", "net_usd", "cost_usd", "sharpe", "max_drawdown_usd", "n_days")
        .sort("horizon", "family", "asset", "cost_mult")
    )


def risk_variants(config: BacktestConfig) -> dict[str, object]:
    risk = config.risk
    return {
        "full": risk,
        "without_position_cap": replace(risk, position_cap=None),
        "without_guardrail": replace(risk, guardrail=False),
        "without_daily_stop": replace(risk, daily_stop_usd=None),
        "without_kill_switch": replace(risk, kill_drawdown_usd=None),
        "without_all": replace(risk, position_cap=None, guardrail=False, daily_stop_usd=None, kill_drawdown_usd=None),
    }


def risk_control_effects(panel: Panel, tau: np.ndarray, full: Simulation, config: BacktestConfig) -> pl.DataFrame:
    """Full strategy vs each control switched off (same taus): net, Sharpe, drawdown, and the
    days whose position differs from the full strategy's."""
    out = []
    for name, risk in risk_variants(config).items():
        sim = full if name == "full" else simulate(panel, tau, config, risk=risk)
        net = (sim.path.gross_vol - sim.path.cost_vol) * sim.usd_per_vol
        differs = (np.abs(sim.path.position - full.path.position) > 1e-12) & panel.started
        summary = array_summary(panel.keys, net, panel.started, config.annualization)
        affected = array_summary(panel.keys, differs.astype(float), panel.started, config.annualization)["net_usd"]
        out.append(summary.with_columns(variant=pl.lit(name), days_affected=affected.cast(pl.Int64)))
    table = pl.concat(out).with_columns(strategy=FUTURES_STRATEGY)
    base = table.filter(pl.col("variant") == "full").select(*KEYS[1:], full_net_usd="net_usd")
    return (
        table.join(base, on=KEYS[1:], how="left")
        .with_columns(control_effect_net_usd=pl.col("full_net_usd") - pl.col("net_usd"))
        .select("strategy", *KEYS[1:], "variant", "net_usd", "sharpe", "max_drawdown_usd", "days_affected",
                "control_effect_net_usd")
        .sort("horizon", "family", "asset", "variant")
    )


def control_events(panel: Panel, sim: Simulation) -> pl.DataFrame:
    """Every firing of the kill-switch and the daily stop: the row whose loss triggered it,
    the flat window it caused and the trigger (drawdown or day's loss, USD)."""
    last = len(panel.dates) - 1
    ev = sim.path.kill_events
    k_rows, k_day = ev[:, 0].astype(int), ev[:, 1].astype(int)
    s_rows, s_day = np.nonzero(sim.path.stop_fired)
    net = (sim.path.gross_vol - sim.path.cost_vol) * sim.usd_per_vol
    rows = np.concatenate([k_rows, s_rows])
    seen = np.concatenate([k_day, s_day])
    until = np.concatenate([ev[:, 2].astype(int), np.minimum(s_day + 1, last)])
    trigger = np.concatenate([ev[:, 3], -net[s_rows, s_day]])
    keys = panel.keys[rows].with_columns(strategy=FUTURES_STRATEGY)
    return keys.select("strategy", *KEYS[1:]).with_columns(
        control=pl.Series(["kill_switch"] * len(k_rows) + ["daily_stop"] * len(s_rows), dtype=pl.Utf8),
        date=pl.Series(panel.dates[seen], dtype=pl.Date),
        flat_from=pl.Series(panel.dates[np.minimum(seen + 1, last)], dtype=pl.Date),
        flat_until=pl.Series(panel.dates[until], dtype=pl.Date),
        trigger_usd=pl.Series(trigger, dtype=pl.Float64),
    ).filter(pl.col("date") < pl.col("flat_from")).sort("control", "horizon", "family", "asset", "date")


def run_futures_backtest(
    predictions: pl.DataFrame, market: pl.DataFrame, config: BacktestConfig = BacktestConfig()
) -> BacktestResult:
    """predictions: date, asset, horizon, family, y_hat (walk-forward OOS). market: date,
    asset, dvol, the jump proxy (config.risk.jump_column) and funding_mean (features_daily)."""
    panel = build_panel(predictions, market, config)
    choice = select_taus(panel, config)
    tau = choice.by_day()
    sim = simulate(panel, tau, config)
    daily = daily_frame(panel, sim, tau)
    stats_kw = {"capital_usd": config.capital_usd, "annualization": config.annualization}
    jumps = jump_days(market, config.risk)
    empty = pl.DataFrame()
    return BacktestResult(
        daily=daily,
        thresholds=thresholds_frame(panel, choice),
        metrics=strategy_metrics(daily, jump_days=jumps, **stats_kw),
        by_year=by_year(daily, jump_days=jumps, **stats_kw),
        by_regime=by_regime(daily, market, jump_days=jumps, **stats_kw),
        cost_sensitivity=cost_sensitivity(panel, sim, config),
        risk_effects=risk_control_effects(panel, tau, sim, config),
        sweep=tau_cost_sweep(panel, config) if config.run_sweep else empty,
        robustness=noise_injection(predictions, market, config) if config.run_robustness else empty,
        kill_events=control_events(panel, sim),
    )
