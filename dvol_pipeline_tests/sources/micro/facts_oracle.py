"""Stylised-fact measurements for the simulated micro market, written independently of its code.

Everything here reads only the raw tick frames (plus, for metaorder impact, the metaorder
truth table the source exposes), with textbook formulas: OFI as Cont, Kukanov & Stoikov
(2014) eq. (2), regressions by numpy.linalg.lstsq.
"""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl

NS = 1_000_000_000


def infer_tick(tob: pl.DataFrame) -> float:
    """The price grid, read off the data: the smallest gap between distinct bid prices."""
    p = np.unique(tob["bid_price"].to_numpy())
    return float(np.round(np.min(np.diff(p)), 10))


def per_second_top(tob: pl.DataFrame) -> pl.DataFrame:
    """The last bookTicker state of each second (local clock), forward-filled over seconds without one."""
    t = tob["ts_local"].dt.epoch("ns").to_numpy()
    sec = t // NS
    s0 = sec[0]
    grid = np.arange(s0, sec[-1] + 1)
    idx = np.searchsorted(sec, grid, side="right") - 1
    cols = {c: tob[c].to_numpy()[idx] for c in ("bid_price", "bid_size", "ask_price", "ask_size")}
    return pl.DataFrame({"sec": grid, **cols})


def ofi_per_second(tob: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(seconds, summed CKS OFI e_n per second), e_n over consecutive bookTicker rows (CKS 2014 eq. 2)."""
    pb, qb = tob["bid_price"].to_numpy(), tob["bid_size"].to_numpy()
    pa, qa = tob["ask_price"].to_numpy(), tob["ask_size"].to_numpy()
    e = ((pb[1:] >= pb[:-1]) * qb[1:] - (pb[1:] <= pb[:-1]) * qb[:-1]
         - (pa[1:] <= pa[:-1]) * qa[1:] + (pa[1:] >= pa[:-1]) * qa[:-1])
    sec = tob["ts_local"].dt.epoch("ns").to_numpy()[1:] // NS
    grid = np.arange(sec[0], sec[-1] + 1)
    return grid, np.bincount(sec - sec[0], weights=e, minlength=grid.size)


def r2(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, R^2) of y = a + b x by least squares."""
    a = np.column_stack([np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    resid = y - a @ coef
    return float(coef[1]), float(1.0 - resid.var() / y.var())


def ofi_facts(tob: pl.DataFrame, tick: float | None = None) -> dict[str, float]:
    """Contemporaneous and next-second R^2 of 1-s mid changes (ticks) on 1-s OFI; slope by depth tercile."""
    tick = tick or infer_tick(tob)
    top = per_second_top(tob)
    grid, ofi_raw = ofi_per_second(tob)
    # OFI of second s (bookTicker rows in [s, s+1)) against mid(end of s) - mid(end of s-1)
    ofi = np.zeros(top.height)
    pos = grid - top["sec"][0]
    ok = (pos >= 0) & (pos < top.height)
    ofi[pos[ok]] = ofi_raw[ok]
    mid = ((top["bid_price"] + top["ask_price"]) / 2).to_numpy()
    depth = ((top["bid_size"] + top["ask_size"]) / 2).to_numpy()
    dmid = np.diff(mid) / tick
    ofi, dep = ofi[1:], depth[:-1]
    slope, r2c = r2(ofi, dmid)
    _, r2n = r2(ofi[:-1], dmid[1:])
    # depth terciles by the 10-minute average depth (CKS: slope ~ 1 / depth)
    blk = np.arange(dep.size) // 600
    avg = np.bincount(blk, weights=dep) / np.bincount(blk)
    lvl = avg[blk]
    lo, hi = np.quantile(lvl, [1 / 3, 2 / 3])
    s_lo, _ = r2(ofi[lvl <= lo], dmid[lvl <= lo])
    s_hi, _ = r2(ofi[lvl >= hi], dmid[lvl >= hi])
    return {"r2_ofi": r2c, "r2_next": r2n, "slope": slope, "slope_low_depth": s_lo, "slope_high_depth": s_hi}


def spread_one_tick(tob: pl.DataFrame, tick: float | None = None) -> float:
    tick = tick or infer_tick(tob)
    top = per_second_top(tob)
    spread = ((top["ask_price"] - top["bid_price"]) / tick).round().to_numpy()
    return float(np.mean(spread == 1))


def sign_acf(trades: pl.DataFrame, lags=(1, 10, 100, 1000)) -> dict[int, float]:
    s = np.where(trades["side"].to_numpy() == "buy", 1.0, -1.0)
    s = s - s.mean()
    return {k: float(np.dot(s[:-k], s[k:]) / np.dot(s, s)) for k in lags}


def minute_mid(tob: pl.DataFrame) -> np.ndarray:
    top = per_second_top(tob)
    mid = ((top["bid_price"] + top["ask_price"]) / 2).to_numpy()
    return mid[::60]


def kurtosis_1m(tob: pl.DataFrame) -> float:
    r = np.diff(np.log(minute_mid(tob)))
    r = r - r.mean()
    return float(np.mean(r**4) / np.mean(r**2) ** 2)


def intraday(tob: pl.DataFrame, trades: pl.DataFrame) -> dict[str, np.ndarray]:
    """Hourly volume, mean spread (ticks-free: price units) and 1-min realised vol, by UTC hour of ts_local."""
    top = per_second_top(tob)
    hour = (top["sec"].to_numpy() // 3600) % 24
    spread = (top["ask_price"] - top["bid_price"]).to_numpy()
    mid = ((top["bid_price"] + top["ask_price"]) / 2).to_numpy()
    r = np.diff(np.log(mid[::60]))
    rh = hour[::60][1:]
    th = (trades["ts_local"].dt.epoch("ns").to_numpy() // NS // 3600) % 24
    return {
        "volume": np.bincount(th, weights=trades["size"].to_numpy(), minlength=24),
        "spread": np.bincount(hour, weights=spread, minlength=24) / np.bincount(hour, minlength=24),
        "vol": np.sqrt(np.bincount(rh, weights=r * r, minlength=24) / np.bincount(rh, minlength=24)),
    }


def liquidation_clustering(liq: pl.DataFrame, tob: pl.DataFrame) -> dict[str, float]:
    """Index of dispersion of per-minute counts, and the mean |1-min return| in minutes with vs without one."""
    top = per_second_top(tob)
    m0 = top["sec"][0] // 60
    mid = ((top["bid_price"] + top["ask_price"]) / 2).to_numpy()[::60]
    absr = np.abs(np.diff(np.log(mid)))
    m = liq["ts_local"].dt.epoch("ns").to_numpy() // NS // 60 - m0
    counts = np.bincount(m, minlength=absr.size + 1)[: absr.size]
    with_liq = counts > 0
    return {"dispersion": float(counts.var() / counts.mean()), "absret_ratio":
            float(absr[with_liq].mean() / absr[~with_liq].mean()), "count": int(liq.height)}


def basis_funding(spot_tob: pl.DataFrame, perp_tob: pl.DataFrame, ticker: pl.DataFrame) -> dict[str, float]:
    """Perp-minus-spot basis against the funding settled at 08:00 and 16:00 (Binance: F = P + clamp(0.01% - P,
    +-0.05%), P the interval's mean premium); and the per-minute correlation of basis with the premium the
    published rate implies where it is outside the clamp (reported, not banded)."""
    s, p = per_second_top(spot_tob), per_second_top(perp_tob)
    j = s.join(p, on="sec", suffix="_p")
    basis = (((j["bid_price_p"] + j["ask_price_p"]) / (j["bid_price"] + j["ask_price"])) - 1).to_numpy()
    sec = j["sec"].to_numpy() % 86_400
    settled = ticker.filter(pl.col("funding_time") == pl.col("ts_exchange"))
    errs = []
    for row in settled.iter_rows(named=True):
        end = row["ts_exchange"].hour * 3600
        if end == 0:
            continue
        mean_p = basis[(sec >= end - 28_800) & (sec < end)].mean()
        f = mean_p + np.clip(1e-4 - mean_p, -5e-4, 5e-4)
        errs.append(abs(f - row["funding_rate"]))
    # the venue's own premium index (mark / index - 1), per minute, against the measured basis
    tk = ticker.with_columns((pl.col("ts_exchange").dt.epoch("s") // 60).alias("m")).group_by("m").agg(
        (pl.col("mark_price") / pl.col("index_price") - 1).mean().alias("prem")).sort("m")
    bm = pl.DataFrame({"m": j["sec"] // 60, "b": basis}).group_by("m").agg(pl.col("b").mean()).sort("m")
    jj = tk.join(bm, on="m")
    corr = float(np.corrcoef(jj["prem"].to_numpy(), jj["b"].to_numpy())[0, 1])
    return {"mean_basis_bps": float(basis.mean() * 1e4), "mean_premium_bps": float(jj["prem"].mean() * 1e4),
            "corr_basis_premium": corr, "max_funding_err": float(max(errs)) if errs else 0.0}


def _mid_at(tob: pl.DataFrame, t_ns: np.ndarray) -> np.ndarray:
    t = tob["ts_local"].dt.epoch("ns").to_numpy()
    mid = ((tob["bid_price"] + tob["ask_price"]) / 2).to_numpy()
    return mid[np.clip(np.searchsorted(t, t_ns, side="right") - 1, 0, t.size - 1)]


def metaorder_impact(meta: pl.DataFrame, tob: pl.DataFrame, other_tob: pl.DataFrame, day_start_ns: int
                     ) -> tuple[float, list]:
    """log-log slope of the mean signed impact (bps) of metaorders on their number of children n.

    Impact = sign x (the venue's mid return from the metaorder's start to its last child minus the
    other venue's over the same span): the other venue shares the fair price but not this venue's
    order flow, so the difference removes the market's own move (a market-adjusted return)."""
    m = meta.filter(pl.col("children") >= 2)
    t0 = m["start_ns"].to_numpy() + day_start_ns
    t1 = m["end_ns"].to_numpy() + day_start_ns
    own = _mid_at(tob, t1) / _mid_at(tob, t0) - 1
    ref = _mid_at(other_tob, t1) / _mid_at(other_tob, t0) - 1
    imp = m["sign"].to_numpy() * (own - ref) * 1e4
    n = m["children"].to_numpy()
    edges = [2, 4, 8, 16, 32, 64, 128, 1024]
    xs, ys = [], []
    for lo, hi in itertools.pairwise(edges):
        sel = (n >= lo) & (n < hi)
        if sel.sum() >= 20:
            xs.append(n[sel].mean())
            ys.append(imp[sel].mean())
    xs, ys = np.array(xs), np.array(ys)
    slope, _ = r2(np.log(xs), np.log(np.maximum(ys, 1e-3)))
    return slope, list(zip(xs.round(1).tolist(), ys.round(3).tolist(), strict=True))


def _table() -> None:
    """Print the docs' fact table for seeds 0, 1, 2 (BTC, 2024-03-05): `python -m dvol_pipeline_tests.sources.micro.facts_oracle`."""
    import time
    from datetime import UTC, date, datetime

    from dvol_pipeline.sources.micro.simulated import simulate_day
    from dvol_pipeline.sources.micro.simulated.facts import metaorder_table

    day = date(2024, 3, 5)
    d0 = int(datetime(2024, 3, 5, tzinfo=UTC).timestamp()) * NS
    for seed in (0, 1, 2):
        t = time.perf_counter()
        perp, prun = simulate_day("BTC", "sim_usdm", day, seed=seed)
        t_perp = time.perf_counter() - t
        spot, _ = simulate_day("BTC", "sim_spot", day, seed=seed)
        tob, stob = perp["raw_top_of_book"], spot["raw_top_of_book"]
        o, so = ofi_facts(tob), ofi_facts(stob)
        d = intraday(tob, perp["raw_trades"])
        busy, quiet = [13, 14, 15, 16], [2, 3, 4, 5]
        acf = sign_acf(perp["raw_trades"])
        slope, _ = metaorder_impact(metaorder_table(prun), tob, stob, d0)
        liq = liquidation_clustering(perp["raw_liquidations"], tob)
        snaps = perp["raw_book_deltas"].filter(pl.col("is_snapshot")).group_by("update_id", "side").len()
        print(f"seed {seed}: perp day {t_perp:.1f} s, rows deltas {perp['raw_book_deltas'].height} / "
              f"{spot['raw_book_deltas'].height} (perp/spot), trades {perp['raw_trades'].height}, "
              f"bookTicker {tob.height}, snapshot levels min {snaps['len'].min()} median {snaps['len'].median()}")
        print(f"  spread 1 tick {spread_one_tick(tob):.3f}/{spread_one_tick(stob):.3f}; R2 ofi {o['r2_ofi']:.3f}/"
              f"{so['r2_ofi']:.3f}; next {o['r2_next']:.3f}/{so['r2_next']:.3f}; slope hi/lo depth "
              f"{o['slope_high_depth'] / o['slope_low_depth']:.2f}/{so['slope_high_depth'] / so['slope_low_depth']:.2f}")
        print(f"  acf 1/10/100/1000 {acf[1]:.3f} {acf[10]:.3f} {acf[100]:.4f} {acf[1000]:.4f}; impact slope "
              f"{slope:.2f}; kurtosis {kurtosis_1m(tob):.2f}; volume busy/quiet "
              f"{d['volume'][busy].mean() / d['volume'][quiet].mean():.2f}, vol {d['vol'][busy].mean() / d['vol'][quiet].mean():.2f}, "
              f"spread quiet/busy {d['spread'][quiet].mean() / d['spread'][busy].mean():.3f}; liq {liq}")


if __name__ == "__main__":
    _table()
