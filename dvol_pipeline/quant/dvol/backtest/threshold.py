"""The trading threshold tau, chosen per strategy and fold on past folds only.

For fold K (a calendar month) every candidate tau is backtested on the same strategy
(staggering, costs, guardrail and cap; not the stop and kill-switch, which are overlays
on top of the signal) over the days before K, expanding from the strategy's first
forecast. Only P&L realised before K's first day counts: the row dated t earns the move to
t+1, so rows up to the first day minus two. tau maximises that net Sharpe (or total net
P&L, `objective="net"`); ties go to the larger tau, and a tau that never trades scores 0, so
flat wins over a losing tau. With fewer than `min_insample_days` past days, tau is the
default (the round-trip cost floor).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from dvol_pipeline.quant.dvol.backtest.config import BacktestConfig
from dvol_pipeline.quant.dvol.backtest.costs import roll_trade_cost_vol
from dvol_pipeline.quant.dvol.backtest.positions import Panel, signals, target_positions
from dvol_pipeline.quant.stats import sharpe_from_sums


@dataclass(frozen=True)
class TauChoice:
    folds: list[str]  # "YYYY-MM"
    fold_of_day: np.ndarray  # (days,) index into folds
    tau: np.ndarray  # (strategies, folds)
    insample_sharpe: np.ndarray  # net Sharpe of the chosen tau on past days; nan for the default
    insample_days: np.ndarray
    from_past: np.ndarray  # bool: chosen on past folds (False = default)

    def by_day(self) -> np.ndarray:
        return self.tau[:, self.fold_of_day]


def candidate_grid(config: BacktestConfig, cost_mult: np.ndarray | float = 1.0) -> np.ndarray:
    """(strategies or 1, candidates): multiples of the round-trip cost, ascending."""
    floor = config.costs.round_trip * np.atleast_1d(np.asarray(cost_mult, float))
    return floor[:, None] * np.sort(np.asarray(config.thresholds.grid_multiples, float))[None, :]


def fold_calendar(dates: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Folds, each day's fold index, and per fold the number of days whose P&L is realised
    before the fold's first day (dates <= first day - 2)."""
    months = dates.astype("datetime64[M]")
    uniq, fold_of_day = np.unique(months, return_inverse=True)
    cutoff = uniq.astype("datetime64[D]") - np.timedelta64(2, "D")
    return [str(m) for m in uniq], fold_of_day, np.searchsorted(dates, cutoff, side="right")


def _past_stats(net: np.ndarray, active: np.ndarray, ends: np.ndarray, ann: int):
    """(annualised Sharpe, total net, day count) of each row over days [0, end) per fold end.
    A row that never traded (zero variance) has Sharpe 0: flat is a valid choice."""
    at = np.maximum(ends - 1, 0)
    seen = (ends > 0)[None, :]
    s1 = np.where(seen, np.cumsum(net * active, axis=1)[:, at], 0.0)
    s2 = np.where(seen, np.cumsum(net**2 * active, axis=1)[:, at], 0.0)
    n = np.where(seen, np.cumsum(active, axis=1)[:, at], 0)
    return np.nan_to_num(sharpe_from_sums(s1, s2, n, ann), nan=0.0), s1, n


def select_taus(panel: Panel, config: BacktestConfig, cost_mult: np.ndarray | float = 1.0) -> TauChoice:
    th = config.thresholds
    if th.objective not in ("sharpe", "net"):
        raise ValueError(f"ThresholdConfig.objective must be 'sharpe' or 'net', got {th.objective!r}")
    n_rows = panel.keys.height
    mult = np.broadcast_to(np.asarray(cost_mult, float), (n_rows,))
    grid = np.broadcast_to(candidate_grid(config, mult), (n_rows, len(th.grid_multiples)))
    folds, fold_of_day, ends = fold_calendar(panel.dates)
    per_unit = (config.costs.per_unit * mult)[:, None]
    impact = (config.costs.impact_vol * config.costs.multiplier * mult)[:, None]
    sharpes, nets, days = [], [], None
    for g in range(grid.shape[1]):
        target = target_positions(signals(panel.y_hat, grid[:, g : g + 1]), panel, config.risk)
        prev = np.concatenate([np.zeros((target.shape[0], 1)), target[:, :-1]], axis=1)
        net = target * panel.dvol_change - roll_trade_cost_vol(target, prev, panel.roll, per_unit, impact)
        sharpe, total, days = _past_stats(net, panel.started, ends, config.annualization)
        sharpes.append(sharpe)
        nets.append(total)
    sharpe = np.stack(sharpes)  # (candidates, strategies, folds)
    score = sharpe if th.objective == "sharpe" else np.stack(nets)
    best = grid.shape[1] - 1 - np.argmax(score[::-1], axis=0)  # ties -> larger tau
    chosen = np.take_along_axis(grid, best, axis=1)
    from_past = days >= th.min_insample_days
    default = config.costs.round_trip * mult[:, None] * th.default_multiple
    return TauChoice(
        folds=folds, fold_of_day=fold_of_day,
        tau=np.where(from_past, chosen, default),
        insample_sharpe=np.where(from_past, np.take_along_axis(sharpe, best[None], axis=0)[0], np.nan),
        insample_days=days, from_past=from_past,
    )


def thresholds_frame(panel: Panel, choice: TauChoice) -> pl.DataFrame:
    """family, horizon, asset, fold, tau, in_sample_sharpe, in_sample_days, tau_source, for
    every fold in which the strategy has forecasts."""
    has = np.zeros((panel.keys.height, len(choice.folds)), bool)
    np.logical_or.at(has.T, choice.fold_of_day, np.isfinite(panel.y_hat).T)
    rows, folds = np.nonzero(has)
    keys = panel.keys[rows]
    return keys.with_columns(
        fold=pl.Series(np.asarray(choice.folds)[folds]),
        tau=pl.Series(choice.tau[rows, folds]),
        in_sample_sharpe=pl.Series(choice.insample_sharpe[rows, folds]).fill_nan(None),
        in_sample_days=pl.Series(choice.insample_days[rows, folds].astype(np.int64)),
        tau_source=pl.Series(np.where(choice.from_past[rows, folds], "past_folds", "default")),
    )
