"""Labels from `micro_bars`: forward mid return, its sign and a triple-barrier first touch.

Conventions (docs/micro/models.md repeats them):
- One bar kind at a time; each (venue, symbol) series is sorted by `ts` (the bar's close).
- The label at bar t reads `mid_close` at t (known at t's close) and at bars t+1..t+k only.
  It is null where the future is missing: fewer than k later bars, a later bar with a null
  mid, or (time bars) a hole in the series, i.e. bar t+k does not close exactly k widths after t.
- Forward return `label_ret_<h>` = 1e4 ln(mid[t+k] / mid[t]) (bps, log); `label_sign_<h>` its sign (-1, 0, 1).
- Triple barrier `label_tb_<h>`: +1 if ln(mid[t+j] / mid[t]) >= +m s_t first (j in 1..k), -1 if
  <= -m s_t first, 0 if neither by bar t+k (the vertical barrier); `label_tb_bars_<h>` is the j of
  the touch (k for the vertical one). s_t = sqrt(k) x the std (ddof 1) of the `vol_window` one-bar
  log returns ending at t: trailing, so the barrier width is known at t. Touches are on closes.
- Labels are columns with the `label_` prefix and never features: `feature_columns` leaves them out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numba
import numpy as np
import polars as pl

from dvol_pipeline.quant.micro.bars import WIDTHS

LABEL_PREFIX = "label_"
KEY = ["ts", "venue", "symbol", "bar"]
HORIZONS: dict[str, dict[str, int]] = {
    "1s": {"10s": 10, "1m": 60},
    "1m": {"1m": 1, "5m": 5, "15m": 15},
    "5m": {"15m": 3, "1h": 12},
}
"""bar kind -> {horizon name: k bars}: 10 s on 1-s bars, 1/5/15 min on 1-m bars."""


def label_names(horizon: str) -> dict[str, str]:
    """The label columns of one horizon: ret, sign, tb (barrier side) and tb_bars (bars to the touch)."""
    return {kind: f"{LABEL_PREFIX}{kind}_{horizon}" for kind in ("ret", "sign", "tb", "tb_bars")}


def feature_columns(frame: pl.DataFrame, exclude: Iterable[str] = ()) -> list[str]:
    """The columns a model may read: everything but the key, `label_*` columns and `exclude`."""
    skip = set(KEY) | set(exclude)
    return [c for c in frame.columns if c not in skip and not c.startswith(LABEL_PREFIX)]


def forward_return(mid: np.ndarray, k: int, valid: np.ndarray | None = None) -> np.ndarray:
    """1e4 ln(mid[t+k] / mid[t]); NaN where t+k is past the end, a mid is not finite, or `valid[t]` is False."""
    mid = np.asarray(mid, np.float64)
    out = np.full(mid.size, np.nan)
    if mid.size > k:
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:-k] = 1e4 * np.log(mid[k:] / mid[:-k])
    if valid is not None:
        out[~valid] = np.nan
    out[~np.isfinite(out)] = np.nan
    return out


def trailing_vol(mid: np.ndarray, window: int) -> np.ndarray:
    """Std (ddof 1) of the `window` one-bar log returns ending at t (NaN until there are `window`)."""
    r = pl.Series(np.diff(np.log(np.asarray(mid, np.float64)), prepend=np.nan), nan_to_null=True)
    return r.rolling_std(window, min_samples=window).fill_null(np.nan).to_numpy()


@numba.njit(cache=True)
def _barrier(mid, width, k, valid):  # pragma: no cover - numba
    n = mid.size
    side = np.full(n, np.nan)
    when = np.full(n, np.nan)
    for t in range(n - k):
        if not valid[t] or not np.isfinite(width[t]) or not np.isfinite(mid[t]) or mid[t] <= 0:
            continue
        ok = True
        for j in range(1, k + 1):
            if not np.isfinite(mid[t + j]) or mid[t + j] <= 0:
                ok = False
                break
        if not ok:
            continue
        s, w = 0.0, float(k)
        for j in range(1, k + 1):
            r = np.log(mid[t + j] / mid[t])
            if r >= width[t]:
                s, w = 1.0, float(j)
                break
            if r <= -width[t]:
                s, w = -1.0, float(j)
                break
        side[t], when[t] = s, w
    return side, when


def triple_barrier(mid: np.ndarray, width: np.ndarray, k: int,
                   valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(side, bars to touch) per bar: the first of ln(mid[t+j]/mid[t]) >= width[t] (+1) or <= -width[t]
    (-1) for j = 1..k, else 0 at j = k; NaN where a mid in t..t+k, the width or `valid[t]` is missing."""
    mid = np.asarray(mid, np.float64)
    ok = np.ones(mid.size, np.bool_) if valid is None else np.asarray(valid, np.bool_)
    return _barrier(mid, np.asarray(width, np.float64), int(k), ok)


