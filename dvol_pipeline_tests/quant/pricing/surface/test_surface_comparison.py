"""SVI vs SABR in and out of sample (`surface_model_comparison`): what each test prices, and known answers."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl

from dvol_pipeline.lake.parquet import read_table, write_partitions
from dvol_pipeline.quant.pricing.options import VOL_POINT, price, vega
from dvol_pipeline.quant.pricing.surface import build_surfaces, compare_models, comparison_summary, filter_quotes
from dvol_pipeline.quant.pricing.surface.comparison import HOLDOUT_MIN_POINTS, MODELS, TESTS, evaluation_days

DAY0 = date(2024, 3, 4)  # day 19786 since 1970: a multiple of 7 is DAY0 + 3 (2024-03-07)


def smile(k):
    """A sticky-moneyness smile: the vol depends on k = ln(K/F) only (skewed, convex)."""
    return 0.6 - 0.15 * k + 0.35 * k * k


def chain(days: int, noise_vol: float = 0.0, fwd_moves=None, seed: int = 0, n_strikes: int = 31) -> pl.DataFrame:
    """Calls and puts on `n_strikes` strikes, three expiries, `days` consecutive days; marks off
    `smile` plus seeded noise, quotes one vol point wide around the mark."""
    rng = np.random.default_rng(seed)
    frames = []
    for d in range(days):
        ts = datetime(DAY0.year, DAY0.month, DAY0.day, 8, tzinfo=timezone.utc) + timedelta(days=d)
        fwd = 50_000.0 * (1.0 if fwd_moves is None else fwd_moves[d])
        for expiry_day in (20, 40, 75):
            expiry = datetime(DAY0.year, DAY0.month, DAY0.day, 8, tzinfo=timezone.utc) + timedelta(days=expiry_day)
            T = (expiry - ts).total_seconds() / (365 * 86400)
            K = np.repeat(fwd * np.exp(np.linspace(-1.8, 1.8, n_strikes) * 0.6 * np.sqrt(T)), 2)
            is_call = np.tile([True, False], n_strikes)
            iv = smile(np.log(K / fwd)) + rng.normal(0.0, noise_vol, K.size)
            mark = price(fwd, K, T, iv, is_call) / fwd
            half = vega(fwd, K, T, iv) * (0.005 / VOL_POINT) / fwd
            n = K.size
            frames.append(pl.DataFrame({
                "ts": [ts] * n, "asset": ["BTC"] * n, "expiry": [expiry] * n, "strike": K,
                "option_type": np.where(is_call, "C", "P"), "bid": mark - half, "ask": mark + half, "mark_price": mark,
                "mark_iv": 100 * iv, "underlying_price": np.full(n, fwd), "open_interest": np.full(n, 100.0),
                "volume": np.full(n, 5.0),
            }))
    return pl.concat(frames).with_columns(pl.col("ts", "expiry").cast(pl.Datetime("us", "UTC")))


def test_every_model_and_test_is_there_and_prices_the_quotes_it_should():
    out = build_surfaces(chain(3, noise_vol=0.003, seed=1), compare_every=1).comparison
    assert set(out["model"]) == set(MODELS) and set(out["test"]) == set(TESTS)
    # the first day has no D - 1 in the chain: no next-day rows for it
    assert out.filter(pl.col("test") == "next_day")["date"].min() == DAY0 + timedelta(days=1)
    ins = out.filter(pl.col("test") == "in_sample")
    held = out.filter(pl.col("test") == "strike_holdout")
    assert (ins["n_quotes"] >= HOLDOUT_MIN_POINTS).all()
    # held out: every other OTM strike, the odd positions; fitted on the even ones
    joined = held.join(ins, on=["date", "asset", "expiry", "model"], suffix="_all")
    assert (joined["n_quotes"] == joined["n_quotes_all"] // 2).all()
    assert (joined["n_fit"] == joined["n_quotes_all"] - joined["n_quotes_all"] // 2).all()
    for col in ("iv_rmse_vol", "price_mae_spreads"):
        assert (out[col] >= 0).all()
    assert out["inside_spread_share"].is_between(0.0, 1.0).all()


def test_a_smile_that_does_not_move_in_moneyness_is_priced_next_day_even_when_the_forward_jumps():
    """Sticky moneyness: D - 1's smile at k = ln(K / F_D) is D's smile, whatever F_D is."""
    moves = [1.0, 1.05, 0.97]
    out = build_surfaces(chain(3, fwd_moves=moves), compare_every=1).comparison
    nxt = out.filter(pl.col("test") == "next_day")
    svi = nxt.filter(pl.col("model") == "svi")
    assert svi.height == 2 * 3  # two days x three expiries
    # vol points: SVI's own error on this (non-SVI) smile, extrapolated 5 % further out; pricing at
    # D - 1's strikes-to-vol map (sticky strike) would be off by ~0.15 * 0.05 * 100 = 0.75
    assert svi["iv_rmse_vol"].max() < 0.1
    assert (svi["inside_spread_share"] == 1.0).all()
    # the SABR smile fits this quadratic smile less well, in and out of sample
    med = comparison_summary(out).filter(pl.col("test") == "in_sample")
    svi_err = med.filter(pl.col("model") == "svi")["iv_rmse_vol_median"][0]
    sabr_err = med.filter(pl.col("model") == "sabr")["iv_rmse_vol_median"][0]
    assert svi_err < sabr_err


def test_noisy_quotes_cost_more_out_of_sample_than_in_sample():
    out = build_surfaces(chain(2, noise_vol=0.01, seed=2, n_strikes=41), compare_every=1).comparison
    summ = comparison_summary(out)

    def err(model, test):
        return summ.filter((pl.col("model") == model) & (pl.col("test") == test))["iv_rmse_vol_mean"][0]

    for model in MODELS:
        assert err(model, "strike_holdout") > err(model, "in_sample")
    # five parameters average the noise (1 vol point) down in sample; out of sample the noise is all there
    assert err("svi", "in_sample") < 1.0 < err("svi", "strike_holdout")


def test_days_are_subsampled_by_calendar_day_and_the_table_meets_its_contract(tmp_path):
    """Every 7th day since 1970: a backfill and a one-day run evaluate the same days."""
    days = pl.Series([DAY0 + timedelta(days=i) for i in range(10)])
    assert evaluation_days(days, 7).to_list() == [date(2024, 3, 7)]
    full = build_surfaces(chain(5, noise_vol=0.003, seed=3), compare_every=7).comparison
    assert set(full["date"]) == {date(2024, 3, 7)}
    one_day = chain(5, noise_vol=0.003, seed=3)
    day = one_day.filter(pl.col("ts").dt.date() == date(2024, 3, 7))
    prior = one_day.filter(pl.col("ts").dt.date() == date(2024, 3, 6))
    alone = build_surfaces(day, compare_every=7, prior_chain=prior).comparison
    cols = ["iv_rmse_vol", "price_mae_spreads", "inside_spread_share"]
    np.testing.assert_array_equal(alone.select(cols).to_numpy(), full.select(cols).to_numpy())
    # the build reuses its own SVI fits; refitting them gives the same table
    refit = compare_models(filter_quotes(one_day)[0], 7)
    np.testing.assert_allclose(refit.select(cols).to_numpy(), full.select(cols).to_numpy(), rtol=1e-12, atol=1e-14)
    write_partitions(tmp_path, "surface_model_comparison", full)
    back = read_table(tmp_path, "surface_model_comparison")
    assert back.height == full.height
