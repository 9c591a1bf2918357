"""What each endpoint answers, as plain JSON-ready dicts (no HTTP here, no Dagster).

A user's mistake raises `NotFound` or `BadParam` with a sentence saying what exists or
what is expected; the app turns those into 404 and 422. Floats that are NaN (a horizon
without a model) become null, dates ISO text.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from dvol_pipeline.lake.catalog import TABLES, table
from dvol_pipeline.quant.pricing.surface.constant_maturity import DELTA_LABELS
from dvol_pipeline.quant.pricing.surface.svi import svi_vol
from dvol_pipeline.quant.universe import desk
from dvol_pipeline.serve.snapshot import SnapshotReader

SIGNALS = "signals"
HORIZONS = (1, 7, 14)
UNIVERSE_TABLE = "universe_predictions"
UNIVERSE_METRICS = "universe_forecast_metrics"
INSTRUMENT = re.compile(r"^(?P<asset>[A-Z0-9]{2,10})-(?P<day>\d{1,2})(?P<mon>[A-Z]{3})(?P<yy>\d{2})"
                        r"-(?P<strike>\d+(?:\.\d+)?)-(?P<type>[CP])$")
INSTRUMENT_HELP = "Deribit style COIN-DMMMYY-STRIKE-C|P, e.g. BTC-27DEC24-60000-C"
SMILE_POINTS = 41


class NotFound(Exception):
    """The thing asked for does not exist; the message says what does."""


@dataclass
class BadParam(Exception):
    """A parameter is well-typed but makes no sense (start after end); 422 naming the field."""

    where: str
    field: str
    message: str


def _value(v):
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, datetime | date):
        return v.isoformat()
    return v


def records(frame: pl.DataFrame) -> list[dict]:
    return [{k: _value(v) for k, v in row.items()} for row in frame.iter_rows(named=True)]


def columns(frame: pl.DataFrame, names: list[str]) -> dict[str, list]:
    """Column arrays (what a chart takes), JSON-safe."""
    return {n: [_value(v) for v in frame[n].to_list()] for n in names if n in frame.columns}


def _list(names: list[str]) -> str:
    return ", ".join(names) if names else "none"


def nearest_days(days: list[date], day: date) -> tuple[date | None, date | None]:
    i = bisect_left(days, day)
    return (days[i - 1] if i > 0 else None), (days[i] if i < len(days) else None)


def _missing_day(what: str, asset: str, day: date, days: list[date]) -> NotFound:
    before, after = nearest_days(days, day)
    near = [f"{d} (before)" for d in [before] if d] + [f"{d} (after)" for d in [after] if d]
    return NotFound(f"no {what} for {asset} on {day}; nearest days with one: {_list(near)}"
                    + (f"; {len(days)} days held, {days[0]}..{days[-1]}" if days else ""))


def known_asset(reader: SnapshotReader, name: str, asset: str, what: str) -> str:
    asset = asset.upper()
    coins = reader.coins(name)
    if asset not in coins:
        raise NotFound(f"unknown asset {asset!r} for {what}: the lake holds {_list(coins)}")
    return asset


def day_frame(reader: SnapshotReader, name: str, asset: str, day: date | None, what: str,
              cols: list[str] | None = None) -> tuple[date, pl.DataFrame]:
    """The asked day's partition, or the newest; NotFound naming the nearest days."""
    if day is None:
        got = reader.newest(name, asset, cols)
        if got is None:
            raise NotFound(f"no {what} partitions for {asset} yet: materialize `{name}` first")
        return got
    frame = reader.partition(name, asset, day, cols)
    if frame is None or frame.is_empty():
        raise _missing_day(what, asset, day, reader.held_days(name, asset))
    return day, frame