def contiguous(ts_ns: np.ndarray, k: int, width_ns: int | None) -> np.ndarray:
    """True where bar t+k exists and (time bars, `width_ns` given) closes exactly k widths after t."""
    ok = np.zeros(ts_ns.size, np.bool_)
    if ts_ns.size > k:
        ok[:-k] = True if width_ns is None else (ts_ns[k:] - ts_ns[:-k]) == k * width_ns
    return ok


def _series_labels(part: pl.DataFrame, horizons: Mapping[str, int], m: float, vol_window: int,
                   width_ns: int | None) -> pl.DataFrame:
    mid = part["mid_close"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    ts = part["ts"].dt.epoch("ns").to_numpy()
    vol = trailing_vol(mid, vol_window)
    cols = []
    for h, k in horizons.items():
        names = label_names(h)
        ok = contiguous(ts, k, width_ns)
        ret = forward_return(mid, k, ok)
        side, when = triple_barrier(mid, m * np.sqrt(k) * vol, k, ok)
        cols += [pl.Series(names["ret"], ret, pl.Float64, nan_to_null=True),
                 pl.Series(names["sign"], np.sign(ret), pl.Float64, nan_to_null=True).cast(pl.Int8),
                 pl.Series(names["tb"], side, pl.Float64, nan_to_null=True).cast(pl.Int8),
                 pl.Series(names["tb_bars"], when, pl.Float64, nan_to_null=True).cast(pl.Int32)]
    return part.select(KEY).with_columns(cols)


def make_labels(bars: pl.DataFrame, bar: str = "1m", horizons: Mapping[str, int] | None = None, m: float = 2.0,
                vol_window: int = 60) -> pl.DataFrame:
    """KEY + the label columns of every horizon (default `HORIZONS[bar]`) for the `bar` kind of `bars`.

    Join them to `micro_features` on KEY; a model reads `feature_columns(...)`, never a `label_` column."""
    horizons = dict(horizons if horizons is not None else HORIZONS[bar])
    width = WIDTHS.get(bar)
    width_ns = None if width is None else int(width.total_seconds() * 1e9)
    rows = bars.filter(pl.col("bar") == bar).unique(["venue", "symbol", "ts"], keep="last", maintain_order=True)
    parts = [_series_labels(p.sort("ts"), horizons, m, vol_window, width_ns)
             for p in rows.partition_by(["venue", "symbol"], maintain_order=True)]
    if parts:
        return pl.concat(parts).sort(["venue", "symbol", "ts"])
    schema = {"ts": pl.Datetime("ns", "UTC"), "venue": pl.Utf8, "symbol": pl.Utf8, "bar": pl.Utf8}
    for h in horizons:
        n = label_names(h)
        schema |= {n["ret"]: pl.Float64, n["sign"]: pl.Int8, n["tb"]: pl.Int8, n["tb_bars"]: pl.Int32}
    return pl.DataFrame(schema=schema)
