"""Risk controls: the event guardrail (from market data, past only) and the path-dependent
daily stop and drawdown kill-switch.

Timing. The row dated t holds the position decided at the close of t and earns the move
to t+1, so its net P&L is known at the close of t+1 and can only change the position of
row t+1 onward. The stop flattens row t+1 after a row-t loss beyond `daily_stop_usd`. The
kill-switch flattens rows t+1 .. end of the window (kill_days, or the end of the fold that
row t+1 belongs to) after the drawdown from the running equity peak passes
`kill_drawdown_usd`; when it fires the peak re-arms at the equity it fired at, so it next
fires on fresh losses, not on the same drawdown again. Controls act on the held position
only: the staggered tranche book keeps running, so trading resumes where the signals stand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from dvol_pipeline.quant.dvol.backtest.config import RiskConfig
from dvol_pipeline.quant.dvol.backtest.costs import roll_trade_cost_vol, traded_units


def _trailing_flag(value: pl.Expr, risk: RiskConfig) -> pl.Expr:
    """value today > its `guardrail_quantile` over the previous lookback days (today excluded)."""
    threshold = value.shift(1).rolling_quantile(
        risk.guardrail_quantile, "linear", window_size=risk.guardrail_lookback_days,
        min_samples=risk.guardrail_min_days,
    )
    return (value > threshold).fill_null(False)


def market_flags(market: pl.DataFrame, risk: RiskConfig) -> pl.DataFrame:
    """date, asset, jump_flag (jump proxy above its trailing quantile), guardrail (jump_flag,
    or |funding| above its trailing quantile when guardrail_funding). Past data only; the
    guardrail column is computed even when the guardrail is off (it then scales nothing)."""
    funding = (
        _trailing_flag(pl.col("funding_mean").abs(), risk).over("asset")
        if risk.guardrail and risk.guardrail_funding else pl.lit(False)
    )
    flags = market.sort("asset", "date").with_columns(
        jump_flag=_trailing_flag(pl.col(risk.jump_column), risk).over("asset"), funding_flag=funding
    )
    return flags.select("date", "asset", "jump_flag", guardrail=pl.col("jump_flag") | pl.col("funding_flag"))


def jump_days(market: pl.DataFrame, risk: RiskConfig) -> pl.DataFrame:
    """date, asset, jump_day: the P&L of row t is earned on day t+1, so row t is a jump day
    when day t+1's jump proxy is flagged."""
    flags = market_flags(market, risk).select(
        (pl.col("date") - pl.duration(days=1)).alias("date"), "asset", pl.col("jump_flag").alias("jump_day")
    )
    return market.select("date", "asset").join(flags, on=["date", "asset"], how="left").with_columns(
        pl.col("jump_day").fill_null(False)
    )


@dataclass(frozen=True)
class PathResult:
    """Arrays of shape (strategies, days)."""

    position: np.ndarray
    turnover: np.ndarray
    gross_vol: np.ndarray
    cost_vol: np.ndarray
    stopped: np.ndarray
    killed: np.ndarray
    stop_fired: np.ndarray
    kill_events: np.ndarray  # (events, 4): row, day seen, last flat day, drawdown USD


def kill_window_end(dates: np.ndarray, kill_days: int | None) -> np.ndarray:
    """Last flat day index for a breach seen on each row: t + kill_days, or the last day of
    the month (fold) of row t+1."""
    n = len(dates)
    idx = np.arange(n)
    if kill_days is not None:
        return np.minimum(idx + kill_days, n - 1)
    months = dates.astype("datetime64[M]")
    month_last = np.searchsorted(months, months, side="right") - 1
    return month_last[np.minimum(idx + 1, n - 1)]


def run_path(
    target: np.ndarray,
    dvol_change: np.ndarray,
    *,
    per_unit: np.ndarray,
    impact: np.ndarray,
    usd_per_vol: float,
    stop_usd: np.ndarray,
    kill_usd: np.ndarray,
    window_end: np.ndarray,
    roll: np.ndarray | None = None,
) -> PathResult:
    """Apply the daily stop and kill-switch day by day, vectorised across strategies.

    `per_unit`, `impact`, `stop_usd`, `kill_usd` have one entry per strategy (inf = off);
    `roll` (strategies, days): the position moves into the next contract at that close.
    """
    n, t_len = target.shape
    tgt, chg = np.ascontiguousarray(target.T), np.ascontiguousarray(dvol_change.T)
    rolls = np.zeros((t_len, n), bool) if roll is None else np.ascontiguousarray(roll.T)
    pos_out, cost_out = np.zeros((t_len, n)), np.zeros((t_len, n))
    stopped, killed, fired = (np.zeros((t_len, n), bool) for _ in range(3))
    prev, equity, peak = np.zeros(n), np.zeros(n), np.zeros(n)
    stop_next = np.zeros(n, bool)
    kill_until = np.full(n, -1)
    events = []
    for t in range(t_len):
        killed[t] = kill_until >= t
        stopped[t] = stop_next & ~killed[t]
        pos = np.where(killed[t] | stop_next, 0.0, tgt[t])
        cost = roll_trade_cost_vol(pos, prev, rolls[t], per_unit, impact)
        net_usd = (pos * chg[t] - cost) * usd_per_vol
        equity += net_usd
        np.maximum(peak, equity, out=peak)
        stop_next = fired[t] = net_usd < -stop_usd
        breach = (peak - equity > kill_usd) & (kill_until <= t)
        if breach.any():
            rows = np.flatnonzero(breach)
            events.append(np.column_stack([rows, np.full(len(rows), t), np.full(len(rows), window_end[t]),
                                           (peak - equity)[rows]]))
            kill_until[rows] = window_end[t]
            peak[rows] = equity[rows]
        pos_out[t], cost_out[t], prev = pos, cost, pos
    position = pos_out.T
    turnover = traded_units(position, np.concatenate([np.zeros((n, 1)), position[:, :-1]], axis=1), rolls.T)
    return PathResult(
        position=position, turnover=turnover, gross_vol=position * dvol_change, cost_vol=cost_out.T,
        stopped=stopped.T, killed=killed.T, stop_fired=fired.T,
        kill_events=np.vstack(events) if events else np.zeros((0, 4)),
    )
