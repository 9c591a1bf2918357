"""The statistics every table, backtest and the tear sheet report: one definition each.

Conventions (every function here follows them; nothing else in the package re-derives them):

* Crypto trades every calendar day, so a year is `PERIODS_PER_YEAR = 365` daily periods
  (not the 252 trading days of equities).
* Values that are not finite (NaN, inf, null cast to NaN) are missing: they are dropped,
  never counted as zero.
* Hit rate is sign agreement over the rows where both the prediction and the outcome are
  finite and nonzero. A zero on either side (a flat forecast, a day DVOL did not move, a
  day in a position that earned exactly nothing) is no call or no outcome: it is excluded
  from the rate and counted separately (`hit_counts(...).zeros`). No rows left: NaN.
* Sharpe is mean / sample standard deviation (ddof 1) of the per-period P&L, times
  sqrt(periods_per_year), with no risk-free rate. It is scale-free, so USD P&L and P&L /
  capital give the same number. Undefined (NaN) with fewer than two periods or when the
  P&L never varies (every value equal).
* Sortino is the annualised mean over the annualised downside deviation
  sqrt(mean(min(r, 0)^2)) (target 0, over every period, as empyrical): NaN where Sharpe is,
  and where no period lost.
* Drawdown is additive, in the P&L's own units: the running peak of the cumulative P&L,
  the peak starting at 0 (the capital you start with), minus the cumulative P&L; so it is
  >= 0. `max_drawdown(returns, compounded=True)` is the fall of wealth prod(1 + r) from its
  running peak (starting at 1), as a fraction: the percentage drawdown of a reinvested book.

* Classification scores (confusion matrix, precision, recall, F1, ROC AUC) are scikit-learn's,
  with undefined values NaN where scikit-learn raises, warns or substitutes 0: ROC AUC with one
  class only, precision of a class never predicted, recall of one never seen, F1 where either
  is undefined. Macro means average the classes where the score is defined.

The functions take 1-d arrays and return floats; those marked "rows" also take
(strategies, days) arrays and return one value per row, with `where` marking the days that
count (e.g. the days a strategy existed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PERIODS_PER_YEAR = 365
"""Daily periods in a year: crypto trades every calendar day."""


def _scalar(out: np.ndarray):
    """A 0-d result as a float; one value per row stays an array."""
    return float(out) if np.ndim(out) == 0 else out


# ---------------------------------------------------------------- hit rate


@dataclass(frozen=True)
class HitCounts:
    hits: int  # rows counted whose signs agree
    misses: int  # rows counted whose signs disagree
    zeros: int  # finite rows left out because the prediction or the outcome is exactly 0
    missing: int  # rows left out because a value is not finite

    @property
    def counted(self) -> int:
        return self.hits + self.misses

    @property
    def rate(self) -> float:
        return self.hits / self.counted if self.counted else float("nan")


def hits(pred, actual) -> np.ndarray:
    """Per row: 1.0 when the signs agree, 0.0 when they disagree, NaN when the row does not
    count (either side zero or not finite). `hit_rate` is the mean of the non-NaN values;
    rolling hit rates average this series."""
    p, a = np.asarray(pred, float), np.asarray(actual, float)
    p, a = np.broadcast_arrays(p, a)
    counted = np.isfinite(p) & np.isfinite(a) & (p != 0) & (a != 0)
    return np.where(counted, (np.sign(p) == np.sign(a)).astype(float), np.nan)


def hit_counts(pred, actual) -> HitCounts:
    p, a = np.broadcast_arrays(np.asarray(pred, float), np.asarray(actual, float))
    finite = np.isfinite(p) & np.isfinite(a)
    h = hits(p, a)
    agree = int(np.sum(h == 1.0))
    return HitCounts(hits=agree, misses=int(np.sum(h == 0.0)), zeros=int(np.sum(finite & np.isnan(h))),
                     missing=int(np.sum(~finite)))


def hit_rate(pred, actual) -> float:
    """Share of rows with sign(pred) == sign(actual), over rows where both are finite and
    nonzero (zeros excluded, see `hit_counts`); NaN when no row counts."""
    return hit_counts(pred, actual).rate


def active_hit_rate(y_hat, y, tau: float) -> float:
    """Hit rate of the signals a strategy with threshold `tau` would trade: the rows with
    |y_hat| >= tau (and a known outcome y), by the `hit_rate` convention. NaN when tau is not
    finite or no row qualifies."""
    if tau is None or not np.isfinite(tau):
        return float("nan")
    y_hat, y = np.asarray(y_hat, float), np.asarray(y, float)
    traded = np.abs(y_hat) >= tau
    return hit_rate(y_hat[traded], y[traded])


def win_rate(pnl, position) -> float:
    """Hit rate of a strategy's days: share of the days in a position (position != 0) with a
    positive P&L, over such days whose P&L is nonzero (`hit_rate` with the call "this day
    makes money" on every day in a position)."""
    pnl = np.asarray(pnl, float)
    return hit_rate(np.abs(np.sign(np.asarray(position, float))), pnl)


# ---------------------------------------------------------------- annualisation


def annualise(value, kind: str, periods_per_year: int = PERIODS_PER_YEAR):
    """A per-period statistic on an annual scale: "mean" (a mean return or P&L) x periods;
    "vol" (a standard deviation) and "sharpe" (mean / std) x sqrt(periods)."""
    factors = {"mean": float(periods_per_year), "vol": np.sqrt(periods_per_year), "sharpe": np.sqrt(periods_per_year)}
    if kind not in factors:
        raise ValueError(f"annualise: kind must be 'mean', 'vol' or 'sharpe', got {kind!r}")
    return _scalar(np.asarray(value, float) * factors[kind])


def _finite(values) -> np.ndarray:
    x = np.asarray(values, float).ravel()
    return x[np.isfinite(x)]


def annual_return(returns, periods_per_year: int = PERIODS_PER_YEAR) -> float:
    """Compounded: prod(1 + r) ** (periods_per_year / n) - 1; NaN without periods."""
    r = _finite(returns)
    if r.size == 0:
        return float("nan")
    with np.errstate(all="ignore"):
        return float(np.prod(1.0 + r) ** (periods_per_year / r.size) - 1.0)


def annual_volatility(returns, periods_per_year: int = PERIODS_PER_YEAR) -> float:
    """Sample standard deviation (ddof 1) x sqrt(periods_per_year); NaN under two periods."""
    r = _finite(returns)
    return float(annualise(np.std(r, ddof=1), "vol", periods_per_year)) if r.size > 1 else float("nan")


# ---------------------------------------------------------------- Sharpe, Sortino


def _rows(values, where) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(values, float)
    mask = np.isfinite(x) if where is None else np.broadcast_to(np.asarray(where, bool), x.shape) & np.isfinite(x)
    return np.where(mask, x, 0.0), mask


def sharpe(daily_pnl, periods_per_year: int = PERIODS_PER_YEAR, *, where=None):
    """Annualised Sharpe ratio (rows): mean / std (ddof 1) x sqrt(periods_per_year), 365 by
    default because crypto trades every day. NaN with under two periods or a P&L that never
    varies. `where` (same shape, bool) picks the periods that count."""
    x, mask = _rows(daily_pnl, where)
    n = mask.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = x.sum(axis=-1) / n
        var = (np.where(mask, x - np.expand_dims(mean, -1), 0.0) ** 2).sum(axis=-1) / (n - 1)
        out = mean / np.sqrt(var) * np.sqrt(periods_per_year)
    high = np.where(mask, x, -np.inf).max(axis=-1, initial=-np.inf)
    low = np.where(mask, x, np.inf).min(axis=-1, initial=np.inf)
    # identical values have no dispersion, whatever rounding leaves in `var`
    return _scalar(np.where((n > 1) & (var > 0) & (high > low), out, np.nan))


def sharpe_from_sums(total, total_sq, n, periods_per_year: int = PERIODS_PER_YEAR):
    """The same Sharpe from running sums (sum, sum of squares, count), for many windows at
    once (expanding windows via cumsum). The one-pass variance cancels digits, so a
    variance under 1e-12 of the mean square counts as no variance (NaN)."""
    total, total_sq, n = (np.asarray(a, float) for a in (total, total_sq, n))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
        var = (total_sq - n * mean**2) / (n - 1)
        ratio = np.where((n > 1) & (var > 1e-12 * total_sq / n), mean / np.sqrt(var), np.nan)
    return _scalar(ratio * np.sqrt(periods_per_year))


def downside_deviation(returns, periods_per_year: int = PERIODS_PER_YEAR) -> float:
    """sqrt(mean(min(r, 0)^2)) x sqrt(periods_per_year) (target 0, over every period)."""
    r = _finite(returns)
    if r.size == 0:
        return float("nan")
    return float(annualise(np.sqrt(np.mean(np.minimum(r, 0.0) ** 2)), "vol", periods_per_year))


def sortino(daily_pnl, periods_per_year: int = PERIODS_PER_YEAR) -> float:
    """Annualised mean / annualised downside deviation; NaN where `sharpe` is NaN or when
    no period lost (no downside to divide by)."""
    r = _finite(daily_pnl)
    if not np.isfinite(sharpe(r, periods_per_year)):
        return float("nan")
    down = downside_deviation(r, periods_per_year)
    return float(annualise(np.mean(r), "mean", periods_per_year) / down) if down > 0 else float("nan")


# ---------------------------------------------------------------- drawdown


def drawdown(pnl) -> np.ndarray:
    """Per period (rows): running peak of the cumulative P&L (the peak starts at 0) minus the
    cumulative P&L; >= 0, in the P&L's units."""
    equity = np.cumsum(np.asarray(pnl, float), axis=-1)
    return np.maximum.accumulate(np.maximum(equity, 0.0), axis=-1) - equity


def max_drawdown(pnl, *, compounded: bool = False):
    """Largest drawdown (rows): additive, in the P&L's units (0 without periods); with
    `compounded`, `pnl` are returns and the result is the largest fractional fall of wealth
    prod(1 + r) from its running peak (wealth starts at 1), NaN without periods."""
    x = np.asarray(pnl, float)
    if not compounded:
        return _scalar(drawdown(x).max(axis=-1, initial=0.0))
    if x.shape[-1] == 0:
        return _scalar(np.full(x.shape[:-1], np.nan))
    wealth = np.cumprod(1.0 + np.where(np.isfinite(x), x, 0.0), axis=-1)
    peak = np.maximum.accumulate(np.maximum(wealth, 1.0), axis=-1)
    return _scalar(((peak - wealth) / peak).max(axis=-1))


# ---------------------------------------------------------------- forecast errors (levels)


def _pairs(y, y_hat) -> tuple[np.ndarray, np.ndarray]:
    y, y_hat = np.broadcast_arrays(np.asarray(y, float), np.asarray(y_hat, float))
    keep = np.isfinite(y) & np.isfinite(y_hat)
    return y[keep], y_hat[keep]


def mae(y, y_hat) -> float:
    """Mean absolute error over the finite pairs; NaN without any."""
    y, y_hat = _pairs(y, y_hat)
    return float(np.mean(np.abs(y - y_hat))) if y.size else float("nan")


def rmse(y, y_hat) -> float:
    """Root mean squared error over the finite pairs; NaN without any."""
    y, y_hat = _pairs(y, y_hat)
    return float(np.sqrt(np.mean((y - y_hat) ** 2))) if y.size else float("nan")


def r2_oos(y, y_hat, y_bench) -> float:
    """Out-of-sample R²: 1 - SSE(forecast) / SSE(benchmark) on rows where all three are finite.
    The benchmark is what a forecast must beat: zero change for ΔDVOL, the training-window
    mean for a volatility level. NaN when the benchmark makes no error."""
    y, y_hat, y_bench = np.broadcast_arrays(*(np.asarray(a, float) for a in (y, y_hat, y_bench)))
    keep = np.isfinite(y) & np.isfinite(y_hat) & np.isfinite(y_bench)
    sse_b = np.sum((y[keep] - y_bench[keep]) ** 2)
    return float(1 - np.sum((y[keep] - y_hat[keep]) ** 2) / sse_b) if sse_b > 0 else float("nan")


def qlike(vol, vol_hat) -> float:
    """QLIKE loss (Patton 2011) on variances, mean of s/h - log(s/h) - 1 with s = vol², h = vol_hat²:
    0 for a perfect forecast, robust to noise in the realised proxy, and harsher on under-prediction.
    Rows where either vol is not finite and positive are left out; NaN without any."""
    s, h = _pairs(vol, vol_hat)
    keep = (s > 0) & (h > 0)
    ratio = s[keep] ** 2 / h[keep] ** 2
    return float(np.mean(ratio - np.log(ratio) - 1)) if ratio.size else float("nan")


def top_share_hit_rate(y, y_hat, share: float = 0.2) -> float:
    """Of the rows whose forecast is in the top `share` of forecasts, the fraction whose outcome is
    in the top `share` of outcomes (quantiles over the same rows; 0.2 by chance). NaN without rows."""
    y, y_hat = _pairs(y, y_hat)
    if y.size == 0:
        return float("nan")
    picked = y_hat >= np.quantile(y_hat, 1 - share)
    return float(np.mean(y[picked] >= np.quantile(y, 1 - share)))


def decile_calibration(y, y_hat, bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean forecast, mean outcome, rows) per decile of the forecast (equal-count bins by rank)."""
    y, y_hat = _pairs(y, y_hat)
    if y.size == 0:
        return np.array([]), np.array([]), np.array([], dtype=int)
    order = np.argsort(y_hat, kind="stable")
    groups = np.array_split(order, min(bins, y.size))
    return (np.array([y_hat[g].mean() for g in groups]), np.array([y[g].mean() for g in groups]),
            np.array([g.size for g in groups]))
