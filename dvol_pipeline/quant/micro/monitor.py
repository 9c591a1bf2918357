"""The end-of-day monitors: feature drift against the training window, model degradation, the data kill switch.

Why these three: the research plan's live checks. A model is only as good as the distribution it was trained
on (drift), a strategy's recent Sharpe is the cheapest sign that its edge is gone (degradation), and a book
rebuilt across a hole in the depth stream is a guess (the kill switch flattens the paper book instead).
Pure functions, frames in and frames out; the nightly step writes them and shows them as asset checks.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import numpy as np
import polars as pl

from dvol_pipeline.quant.stats import sharpe

TS = pl.Datetime("ns", "UTC")
SERIES = ("venue", "symbol")
PSI_FLOOR = 1e-4
"""Share given to an empty bin so that ln(live / train) stays finite (a common choice: 1e-4 to 1e-6)."""
PSI_MODERATE, PSI_SHIFT = 0.1, 0.25
"""Siddiqi (2006), "Credit Risk Scorecards", ch. 8: PSI < 0.1 no significant change, 0.1-0.25 moderate,
> 0.25 a significant shift (the thresholds every later use, e.g. Yurdakul 2018, repeats)."""

DRIFT_COLUMNS = ("venue", "symbol", "feature", "n_train", "n_live", "psi", "psi_flag", "train_mean", "train_std",
                 "live_mean", "share_beyond_3sigma", "sigma_flag", "drift")
DEGRADATION_KEYS = ("strategy", "execution", "venue", "symbol")
KILL_COLUMNS = ("venue", "symbol", "date", "killed", "flatten_ts", "gap_end", "gap_minutes", "gaps")


def psi(train, live, bins: int = 10, floor: float = PSI_FLOOR) -> float:
    """Population stability index of `live` against `train`: sum over bins of (l - t) ln(l / t), with l and t
    the shares of live and training rows in each bin (Yurdakul 2018, "Statistical properties of the population
    stability index", Western Michigan University, eq. 1). The bins are the training window's quantiles
    (`bins` equal-count bins; tied edges merge), a value on an edge goes to the upper bin; empty bins get
    `floor`. Non-finite values are dropped; NaN when either side has no rows."""
    t = np.asarray(train, float)
    x = np.asarray(live, float)
    t, x = t[np.isfinite(t)], x[np.isfinite(x)]
    if t.size == 0 or x.size == 0:
        return float("nan")
    edges = np.unique(np.quantile(t, np.arange(1, bins) / bins))
    k = edges.size + 1
    ts = np.bincount(np.searchsorted(edges, t, side="right"), minlength=k) / t.size
    ls = np.bincount(np.searchsorted(edges, x, side="right"), minlength=k) / x.size
    ts, ls = np.maximum(ts, floor), np.maximum(ls, floor)
    return float(np.sum((ls - ts) * np.log(ls / ts)))


def _psi_flag(value: float) -> str | None:
    if not np.isfinite(value):
        return None
    return "shift" if value > PSI_SHIFT else "moderate" if value > PSI_MODERATE else "stable"


def feature_drift(train: pl.DataFrame, live: pl.DataFrame, features, bins: int = 10,
                  sigma_share_max: float = 0.01) -> pl.DataFrame:
    """Per (venue, symbol, feature): PSI of the live window against the training window and the plan's
    "more than 3 sigma from training" rule.

    Columns (DRIFT_COLUMNS): n_train / n_live (finite rows), psi (`psi`, bins from the training quantiles),
    psi_flag ("stable" <= 0.1 < "moderate" <= 0.25 < "shift"; null without rows), train_mean / train_std
    (ddof 1) / live_mean, share_beyond_3sigma (share of live rows with |x - train_mean| > 3 train_std),
    sigma_flag (that share above `sigma_share_max`: 1 % by default, about four times the 0.27 % a normal
    feature shows by chance), drift (psi_flag == "shift" or sigma_flag). Series present in only one window
    are reported with nulls for the missing side. Both frames need `venue`, `symbol` and the feature columns.
    """
    rows = []
    keys = sorted(set(train.select(SERIES).unique().rows()) | set(live.select(SERIES).unique().rows()))
    for venue, symbol in keys:
        tr = train.filter((pl.col("venue") == venue) & (pl.col("symbol") == symbol))
        lv = live.filter((pl.col("venue") == venue) & (pl.col("symbol") == symbol))
        for name in features:
            t = tr[name].cast(pl.Float64).fill_null(np.nan).to_numpy() if name in tr.columns else np.zeros(0)
            x = lv[name].cast(pl.Float64).fill_null(np.nan).to_numpy() if name in lv.columns else np.zeros(0)
            t, x = t[np.isfinite(t)], x[np.isfinite(x)]
            p = psi(t, x, bins)
            mean = float(t.mean()) if t.size else np.nan
            std = float(t.std(ddof=1)) if t.size > 1 else np.nan
            beyond = float((np.abs(x - mean) > 3.0 * std).mean()) if x.size and np.isfinite(std) else np.nan
            rows.append({"venue": venue, "symbol": symbol, "feature": name, "n_train": int(t.size),
                         "n_live": int(x.size), "psi": p, "psi_flag": _psi_flag(p), "train_mean": mean,
                         "train_std": std, "live_mean": float(x.mean()) if x.size else np.nan,
                         "share_beyond_3sigma": beyond,
                         "sigma_flag": bool(np.isfinite(beyond) and beyond > sigma_share_max)})
    schema = {"venue": pl.Utf8, "symbol": pl.Utf8, "feature": pl.Utf8, "n_train": pl.Int64, "n_live": pl.Int64,
              "psi": pl.Float64, "psi_flag": pl.Utf8, "train_mean": pl.Float64, "train_std": pl.Float64,
              "live_mean": pl.Float64, "share_beyond_3sigma": pl.Float64, "sigma_flag": pl.Boolean}
    out = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    return out.with_columns(pl.col(pl.Float64).fill_nan(None)).with_columns(
        drift=(pl.col("psi_flag") == "shift").fill_null(False) | pl.col("sigma_flag")).select(DRIFT_COLUMNS)


def degradation(daily_net: pl.DataFrame, window_days: int = 7, threshold: float = 0.5) -> pl.DataFrame:
    """Rolling Sharpe of each strategy's daily net returns and the plan's retrain flag.

    `daily_net`: `date`, `ret` (the day's net return, e.g. `strategies.metrics.daily_returns`) and any of
    DEGRADATION_KEYS as the series. The window is the `window_days` calendar days ending at each date; a day
    without a row is missing (not a zero): the Sharpe is `quant.stats.sharpe` (mean / std ddof 1 x sqrt(365),
    annualised like every Sharpe of the package) over the window's days that have a return.
    Columns: the keys, date, ret, sharpe_7d (whatever `window_days`), days (returns in the window), retrain:
    the window is full (days == window_days) and its Sharpe is below `threshold`. A Sharpe that is undefined
    (a week of identical returns, e.g. no trade at all) raises no flag: it is null and says so.
    """
    keys = [c for c in DEGRADATION_KEYS if c in daily_net.columns]
    out = []
    for part in (daily_net.partition_by(keys, maintain_order=True) if keys else [daily_net]):
        part = part.sort("date")
        days = part["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
        ret = part["ret"].cast(pl.Float64).fill_null(np.nan).to_numpy()
        span = days - days.min() if days.size else days
        grid = np.full(int(span.max()) + window_days if days.size else 0, np.nan)
        grid[span + window_days - 1] = ret  # window_days - 1 leading missing days
        windows = np.lib.stride_tricks.sliding_window_view(grid, window_days)[span]
        ok = np.isfinite(windows)
        s = np.atleast_1d(sharpe(windows, where=ok)) if days.size else np.zeros(0)
        n = ok.sum(axis=1)
        out.append(part.select(*keys, "date", "ret").with_columns(
            sharpe_7d=pl.Series(s, dtype=pl.Float64).fill_nan(None), days=pl.Series(n, dtype=pl.Int64),
            retrain=pl.Series((n == window_days) & np.isfinite(s) & (s < threshold), dtype=pl.Boolean)))
    if not out:
        return pl.DataFrame(schema={**{k: pl.Utf8 for k in keys}, "date": pl.Date, "ret": pl.Float64,
                                    "sharpe_7d": pl.Float64, "days": pl.Int64, "retrain": pl.Boolean})
    return pl.concat(out)


def kill_switch(gaps: pl.DataFrame, day: date, max_gap_minutes: float = 10.0, stream: str = "raw_book_deltas",
                series: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per (venue, symbol): did a hole in the depth stream longer than `max_gap_minutes` touch `day` (UTC)?

    `gaps`: `micro_gaps` rows (venue, symbol, stream, gap_start, gap_end, minutes). A gap counts when its
    stream is `stream`, its length is strictly over the threshold and it overlaps the day. The paper book is
    flattened at `flatten_ts`, the start of the first such gap (the last depth update before the hole;
    midnight for a gap that began the day before) and takes no new entry for the rest of the day: a book
    rebuilt across a hole is not a book. `series` (venue, symbol) adds rows with killed = False for series
    without any gap. Columns (KILL_COLUMNS): venue, symbol, date, killed, flatten_ts (null when not killed),
    gap_end and gap_minutes of that gap, gaps (how many qualifying gaps touched the day).
    """
    start = datetime.combine(day, time(0), tzinfo=timezone.utc)
    end = start + timedelta(days=1)
    s, e = pl.lit(start).cast(TS), pl.lit(end).cast(TS)
    hit = gaps.filter((pl.col("stream") == stream) & (pl.col("minutes") > max_gap_minutes)
                      & (pl.col("gap_start").cast(TS) < e) & (pl.col("gap_end").cast(TS) > s))
    hit = hit.with_columns(flatten_ts=pl.max_horizontal(pl.col("gap_start").cast(TS), s)).sort("flatten_ts")
    out = hit.group_by(*SERIES, maintain_order=True).agg(
        flatten_ts=pl.col("flatten_ts").first(), gap_end=pl.col("gap_end").cast(TS).first(),
        gap_minutes=pl.col("minutes").cast(pl.Float64).first(), gaps=pl.len().cast(pl.Int64))
    if series is not None:
        out = series.select(*SERIES).unique(maintain_order=True).join(out, on=list(SERIES), how="full",
                                                                      coalesce=True)
    out = out.with_columns(pl.col("venue").cast(pl.Utf8), pl.col("symbol").cast(pl.Utf8),
                           killed=pl.col("flatten_ts").is_not_null(), date=pl.lit(day, pl.Date),
                           gaps=pl.col("gaps").fill_null(0))
    return out.select(KILL_COLUMNS).sort(*SERIES)
