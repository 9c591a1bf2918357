"""From forecasts to held positions, for every strategy at once.

A strategy is one (family, horizon, asset). Forecasts and market marks are laid out as a
`Panel`: arrays of shape (strategies, days) on one calendar, so signals, tranches, costs
and controls are array operations (the only loop is over days, in risk.run_path).

Signal: long 1 unit when y_hat >= tau (and > 0), short when y_hat <= -tau (and < 0), else
flat; no forecast = flat. Holding: the 1-day strategy re-decides daily; an h-day strategy
opens a 1/h-size tranche every day and holds it h days, so its position is the mean of the
last h signals (missing days count as flat). This is the standard rule for overlapping
h-day forecasts and removes the dependence on which day the backtest starts.

Contract: with `config.contract` (listing.py) a position earns the held DVOL future's price
change, rolls at the close before each expiry, and is flat before the coin's listing day;
without, it earns the index change from the first forecast.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from dvol_pipeline.quant.dvol.backtest.config import BacktestConfig, RiskConfig
from dvol_pipeline.quant.dvol.backtest.listing import futures_marks
from dvol_pipeline.quant.dvol.backtest.risk import PathResult, kill_window_end, market_flags, run_path

PREDICTION_COLUMNS = ["date", "asset", "horizon", "family", "y_hat"]


@dataclass(frozen=True)
class Panel:
    dates: np.ndarray  # (days,) datetime64[D]
    keys: pl.DataFrame  # one row per strategy: family, horizon, asset (+ variant labels)
    horizon: np.ndarray  # (strategies,)
    y_hat: np.ndarray  # forecast, nan where none
    dvol_change: np.ndarray  # the traded contract's price change over (t, t+1] (the index's without a
    # listed contract), vol points; 0 where unknown
    guardrail: np.ndarray  # bool: size scaled down today
    started: np.ndarray  # bool: on or after the strategy's first forecast
    tradable: np.ndarray  # bool: the contract is listed (always True for the index model)
    roll: np.ndarray  # bool: the position moves into the next contract at t's close
    futures_price: np.ndarray  # the held contract's price at t's close (the index without a contract); nan unknown
    contract_expiry: np.ndarray  # datetime64[D] expiry of the contract held over (t, t+1]; NaT without one

    def tile(self, labels: pl.DataFrame) -> Panel:
        """Every strategy once per row of `labels` (label-major), for variants run side by side."""
        keys = labels.join(self.keys, how="cross").select(*self.keys.columns, *labels.columns)
        reps = {f: getattr(self, f) for f in ROW_ARRAYS}
        k = labels.height
        return replace(self, keys=keys, **{f: np.tile(a, (k,) + (1,) * (a.ndim - 1)) for f, a in reps.items()})

    @staticmethod
    def stack(panels: list[Panel], labels: pl.DataFrame) -> Panel:
        """Panels on the same calendar and strategies (e.g. noisy market draws), one per label row."""
        if any(not np.array_equal(p.dates, panels[0].dates) for p in panels):
            raise ValueError("Panel.stack needs panels on the same calendar")
        keys = pl.concat([p.keys.join(labels[i], how="cross") for i, p in enumerate(panels)])
        return replace(panels[0], keys=keys, **{f: np.concatenate([getattr(p, f) for p in panels]) for f in ROW_ARRAYS})


ROW_ARRAYS = ("horizon", "y_hat", "dvol_change", "guardrail", "started", "tradable", "roll", "futures_price",
              "contract_expiry")
"""Panel fields with one entry (or row) per strategy."""


def _require(frame: pl.DataFrame, name: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}; it has {frame.columns}")


def _scatter(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int], fill) -> np.ndarray:
    out = np.full(shape, fill)
    out[rows, cols] = values
    return out


def build_panel(predictions: pl.DataFrame, market: pl.DataFrame, config: BacktestConfig) -> Panel:
    """Lay out forecasts and marks on the forecast calendar (days whose next-day mark exists)."""
    _require(predictions, "predictions", PREDICTION_COLUMNS)
    risk = config.risk
    _require(market, "market", ["date", "asset", "dvol", risk.jump_column]
             + (["funding_mean"] if risk.guardrail and risk.guardrail_funding else []))
    preds = predictions.select(PREDICTION_COLUMNS).with_columns(pl.col("horizon").cast(pl.Int32))
    dupes = preds.height - preds.select("date", "asset", "horizon", "family").unique().height
    if dupes:
        raise ValueError(f"predictions have {dupes} duplicate (date, asset, horizon, family) rows")
    marks = contract_marks(market, config)
    marks = marks.join(market_flags(market, risk), on=["date", "asset"], how="left")
    marked = marks.filter(pl.col("change").is_not_null())["date"].unique()
    dates = np.sort(preds.filter(pl.col("date").is_in(marked.implode()))["date"].unique().to_numpy())
    dates = dates.astype("datetime64[D]")
    if len(dates) == 0:
        raise ValueError("no forecast day has a DVOL mark on the next day: check that market covers the forecasts")
    keys = preds.select("family", "horizon", "asset").unique().sort("horizon", "family", "asset")
    assets = sorted(keys["asset"].unique())
    unmarked = sorted(set(assets) - set(market["asset"].unique()))
    if unmarked:
        raise ValueError(f"market has no DVOL for {unmarked}; the predictions need it for P&L")
    shape_a = (len(assets), len(dates))

    def day_index(frame: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray]:
        days = frame["date"].to_numpy().astype("datetime64[D]")
        pos = np.clip(np.searchsorted(dates, days), 0, len(dates) - 1)
        keep = dates[pos] == days
        return frame.filter(pl.Series(keep)), pos[keep]

    m, m_day = day_index(marks.filter(pl.col("asset").is_in(assets)))
    a_idx = np.searchsorted(assets, m["asset"].to_numpy())
    change = _scatter(a_idx, m_day, m["change"].fill_null(0.0).to_numpy(), shape_a, 0.0)
    guard = _scatter(a_idx, m_day, m["guardrail"].fill_null(False).to_numpy(), shape_a, False)
    tradable = _scatter(a_idx, m_day, m["tradable"].fill_null(False).to_numpy(), shape_a, False)
    roll = _scatter(a_idx, m_day, m["roll"].fill_null(False).to_numpy(), shape_a, False)
    fprice = _scatter(a_idx, m_day, m["futures_price"].fill_null(np.nan).to_numpy(), shape_a, np.nan)
    expiry = _scatter(a_idx, m_day, m["contract_expiry"].to_numpy().astype("datetime64[D]"), shape_a,
                      np.datetime64("NaT", "D"))
    p, p_day = day_index(preds.join(keys.with_row_index("__row"), on=["family", "horizon", "asset"]))
    y_hat = _scatter(p["__row"].to_numpy(), p_day, p["y_hat"].fill_null(np.nan).to_numpy(), (keys.height, len(dates)),
                     np.nan)
    row_asset = np.searchsorted(assets, keys["asset"].to_numpy())
    return Panel(dates, keys, keys["horizon"].to_numpy(), y_hat, change[row_asset], guard[row_asset],
                 np.maximum.accumulate(np.isfinite(y_hat), axis=1), tradable[row_asset], roll[row_asset],
                 fprice[row_asset], expiry[row_asset])


def contract_marks(market: pl.DataFrame, config: BacktestConfig) -> pl.DataFrame:
    """date, asset, dvol, change (the traded contract's, over (t, t+1]), tradable, roll,
    futures_price, contract_expiry, and the risk flags."""
    marks = market.select("date", "asset", "dvol").sort("asset", "date")
    if config.contract is None:
        nxt = marks.select((pl.col("date") - pl.duration(days=1)).alias("date"), "asset", pl.col("dvol").alias("next"))
        marks = marks.join(nxt, on=["date", "asset"], how="left").with_columns(
            change=pl.col("next") - pl.col("dvol"), tradable=pl.lit(True), roll=pl.lit(False),
            futures_price=pl.col("dvol"), contract_expiry=pl.lit(None, pl.Date)).drop("next")
    else:
        marks = marks.join(futures_marks(market, config.contract), on=["date", "asset"], how="left")
    return marks.join(market_flags(market, config.risk), on=["date", "asset"], how="left")


def signals(y_hat: np.ndarray, tau: np.ndarray | float) -> np.ndarray:
    """+1 / -1 / 0 per day; nan forecasts are flat, and a zero forecast never trades."""
    with np.errstate(invalid="ignore"):
        long = (y_hat > 0) & (y_hat >= tau)
        short = (y_hat < 0) & (y_hat <= -np.asarray(tau))
    return long.astype(np.int8) - short.astype(np.int8)


def staggered(signal: np.ndarray, horizon: np.ndarray) -> np.ndarray:
    """Mean of the last h signals (today included) along the last axis; days before the
    first one count as flat. `horizon` gives h per strategy (the second-to-last axis)."""
    sig = np.asarray(signal, float)
    days = sig.shape[-1]
    csum = np.concatenate([np.zeros(sig.shape[:-1] + (1,)), np.cumsum(sig, axis=-1)], axis=-1)
    out = np.empty(sig.shape)
    upper = np.arange(1, days + 1)
    for h in np.unique(horizon):
        rows = horizon == h
        out[..., rows, :] = (csum[..., rows, :][..., upper] - csum[..., rows, :][..., np.maximum(upper - h, 0)]) / h
    return out


def target_positions(signal: np.ndarray, panel: Panel, risk: RiskConfig) -> np.ndarray:
    """Staggered tranches (flat while the contract is not listed), scaled down on guardrail
    days, then capped (no path dependence)."""
    pos = np.where(panel.tradable, staggered(signal, panel.horizon), 0.0)
    if risk.guardrail:
        pos = np.where(panel.guardrail, pos * risk.guardrail_scale, pos)
    if risk.position_cap is not None:
        pos = np.clip(pos, -risk.position_cap, risk.position_cap)
    return pos


@dataclass(frozen=True)
class Simulation:
    signal: np.ndarray
    target: np.ndarray
    path: PathResult
    usd_per_vol: float


def simulate(
    panel: Panel, tau: np.ndarray, config: BacktestConfig, *, cost_mult: np.ndarray | float = 1.0,
    risk: RiskConfig | None = None,
) -> Simulation:
    """Signals at `tau` (broadcast to (strategies, days)), targets, then the path controls."""
    risk = risk or config.risk
    n = panel.keys.height
    cost_mult = np.broadcast_to(np.asarray(cost_mult, float), (n,))
    signal = signals(panel.y_hat, tau)
    target = target_positions(signal, panel, risk)
    off = np.full(n, np.inf)
    path = run_path(
        target, panel.dvol_change,
        per_unit=config.costs.per_unit * cost_mult,
        impact=config.costs.impact_vol * config.costs.multiplier * cost_mult,
        usd_per_vol=config.usd_per_vol,
        stop_usd=off if risk.daily_stop_usd is None else np.full(n, risk.daily_stop_usd),
        kill_usd=off if risk.kill_drawdown_usd is None else np.full(n, risk.kill_drawdown_usd),
        window_end=kill_window_end(panel.dates, risk.kill_days),
        roll=panel.roll,
    )
    return Simulation(signal, target, path, config.usd_per_vol)