# -- signals -----------------------------------------------------------------------------------
def signal(reader: SnapshotReader, asset: str, day: date | None, today: date, max_age_days: int) -> dict:
    asset = known_asset(reader, SIGNALS, asset, "signals")
    as_of, frame = day_frame(reader, SIGNALS, asset, day, "signal")
    row = records(frame.head(1))[0]
    fresh = reader.newest_day("raw_dvol", asset)
    age = (today - as_of).days
    return {
        "asset": asset, "as_of": as_of.isoformat(),
        **{k: row.get(k) for k in ("yhat_1d", "yhat_7d", "yhat_14d", "direction", "confidence", "primary_horizon",
                                   "tau", "model_version")},
        "data_fresh_as_of": fresh.isoformat() if fresh else None,
        "age_days": age,
        "stale": day is None and age > max_age_days,
    }


def signals(reader: SnapshotReader, day: date | None, today: date, max_age_days: int) -> dict:
    coins = reader.coins(SIGNALS)
    if not coins:
        raise NotFound("no signals in the lake yet: materialize `signals` first")
    out, missing = [], []
    for coin in coins:
        try:
            out.append(signal(reader, coin, day, today, max_age_days))
        except NotFound as err:
            missing.append(str(err))
    if not out:
        raise NotFound("; ".join(missing))
    return {"date": day.isoformat() if day else None, "signals": out, "missing": missing}


def history(reader: SnapshotReader, asset: str, start: date | None, end: date | None) -> dict:
    asset = known_asset(reader, SIGNALS, asset, "signals")
    frame = reader.range(SIGNALS, asset, start, end)
    if frame is None:
        days = reader.days(SIGNALS, asset)
        held = f"{days[0]}..{days[-1]}" if days else "none"
        raise NotFound(f"no signals for {asset} in {start or 'the start'}..{end or 'the end'}; held: {held}")
    frame = frame.sort("date")
    return {"asset": asset, "start": frame["date"][0].isoformat(), "end": frame["date"][-1].isoformat(),
            "rows": frame.height, "signals": records(frame)}


def dvol(reader: SnapshotReader, asset: str, start: date | None, end: date | None, horizon: int) -> dict:
    """DVOL closes, the forecast path of the promoted model at `horizon` (plotted where it lands),
    and the newest signal's forecasts from its day."""
    asset = known_asset(reader, "features_daily", asset, "DVOL")
    series = reader.range("features_daily", asset, start, end, ["date", "dvol"])
    if series is None:
        raise NotFound(f"no features_daily rows for {asset} in {start or 'the start'}..{end or 'the end'}")
    series = series.sort("date")
    family = promoted_family(reader, asset, horizon)
    path = forecast_path(reader, asset, horizon, family, series)
    latest = None
    try:
        sig = signal(reader, asset, None, date.today(), 10**6)
        level = series.filter(pl.col("date") == date.fromisoformat(sig["as_of"]))["dvol"]
        if level.len():
            base = date.fromisoformat(sig["as_of"])
            latest = {"as_of": sig["as_of"], "dvol": _value(level[0]), "points": [
                {"date": (base + timedelta(days=h)).isoformat(), "horizon": h,
                 "dvol": None if sig[f"yhat_{h}d"] is None else level[0] + sig[f"yhat_{h}d"]} for h in HORIZONS]}
    except NotFound:
        pass
    return {"asset": asset, "horizon": horizon, "family": family, **columns(series, ["date", "dvol"]),
            "forecast": path, "latest_signal": latest}


def promoted_family(reader: SnapshotReader, asset: str, horizon: int) -> str | None:
    promo = reader.single("model_promotion")
    if promo is None:
        return None
    row = promo.filter((pl.col("asset") == asset) & (pl.col("horizon") == horizon))
    return row["promoted_family"][0] if row.height else None


def forecast_path(reader: SnapshotReader, asset: str, horizon: int, family: str | None,
                  series: pl.DataFrame) -> dict[str, list]:
    """Out-of-sample forecasts of `family` as DVOL levels at the day they forecast (D + h)."""
    t = table("oos_predictions")
    if family is None:
        return {"date": [], "dvol": []}
    frames = [reader.read_file(t.fold_file(reader.root, k)) for k in t.fold_keys(reader.root)]
    frames = [f.filter((pl.col("asset") == asset) & (pl.col("horizon") == horizon) & (pl.col("family") == family))
              for f in frames if f is not None]
    if not frames:
        return {"date": [], "dvol": []}
    preds = pl.concat(frames).join(series, on="date").sort("date")
    preds = preds.select((pl.col("date") + pl.duration(days=horizon)).alias("date"),
                         (pl.col("dvol") + pl.col("y_hat")).alias("dvol"))
    return columns(preds, ["date", "dvol"])


