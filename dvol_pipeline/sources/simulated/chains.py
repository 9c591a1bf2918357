"""End-of-day option chains on Deribit's calendar, priced off the model surface.

Why: the options summary and every surface feature downstream are computed from these
chains, so they carry everything a real dump does: per-expiry forwards (spot times carry),
round strike grids covering about +-4 standard deviations, Black-76 marks in coin,
tick-rounded bid/ask whose spreads widen in the wings and at short expiries, open interest
/ volume concentrated near the money and in monthly/quarterly expiries, and the
imperfections of a venue dump (`quotes`: noisy marks, asymmetric quotes, stale and missing
quotes, no or zero bids, rare crossed quotes). The published DVOL is replicated from the
clean model marks of every listed strike in the same pass (the exchange's own index).
Days are built in vectorised 128-day passes (a loop over days only lists expiries).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from dvol_pipeline.quant.pricing.options import SECONDS_PER_YEAR, VOL_POINT, price, vega
from dvol_pipeline.quant.pricing.variance_swap import replicate_dvol

from . import calendar as cal
from .calendar import EPOCH, US_PER_DAY, US_PER_HOUR
from .paths import CoinPath
from .rng import STREAM_CHAIN, per_day_normals
from . import quotes
from .surface import atm_vol, implied_vol, level30, smile_h, state_at, target_variance

TICK = 1e-4
KIND_OI_WEIGHT = np.array([0.25, 0.5, 1.0, 1.6])
K_LO_SD, K_HI_SD, INNER_SD, PUT_WING_Y = -4.0, 3.75, 1.5, 6.0
"""Strike coverage in standard deviations of each expiry's move: calls to 3.75 sd at the
variance-swap vol, puts to 4 sd at the put-wing vol (y = -6), a fine grid within 1.5 sd.
The fat put wing carries much of a variance swap, so it must be listed far out."""


def snapshot_us(start: date, days: np.ndarray) -> np.ndarray:
    """Snapshot instant of day d: d 23:59:59 UTC, as epoch microseconds."""
    return ((start - EPOCH).days + days + 1) * US_PER_DAY - 1_000_000


def _expiry_table(start: date, days: np.ndarray):
    """Per (day, expiry) rows: day, expiry epoch-us, kind, and whether it was listed the day before."""
    rows_day, rows_exp, rows_kind, rows_before = [], [], [], []
    for d in days.tolist():
        day = start + timedelta(days=d)
        before = {exp for exp, _ in cal.listed_expiries(day - timedelta(days=1))}
        for exp, kind in cal.listed_expiries(day):
            rows_day.append(d)
            rows_exp.append(((exp - EPOCH).days * 24 + cal.EXPIRY_HOUR) * US_PER_HOUR)
            rows_kind.append(kind)
            rows_before.append(exp in before)
    return (
        np.array(rows_day, np.int64), np.array(rows_exp, np.int64), np.array(rows_kind, np.int64),
        np.array(rows_before, bool),
    )


def _expiry_codes(expiry_us: np.ndarray) -> pl.Series:
    uniq, inv = np.unique(expiry_us, return_inverse=True)
    codes = np.array([cal.expiry_code(EPOCH + timedelta(days=int(u // US_PER_DAY))) for u in uniq])
    return pl.Series(codes[inv])


def _smile_state(path: CoinPath, idx: np.ndarray, ts_us: np.ndarray, e_exp: np.ndarray) -> dict[str, np.ndarray]:
    """Per (day, expiry): forward, T, ATM vol and smile shape of the state at hour boundaries idx."""
    st = state_at(path, idx)
    t_exp = (e_exp - ts_us) / 1e6 / SECONDS_PER_YEAR
    fwd = st["spot"] * np.exp(st["carry"] * t_exp)
    atm = atm_vol(path.model, st["x"], st["log_vrp"], st["noise"], st["eta"], st["rho"], t_exp, st["spike"])
    return st | {"fwd": fwd, "t": t_exp, "atm": atm}


def _price_grid(path: CoinPath, days: np.ndarray) -> dict[str, np.ndarray]:
    """Expiries x strikes x (C, P) of every day, priced off the model surface."""
    e_day, e_exp, e_kind, e_before = _expiry_table(path.start, days)
    pos = np.searchsorted(days, e_day)
    ts_us = snapshot_us(path.start, days)
    s = _smile_state(path, 24 * (days + 1)[pos], ts_us[pos], e_exp)
    fwd, t_exp, atm = s["fwd"], s["t"], s["atm"]
    s_vs = np.sqrt(t_exp * target_variance(path.model, s["x"], s["log_vrp"], s["noise"], t_exp, s["spike"]))
    s_put = atm * np.sqrt(t_exp * smile_h(-PUT_WING_Y, s["eta"], s["rho"]))
    rows, strikes = cal.strike_grid(fwd, K_LO_SD * s_put, K_HI_SD * s_vs, INNER_SD * s_vs)
    e_idx = np.repeat(rows, 2)  # each strike as a call and a put
    strike = np.repeat(strikes, 2)
    is_call = np.tile([True, False], strikes.size)
    f, t, a = fwd[e_idx], t_exp[e_idx], atm[e_idx]
    k = np.log(strike / f)
    iv = implied_vol(k, t, a, s["eta"][e_idx], s["rho"][e_idx])
    return {
        "day_pos": pos[e_idx], "ts": ts_us[pos][e_idx], "expiry": e_exp[e_idx], "kind": e_kind[e_idx],
        "strike": strike, "is_call": is_call, "fwd": f, "t": t, "k": k, "y": k / (a * np.sqrt(t)), "iv": iv,
        "mark": price(f, strike, t, iv, is_call) / f, "vega": vega(f, strike, t, iv),  # vega: USD per vol point
        "e_idx": e_idx, "e_day_pos": pos, "e_exp": e_exp, "e_ts": ts_us[pos], "listed_before": e_before[e_idx],
    }


def _yesterdays_fair(path: CoinPath, g: dict, rows: np.ndarray) -> np.ndarray:
    """Yesterday's model value in coin of `rows` (same strike and expiry, the previous
    snapshot's forward and smile); only the expiries those rows belong to are evaluated."""
    e, inv = np.unique(g["e_idx"][rows], return_inverse=True)
    ts = g["e_ts"][e]
    prev = _smile_state(path, 24 * (ts // US_PER_DAY - (path.start - EPOCH).days), ts - US_PER_DAY, g["e_exp"][e])
    f, t, strike = prev["fwd"][inv], prev["t"][inv], g["strike"][rows]
    iv = implied_vol(np.log(strike / f), t, prev["atm"][inv], prev["eta"][inv], prev["rho"][inv])
    return price(f, strike, t, iv, g["is_call"][rows]) / f


def _open_interest_and_volume(path: CoinPath, days: np.ndarray, g: dict, noise: np.ndarray):
    """OI near the money and in monthly/quarterly expiries; volume up on big moves."""
    p, day_pos, t_days = path.params, g["day_pos"], g["t"] * 365.0
    otm = np.where(g["is_call"], g["k"] >= 0, g["k"] < 0)
    w = (
        KIND_OI_WEIGHT[g["kind"]]
        * np.minimum(t_days / 2.0, 1.0) ** 0.5
        * np.exp(-0.5 * (g["y"] / 1.6) ** 2)
        * np.where(otm, 1.3, 0.7)
        * np.exp(0.5 * noise[0])
    )
    total_oi = p.option_oi * np.exp(0.00045 * days + 0.1 * path.daily_noise[3, days])
    lot = 0.1 if p.s0 > 10_000 else 1.0
    # per-day sums with bincount run over each day's rows in order: range-independent
    oi = np.round(total_oi[day_pos] * w / np.bincount(day_pos, weights=w)[day_pos] / lot) * lot
    idx_end, idx_start = 24 * (days + 1), 24 * days
    move = np.abs(path.log_s_b[idx_end] - path.log_s_b[idx_start]) / (path.vol_b[idx_start] / np.sqrt(365.0))
    dvol_move = np.abs(np.log(level30(path, idx_end) / level30(path, idx_start))) / 0.04
    turnover = 0.035 * (0.6 + 0.25 * move + 0.25 * dvol_move)[day_pos]
    volume = oi * turnover * (1.0 + 1.5 / (1.0 + t_days)) * np.exp(0.6 * noise[1] - 0.18)
    return oi, np.round(volume / lot) * lot


def _half_spread(g: dict, noise: np.ndarray) -> np.ndarray:
    """Half-spread in coin: a vol half-spread, wider in the wings and at short expiry, times vega."""
    t_days = g["t"] * 365.0
    hs_vol = 0.004 * (1.0 + 0.35 * np.abs(g["y"]) ** 1.5) * (1.0 + 0.6 / np.sqrt(t_days)) * np.exp(0.25 * noise)
    return g["vega"] * (hs_vol / VOL_POINT) / g["fwd"] + 0.5 * TICK  # vega per point x half-spread in points


CHUNK_DAYS = 128
"""Days priced per pass: every array of a pass is a few times the chain it yields, so a whole
history at once needs several times the chain's memory; a day's rows never depend on the other days
of its pass (per-day draws and sums), so chunking changes no value."""


def build_chain(path: CoinPath, seed: int, days: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(raw_option_chain rows, published DVOL closes) of one coin for day indices `days`.

    The chain is what the venue's dump shows (`quotes`); the DVOL frame (ts, dvol) is the
    exchange's index, replicated from the clean model marks of every listed strike.
    """
    days = np.asarray(days, np.int64)
    chunks = [_build_chain(path, seed, days[i : i + CHUNK_DAYS]) for i in range(0, max(days.size, 1), CHUNK_DAYS)]
    if len(chunks) == 1:
        return chunks[0]
    return pl.concat([c for c, _ in chunks], rechunk=True), pl.concat([d for _, d in chunks], rechunk=True)


def _published_dvol(path: CoinPath, g: dict) -> pl.DataFrame:
    """The exchange's DVOL of each snapshot: the variance-swap replica of its clean marks."""
    clean = pl.DataFrame(
        {
            "ts": pl.Series(g["ts"], dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
            "asset": pl.repeat(path.coin, g["strike"].size, eager=True),
            "expiry": pl.Series(g["expiry"], dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
            "strike": g["strike"],
            "is_call": g["is_call"],
            "mark_price": g["mark"],
            "underlying_price": g["fwd"],
        }
    )
    option_type = pl.when(pl.col("is_call")).then(pl.lit("C")).otherwise(pl.lit("P")).alias("option_type")
    return replicate_dvol(clean.with_columns(option_type).drop("is_call")).select("ts", "dvol")


def _build_chain(path: CoinPath, seed: int, days: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame]:
    g = _price_grid(path, days)
    coin_id = path.params.coin_id
    published = _published_dvol(path, g)
    # per-instrument noise, drawn per day so a day never depends on the requested range
    counts = np.bincount(g["day_pos"], minlength=days.size)
    noise = per_day_normals(seed, STREAM_CHAIN, coin_id, days, counts, k=3)
    oi, volume = _open_interest_and_volume(path, days, g, noise)
    g["row_draws"] = quotes.row_draws(g, seed, coin_id, days)
    iv_mark = quotes.mark_iv(g, seed, coin_id, days)
    half = _half_spread(g, noise[2])
    fair = g["mark"].copy()
    stale = quotes.stale_rows(g)
    fair[stale] = _yesterdays_fair(path, g, np.flatnonzero(stale))
    bid, ask = quotes.bid_ask(g, fair, half, TICK)
    keep = quotes.present(g)
    frame = pl.DataFrame(
        {
            "ts": pl.Series(g["ts"], dtype=pl.Int64),
            "asset": pl.repeat(path.coin, g["strike"].size, eager=True),
            "code": _expiry_codes(g["expiry"]),
            "expiry": pl.Series(g["expiry"], dtype=pl.Int64),
            "strike": g["strike"],
            "is_call": g["is_call"],
            "bid": bid,
            "ask": ask,
            "mark_price": price(g["fwd"], g["strike"], g["t"], iv_mark, g["is_call"]) / g["fwd"],
            "mark_iv": 100.0 * iv_mark,
            "underlying_price": g["fwd"],
            "open_interest": oi,
            "volume": volume,
        }
    ).filter(pl.Series(keep))
    option_type = pl.when(pl.col("is_call")).then(pl.lit("C")).otherwise(pl.lit("P"))
    name = pl.concat_str(
        [pl.col("asset"), pl.col("code"), pl.col("strike").cast(pl.Int64).cast(pl.Utf8), option_type],
        separator="-",
    )
    chain = frame.select(
        pl.col("ts").cast(pl.Datetime("us", "UTC")),
        "asset",
        name.alias("instrument_name"),
        pl.col("expiry").cast(pl.Datetime("us", "UTC")),
        "strike",
        option_type.alias("option_type"),
        pl.col("bid").fill_nan(None),
        "ask",
        "mark_price",
        "mark_iv",
        "underlying_price",
        "open_interest",
        "volume",
    )
    return chain, published
