"""SVI no-arbitrage repair: planted butterfly and calendar arbitrage removed, clean slices untouched."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl

from dvol_pipeline.quant.pricing.surface import (
    butterfly_g,
    butterfly_violations,
    calendar_violations,
    fit_repaired_slices,
    fit_slices,
    svi_total_variance,
)
from dvol_pipeline.quant.pricing.surface.repair import butterfly_min_g, raw_params

PARAMS = ("a", "b", "rho", "m", "sigma")
VOGT = (-0.0410, 0.1331, 0.3060, 0.3586, 0.4153)  # Gatheral & Jacquier (2014), Axel Vogt's example
VOGT_DAYS = 364.0
TS = datetime(2024, 3, 1, 23, 59, 59, tzinfo=timezone.utc)


def noisy_slice(days: float, params, n: int = 31, width_sd: float = 2.5, noise_vol: float = 0.003, seed: int = 0,
                ts: datetime = TS, asset: str = "BTC", k: np.ndarray | None = None) -> pl.DataFrame:
    """A `smile_points` slice of an SVI smile plus seeded mark noise; weights from a 1-vol-point spread."""
    T = days / 365.0
    if k is None:
        k = np.linspace(-width_sd, width_sd, n) * np.sqrt(svi_total_variance(0.0, *params))
    iv = np.sqrt(svi_total_variance(k, *params) / T) + np.random.default_rng(seed).normal(0.0, noise_vol, k.size)
    m = k.size
    return pl.DataFrame({
        "ts": [ts] * m, "asset": [asset] * m, "expiry": [ts + timedelta(days=days)] * m, "date": [ts.date()] * m,
        "T": [T] * m, "forward": [50_000.0] * m, "k": k, "iv": iv, "w": iv * iv * T,
        "weight": 1.0 / (2.0 * iv * T * 0.01) ** 2,
    }).with_columns(pl.col("ts", "expiry").cast(pl.Datetime("us", "UTC")))


def test_planted_butterfly_arbitrage_is_repaired_and_the_smile_stays_near_the_quotes():
    pts = noisy_slice(VOGT_DAYS, VOGT, k=np.linspace(-1.5, 1.5, 31), seed=1)
    raw = fit_slices(pts)
    assert butterfly_violations(raw).height > 0  # the raw fit reproduces the arbitrage of the quotes
    fixed = fit_repaired_slices(pts)
    row = fixed.row(0, named=True)
    assert row["repaired"] and row["repair_reason"] == "butterfly"
    assert row["butterfly_min_g_raw"] < -0.01 and row["butterfly_min_g"] >= 0.0
    assert butterfly_violations(fixed).height == 0
    # on a dense grid over the whole checked range too, not only the check's 81 points
    k = np.linspace(-1.0, 1.0, 2001) * max(1.5, 4 * row["atm_iv"] / 100) * np.sqrt(row["T"])
    assert butterfly_g(k, *(row[p] for p in PARAMS)).min() > -1e-6
    # the cost: under one vol point of RMSE against the quotes (the raw fit: the noise, 0.3)
    assert row["rmse_vol_raw"] < 0.5 and row["rmse_vol"] < 1.0
    assert row["rmse_vol"] > row["rmse_vol_raw"]
    # the raw fit is kept alongside
    np.testing.assert_allclose([row[f"{p}_raw"] for p in PARAMS], [raw.row(0, named=True)[p] for p in PARAMS])


def random_clean_day(n: int, seed: int) -> pl.DataFrame:
    """n days with three arbitrage-free, nested expiries each (the far ones lie above the near ones)."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        atm, rho = rng.uniform(0.45, 0.9), rng.uniform(-0.5, 0.1)
        ts = TS + timedelta(days=i)
        for j, days in enumerate((10.0, 30.0, 90.0)):
            T = days / 365
            s = atm * np.sqrt(T)
            b, sigma = 0.25 * s, 0.8 * s
            a = atm * atm * T - b * sigma
            frames.append(noisy_slice(days, (a, b, rho, 0.0, sigma), seed=100 * i + j, ts=ts))
    return pl.concat(frames)


def test_clean_slices_are_left_exactly_as_fitted():
    pts = random_clean_day(8, seed=3)
    raw = fit_slices(pts)
    assert butterfly_violations(raw).height == 0 and calendar_violations(raw).height == 0
    fixed = fit_repaired_slices(pts)
    assert not fixed["repaired"].any() and (fixed["repair_reason"] == "").all()
    for p in PARAMS:
        np.testing.assert_array_equal(fixed[p].to_numpy(), raw[p].to_numpy())
        np.testing.assert_array_equal(fixed[f"{p}_raw"].to_numpy(), raw[p].to_numpy())
    np.testing.assert_array_equal(fixed["rmse_vol"].to_numpy(), fixed["rmse_vol_raw"].to_numpy())