# -- surface and greeks ------------------------------------------------------------------------
def surface(reader: SnapshotReader, asset: str, day: date | None) -> dict:
    asset = known_asset(reader, "surface_params", asset, "surfaces")
    day, params = day_frame(reader, "surface_params", asset, day, "surface")
    grid = reader.partition("surface_grid", asset, day)
    feats = reader.partition("surface_features", asset, day)
    params = params.sort("expiry")
    out = {"asset": asset, "date": day.isoformat(), "dates": [d.isoformat() for d in reader.days("surface_params",
                                                                                                    asset)]}
    out["params"] = records(params.select([c for c in ("expiry", "days_to_expiry", "T", "forward", "a", "b", "rho",
                                                       "m", "sigma", "atm_iv", "rmse_vol", "n_points")
                                           if c in params.columns]))
    out["grid"] = _grid(grid)
    out["term_structure"] = {
        "listed": columns(params, ["days_to_expiry", "atm_iv"]),
        "constant_maturity": _cm_atm(grid),
    }
    out["smiles"] = _smiles(params)
    out["features"] = records(feats)[0] if feats is not None and feats.height else None
    f = out["features"] or {}
    out["rr25_30d"], out["bf25_30d"] = f.get("surf_rr25_30d"), f.get("surf_bf25_30d")
    return out


def _grid(grid: pl.DataFrame | None) -> dict:
    if grid is None or grid.is_empty():
        return {"tenors": [], "deltas": list(DELTA_LABELS), "iv": []}
    tenors = sorted(grid["tenor_days"].unique().to_list())
    lookup = {(t, d): v for t, d, v in grid.select("tenor_days", "delta_label", "iv").iter_rows()}
    return {"tenors": tenors, "deltas": list(DELTA_LABELS),
            "iv": [[_value(lookup.get((t, d))) for d in DELTA_LABELS] for t in tenors]}


def _cm_atm(grid: pl.DataFrame | None) -> dict:
    if grid is None or grid.is_empty():
        return {"tenor_days": [], "atm_iv": []}
    atm = grid.filter(pl.col("delta_label") == "ATM").sort("tenor_days")
    return {"tenor_days": atm["tenor_days"].to_list(), "atm_iv": [_value(v) for v in atm["iv"].to_list()]}


def _smiles(params: pl.DataFrame) -> dict:
    """Each expiry's fitted SVI smile (vol points) on one log-moneyness grid (what a chart needs),
    null beyond +-2.5 ATM standard deviations of that expiry."""
    rows = [r for r in params.iter_rows(named=True) if r["T"] and r["T"] > 0]
    widths = [min(max(2.5 * (r.get("atm_iv") or 60.0) / 100.0 * math.sqrt(r["T"]), 0.02), 1.5) for r in rows]
    k = np.linspace(-max(widths, default=0.5), max(widths, default=0.5), SMILE_POINTS)
    out = []
    for row, width in zip(rows, widths, strict=True):
        iv = svi_vol(k, row["T"], row["a"], row["b"], row["rho"], row["m"], row["sigma"]) * 100.0
        out.append({"expiry": _value(row["expiry"]), "days_to_expiry": _value(row["days_to_expiry"]),
                    "iv": [_value(float(v)) if abs(x) <= width else None for x, v in zip(k, iv, strict=True)]})
    return {"k": [round(float(x), 5) for x in k], "expiries": out}


def parse_instrument(name: str) -> str:
    """The coin of a Deribit-style name; BadParam when it is not one."""
    match = INSTRUMENT.match(name.upper())
    if match is None:
        raise BadParam("path", "instrument", f"{name!r} is not an option name: use {INSTRUMENT_HELP}")
    return match["asset"]


