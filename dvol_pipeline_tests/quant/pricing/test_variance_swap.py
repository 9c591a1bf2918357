"""VIX-style variance-swap replication on synthetic chains with known answers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.pricing.options import price
from dvol_pipeline.quant.pricing.variance_swap import replicate_dvol, strip_variance

TS = datetime(2024, 1, 5, 23, 59, 59, tzinfo=timezone.utc)
YEAR_S = 365 * 86400


def expiry_in(days: float, ts: datetime = TS) -> datetime:
    return ts + timedelta(days=days)


def make_chain(vol, days, fwd=100.0, step=0.25, ts=TS, asset="BTC", width_sd=7.0) -> pl.DataFrame:
    """Both calls and puts on a dense strike grid; `vol(k, t)` gives the smile."""
    expiry = expiry_in(days, ts)
    t = (expiry - ts).total_seconds() / YEAR_S
    s = vol(0.0, t) * np.sqrt(t)
    lo, hi = np.ceil(fwd * np.exp(-width_sd * s) / step), np.floor(fwd * np.exp(width_sd * s) / step)
    strikes = np.arange(lo, hi + 1) * step
    k = np.repeat(strikes, 2)
    is_call = np.tile([True, False], strikes.size)
    iv = vol(np.log(k / fwd), t)
    n = k.size
    return pl.DataFrame(
        {
            "ts": [ts] * n,
            "asset": [asset] * n,
            "expiry": [expiry] * n,
            "strike": k,
            "option_type": np.where(is_call, "C", "P"),
            "mark_price": price(fwd, k, t, iv, is_call) / fwd,
            "underlying_price": np.full(n, fwd),
        }
    ).with_columns(pl.col("ts", "expiry").cast(pl.Datetime("us", "UTC")))


def flat(sigma):
    return lambda k, t: np.full(np.shape(k), sigma, dtype=float)


def svi_like(atm, eta=0.35, rho=-0.5):
    def vol(k, t):
        y = np.asarray(k) / (atm * np.sqrt(t))
        return atm * np.sqrt(1 + eta * (rho * y + np.sqrt(y * y + 1) - 1))

    return vol


def test_flat_vol_dense_grid_recovers_the_vol():
    out = replicate_dvol(make_chain(flat(0.6), 30))
    assert out.height == 1
    assert out["dvol"][0] == pytest.approx(60.0, abs=0.05)


def test_forward_between_strikes_uses_k0_correction():
    chain = make_chain(flat(0.55), 30, fwd=100.37, step=1.0)
    strip = strip_variance(chain)
    assert strip["k0"][0] == 100.0 and strip["forward"][0] == pytest.approx(100.37)
    assert replicate_dvol(chain)["dvol"][0] == pytest.approx(55.0, abs=0.1)


def test_skew_makes_the_variance_swap_exceed_atm():
    out = replicate_dvol(make_chain(svi_like(0.5), 30, width_sd=10.0))
    assert out["dvol"][0] > 50.0 + 2.0


def test_flat_term_structure_interpolates_exactly():
    chain = pl.concat([make_chain(flat(0.5), 20), make_chain(flat(0.5), 45)])
    out = replicate_dvol(chain)
    assert out["dvol"][0] == pytest.approx(50.0, abs=0.05)
    assert out["near_expiry"][0] == expiry_in(20) and out["next_expiry"][0] == expiry_in(45)


def test_interpolation_is_linear_in_total_variance():
    chain = pl.concat([make_chain(flat(0.4), 20), make_chain(flat(0.6), 45), make_chain(flat(0.9), 3)])
    strips = strip_variance(chain).sort("T")
    t1, t2 = strips["T"][1], strips["T"][2]
    v1, v2 = strips["variance"][1], strips["variance"][2]
    tt = 30 / 365
    w1 = (t2 - tt) / (t2 - t1)
    expected = 100 * np.sqrt((t1 * v1 * w1 + t2 * v2 * (1 - w1)) / tt)
    out = replicate_dvol(chain)
    assert out["dvol"][0] == pytest.approx(expected, rel=1e-12)
    assert 40.0 < out["dvol"][0] < 60.0


def test_only_shorter_expiries_extrapolate_flat_from_the_nearest():
    chain = pl.concat([make_chain(flat(0.7), 7), make_chain(flat(0.5), 14)])
    out = replicate_dvol(chain)
    assert out["next_expiry"][0] is None and out["near_expiry"][0] == expiry_in(14)
    assert out["dvol"][0] == pytest.approx(50.0, abs=0.05)


def test_only_longer_expiries_extrapolate_flat_from_the_nearest():
    chain = pl.concat([make_chain(flat(0.45), 60), make_chain(flat(0.3), 90)])
    out = replicate_dvol(chain)
    assert out["near_expiry"][0] is None and out["next_expiry"][0] == expiry_in(60)
    assert out["dvol"][0] == pytest.approx(45.0, abs=0.05)


def test_many_snapshots_and_assets_at_once():
    parts, expected = [], {}
    for i, asset in enumerate(["BTC", "ETH"]):
        for d in range(3):
            ts = TS + timedelta(days=d)
            vol = 0.4 + 0.1 * i + 0.05 * d
            expected[(asset, ts)] = 100 * vol
            parts += [make_chain(flat(vol), 21, ts=ts, asset=asset), make_chain(flat(vol), 40, ts=ts, asset=asset)]
    chain = pl.concat(parts).sample(fraction=1.0, shuffle=True, seed=3)
    out = replicate_dvol(chain)
    assert out.height == 6
    assert out.select("asset", "ts").equals(out.select("asset", "ts").sort("asset", "ts"))
    for asset, ts, dvol in out.select("asset", "ts", "dvol").iter_rows():
        assert dvol == pytest.approx(expected[(asset, ts)], abs=0.05)


def test_expired_and_single_strike_expiries_are_ignored():
    chain = make_chain(flat(0.5), 30)
    stale = chain.with_columns(pl.col("expiry") - pl.duration(days=40))
    lonely = make_chain(flat(2.0), 10).head(2)
    out = replicate_dvol(pl.concat([chain, stale, lonely]))
    assert out["dvol"][0] == pytest.approx(50.0, abs=0.05)


def test_missing_columns_are_reported():
    with pytest.raises(ValueError, match="underlying_price"):
        replicate_dvol(make_chain(flat(0.5), 30).drop("underlying_price"))