def test_planted_calendar_cross_is_removed_and_the_near_expiry_is_untouched():
    # far expiry: a flatter put wing than the near one, so it dips below it at the wing's end
    near = (0.0117, 0.08, -0.8, 0.0, 0.1)
    far = (0.0324, 0.06, -0.5, 0.0, 0.2)
    pts = pl.concat([noisy_slice(20.0, near, seed=4), noisy_slice(45.0, far, seed=5)])
    raw = fit_slices(pts).sort("T")
    crossed = calendar_violations(raw)
    assert crossed.height > 0 and (crossed["k"] < 0).all()
    fixed = fit_repaired_slices(pts).sort("T")
    assert fixed["repaired"].to_list() == [False, True]
    assert fixed["repair_reason"][1] == "calendar"
    assert calendar_violations(fixed).height == 0 and butterfly_violations(fixed).height == 0
    for p in PARAMS:
        assert fixed[p][0] == raw[p][0]
    # a wing repair, not a new level: the ATM vol moves by under a vol point, the RMSE stays
    # within 1.5 vol points (measured 0.95; the raw fit 0.24) for a cross of ~10 % of the variance
    assert abs(fixed["atm_iv"][1] - raw["atm_iv"][1]) < 1.0
    assert fixed["rmse_vol_raw"][1] < 0.5 and fixed["rmse_vol"][1] < 1.5


def test_any_smile_comes_out_arbitrage_free_and_the_fit_does_not_depend_on_the_batch():
    """Random, often wild, smiles (steep wings, tiny sigma, expiries that cross): every slice passes
    both checks after the repair, whatever the penalty step achieved."""
    rng = np.random.default_rng(7)
    frames = []
    for i in range(12):
        ts = TS + timedelta(days=i)
        for j, days in enumerate(np.sort(rng.uniform(3, 200, 4))):
            T = days / 365
            s = rng.uniform(0.4, 1.2) * np.sqrt(T)
            rho = rng.uniform(-0.99, 0.99)
            b = rng.uniform(0.05, 1.0) * 2.0 / (1 + abs(rho)) * s
            sigma = rng.uniform(0.01, 1.0) * s
            a = s * s - b * sigma * rng.uniform(0.5, 1.5)
            frames.append(noisy_slice(float(days), (a, b, rho, rng.uniform(-0.5, 0.5) * s, sigma),
                                      n=int(rng.integers(8, 40)), seed=10 * i + j, ts=ts))
    pts = pl.concat(frames)
    fixed = fit_repaired_slices(pts)
    assert fixed["repaired"].sum() > 0
    assert butterfly_violations(fixed).height == 0
    assert calendar_violations(fixed).height == 0
    assert (fixed["butterfly_min_g"] >= 0).all()
    raw = raw_params(fixed)
    assert ((butterfly_min_g(raw["T"].to_numpy(), tuple(raw[p].to_numpy() for p in PARAMS)) < -1e-8)
            == fixed["repair_reason"].str.contains("butterfly").to_numpy()).all()
    # one day repaired alone equals that day repaired in the batch (calendar pass is per day)
    day = fixed.group_by("date").agg(pl.col("repaired").sum()).sort(["repaired", "date"])["date"][-1]
    assert fixed.filter(pl.col("date") == day)["repaired"].sum() >= 2
    alone = fit_repaired_slices(pts.filter(pl.col("date") == day))
    inside = fixed.filter(pl.col("date") == day)
    for p in PARAMS:  # the same bits: a backfill and an end-of-day run write the same bytes
        np.testing.assert_array_equal(alone[p].to_numpy(), inside[p].to_numpy())


def test_fallback_shrinks_towards_flat_just_enough_and_keeps_the_atm_variance():
    """The guarantee behind the repair: the least shrink of Vogt's smile towards flat that passes."""
    from dvol_pipeline.quant.pricing.surface.repair import SHRINK_GRID, _fallback

    T = np.array([VOGT_DAYS / 365.0])
    p = tuple(np.array([x]) for x in VOGT)
    out = _fallback(T, p, None, None, None)
    assert butterfly_min_g(T, out)[0] >= 0.0
    assert np.isclose(svi_total_variance(0.0, *out)[0], svi_total_variance(0.0, *VOGT), rtol=1e-12)
    t = 1.0 - out[1][0] / VOGT[1]
    assert 0.0 < t < 1.0
    step_back = SHRINK_GRID[np.searchsorted(SHRINK_GRID, t - 1e-12) - 1]
    w0 = svi_total_variance(0.0, *VOGT)
    less = (np.array([VOGT[0] * (1 - step_back) + step_back * w0]), np.array([VOGT[1] * (1 - step_back)]), *p[2:])
    assert butterfly_min_g(T, less)[0] < 0.0