def greeks(reader: SnapshotReader, instrument: str, day: date | None) -> dict:
    asset = known_asset(reader, "chain_greeks", parse_instrument(instrument), "greeks")
    instrument = instrument.upper()
    day, frame = day_frame(reader, "chain_greeks", asset, day, "greeks")
    row = frame.filter(pl.col("instrument_name") == instrument)
    if row.is_empty():
        expiries = sorted({n.split("-")[1] for n in frame["instrument_name"].to_list()})
        raise NotFound(f"no instrument {instrument} listed on {day}: {frame.height} options listed for {asset}, "
                       f"expiries {_list(expiries)}; e.g. {frame['instrument_name'][0]}")
    return {"instrument": instrument, "asset": asset, "date": day.isoformat(), **records(row.head(1))[0]}


def exposures(reader: SnapshotReader, asset: str, day: date | None) -> dict:
    asset = known_asset(reader, "chain_exposures", asset, "exposures")
    day, frame = day_frame(reader, "chain_exposures", asset, day, "exposures")
    frame = frame.sort("expiry")
    return {"asset": asset, "date": day.isoformat(), "expiries": records(frame)}


# -- strategy, universe ------------------------------------------------------------------------
def equity(reader: SnapshotReader, asset: str, strategy: str | None, family: str | None) -> dict:
    daily = reader.single("backtest_daily")
    if daily is None:
        raise NotFound("no backtest_daily in the lake yet: materialize group:backtest first")
    asset = asset.upper()
    coins = sorted(daily["asset"].unique().to_list())
    if asset not in coins:
        raise NotFound(f"unknown asset {asset!r} for backtests: the lake holds {_list(coins)}")
    mine = daily.filter(pl.col("asset") == asset)
    combos = mine.select("strategy", "family").unique().sort("strategy", "family")
    if strategy is None:
        promo = reader.single("model_promotion")
        primary = promo.filter((pl.col("asset") == asset) & pl.col("primary")) if promo is not None else None
        if primary is not None and primary.height:
            strategy = f"dvol_futures_{primary['horizon'][0]}d"
            family = family or primary["promoted_family"][0]
        else:
            strategy, family = combos.row(0)
    pick = mine.filter(pl.col("strategy") == strategy)
    if family is not None:
        pick = pick.filter(pl.col("family") == family)
    if pick.is_empty():
        raise NotFound(f"no backtest for strategy={strategy!r} family={family!r} on {asset}; held: "
                       + _list([f"{s}/{f}" for s, f in combos.iter_rows()]))
    family = pick["family"][0]
    pick = pick.filter(pl.col("family") == family).sort("date")
    return {"asset": asset, "strategy": strategy, "family": family,
            "available": [{"strategy": s, "family": f} for s, f in combos.iter_rows()],
            **columns(pick, ["date", "equity_usd", "drawdown_usd", "net_usd", "sample"])}


def universe_status(reader: SnapshotReader) -> dict:
    """Whether the coin-universe lane exists, and its symbols (the dashboard asks this, never a 404)."""
    if UNIVERSE_TABLE not in TABLES:
        return {"available": False, "symbols": [],
                "message": f"the coin-universe lane does not exist yet (no `{UNIVERSE_TABLE}` table in the catalog)"}
    symbols = reader.coins(UNIVERSE_TABLE)  # coin folders, where the table has them
    if not symbols:
        frame = reader.latest(UNIVERSE_TABLE)
        key = next((c for c in ("symbol", "asset", "coin") if frame is not None and c in frame.columns), None)
        symbols = sorted(frame[key].unique().to_list()) if key else []
    if not symbols:
        return {"available": False, "symbols": [],
                "message": f"`{UNIVERSE_TABLE}` has no rows yet: run the universe lane (`python -m dvol_pipeline run`)"}
    return {"available": True, "symbols": symbols, "message": f"{len(symbols)} symbols"}


def universe(reader: SnapshotReader, symbol: str) -> dict:
    """The coin-universe lane's newest forecast for one symbol, once the lane writes its table."""
    if UNIVERSE_TABLE not in TABLES:
        raise NotFound(f"the coin-universe lane does not exist in this lake yet (no `{UNIVERSE_TABLE}` table in "
                       "the catalog), so there is no forecast for any symbol")
    symbol = symbol.upper()
    # the newest fold, the one file, or the symbol's newest day: whatever the table's layout keeps
    frame = reader.latest(UNIVERSE_TABLE, symbol)
    if frame is None or frame.is_empty():
        raise NotFound(f"`{UNIVERSE_TABLE}` has no rows yet: materialize the universe lane first")
    key = next((c for c in ("symbol", "asset", "coin") if c in frame.columns), None)
    rows = frame.filter(pl.col(key).str.to_uppercase() == symbol) if key else frame.head(0)
    if rows.is_empty():
        held = sorted(frame[key].unique().to_list()) if key else []
        raise NotFound(f"unknown symbol {symbol!r}: the universe holds {_list(held[:50])}"
                       + (f" and {len(held) - 50} more" if len(held) > 50 else ""))
    if "date" in rows.columns:
        rows = rows.filter(pl.col("date") == rows["date"].max())
    return {"symbol": symbol, "rows": records(rows)}


_DESK_COLUMNS = ["date", "symbol", "family", "horizon", "split", "fold", "y", "y_hat", "class_hat",
                 "p_low", "p_mid", "p_high"]


def _universe_predictions(reader: SnapshotReader) -> pl.DataFrame:
    if UNIVERSE_TABLE not in TABLES:
        raise NotFound(f"the coin-universe lane does not exist in this lake yet (no `{UNIVERSE_TABLE}` table in "
                       "the catalog)")
    frame = reader.latest(UNIVERSE_TABLE)
    if frame is None or frame.is_empty():
        raise NotFound(f"`{UNIVERSE_TABLE}` has no rows yet: run the universe lane (`python -m dvol_pipeline run`)")
    return frame.select([c for c in _DESK_COLUMNS if c in frame.columns])


def _desk_horizon(preds: pl.DataFrame, horizon: int | None) -> int:
    held = sorted(int(h) for h in preds["horizon"].unique().to_list())
    if horizon is None:
        return held[0]
    if horizon not in held:
        raise BadParam("query", "horizon", f"horizon {horizon} is not one the universe lane forecasts: {held}")
    return horizon


def universe_desk(reader: SnapshotReader, horizon: int | None = None) -> dict:
    """One row per coin: the chosen family's newest forecast, the predicted regime with its probabilities, and
    the newest realised vol next to the forecast made for it (the family choice is `quant.evaluate.desk`'s)."""
    preds = _universe_predictions(reader)
    h = _desk_horizon(preds, horizon)
    metrics = reader.latest(UNIVERSE_METRICS) if UNIVERSE_METRICS in TABLES else None
    out = desk.desk_rows(preds, metrics, h)
    out["horizons"] = sorted(int(x) for x in preds["horizon"].unique().to_list())
    out["rows"] = [{k: _value(v) for k, v in r.items()} for r in out["rows"]]
    return out


def universe_chart(reader: SnapshotReader, symbol: str, horizon: int | None = None) -> dict:
    """One coin's forecast (the desk's chosen family) and realised vol over time."""
    preds = _universe_predictions(reader)
    h = _desk_horizon(preds, horizon)
    symbol = symbol.upper()
    held = sorted(preds["symbol"].unique().to_list())
    if symbol not in held:
        raise NotFound(f"unknown symbol {symbol!r}: the universe holds {_list(held[:50])}"
                       + (f" and {len(held) - 50} more" if len(held) > 50 else ""))
    metrics = reader.latest(UNIVERSE_METRICS) if UNIVERSE_METRICS in TABLES else None
    newest_fold = preds.filter(pl.col("horizon") == h)["fold"].max()
    family, basis = desk.choose_family(metrics, h, newest_fold) if metrics is not None and metrics.height \
        else (None, "universe_forecast_metrics has no rows")
    series = desk.coin_series(preds, symbol, family, h) if family else pl.DataFrame(
        schema={"date": pl.Date, "y": pl.Float64, "y_hat": pl.Float64})
    return {"symbol": symbol, "horizon": h, "family": family, "basis": basis,
            **columns(series, ["date", "y", "y_hat"])}
