"""Surface build end to end: liquidity filter, constant-maturity features, checks, edge cases."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest
from scipy.stats import norm

from dvol_pipeline.quant.pricing.options import VOL_POINT, price, vega
from dvol_pipeline.quant.pricing.surface import (
    LiquidityRules,
    build_surfaces,
    filter_quotes,
    replica_check,
)
from dvol_pipeline.sources.simulated import SimConfig, SimulatedMarket

TS = datetime(2024, 3, 1, 23, 59, 59, tzinfo=timezone.utc)
DAY = TS.date()


def make_chain(vol, expiry_days, fwd=50_000.0, ts=TS, asset="BTC", n_strikes=41, width_sd=3.0) -> pl.DataFrame:
    """Calls and puts on every strike; marks from `vol(k, T)`, quotes half a vol point each side."""
    frames = []
    for days in expiry_days:
        T = days / 365.0
        s = vol(0.0, T) * np.sqrt(T)
        strikes = fwd * np.exp(np.linspace(-width_sd, width_sd, n_strikes) * s)
        K = np.repeat(strikes, 2)
        is_call = np.tile([True, False], n_strikes)
        iv = vol(np.log(K / fwd), T)
        mark = price(fwd, K, T, iv, is_call) / fwd
        half = vega(fwd, K, T, iv) * (0.005 / VOL_POINT) / fwd  # per-point vega x half a vol point
        n = K.size
        frames.append(
            pl.DataFrame(
                {
                    "ts": [ts] * n,
                    "asset": [asset] * n,
                    "expiry": [ts + timedelta(days=days)] * n,
                    "strike": K,
                    "option_type": np.where(is_call, "C", "P"),
                    "bid": mark - half,
                    "ask": mark + half,
                    "mark_price": mark,
                    "mark_iv": 100.0 * iv,
                    "underlying_price": np.full(n, fwd),
                    "open_interest": np.full(n, 100.0),
                    "volume": np.full(n, 10.0),
                }
            )
        )
    return pl.concat(frames).with_columns(pl.col("ts", "expiry").cast(pl.Datetime("us", "UTC")))


def flat(sigma):
    return lambda k, t: np.full(np.shape(k), sigma, dtype=float)


def skewed(atm, rho, eta=0.4):
    def vol(k, t):
        y = np.asarray(k) / (atm * np.sqrt(t))
        return atm * np.sqrt(1 + eta * (rho * y + np.sqrt(y * y + 1) - 1))

    return vol


def features_row(build):
    assert build.features.height == 1
    return build.features.row(0, named=True)


# ---- constant maturity --------------------------------------------------------------------
def test_flat_surface_gives_the_flat_vol_everywhere():
    build = build_surfaces(make_chain(flat(0.6), [3, 10, 25, 45, 80, 120]))
    f = features_row(build)
    for tenor in (7, 30, 60, 90):
        assert f[f"surf_atm_{tenor}d"] == pytest.approx(60.0, abs=1e-6)
    assert f["surf_rr25_30d"] == pytest.approx(0.0, abs=1e-6)
    assert f["surf_bf25_30d"] == pytest.approx(0.0, abs=1e-6)
    assert f["surf_term_slope"] == pytest.approx(0.0, abs=1e-6)
    assert f["surf_n_expiries"] == 6 and f["surf_fit_rmse"] < 1e-6
    grid = build.grid
    assert grid.height == 4 * 5 and grid["iv"].to_numpy() == pytest.approx(60.0, abs=1e-6)
    # hand-computed 25-delta call strike: N(d1) = 0.25 with d1 = (-k + w/2) / sqrt(w)
    w30 = 0.36 * 30 / 365
    k25c = grid.filter((pl.col("tenor_days") == 30) & (pl.col("delta_label") == "25C"))["k"][0]
    assert k25c == pytest.approx(w30 / 2 - norm.ppf(0.25) * np.sqrt(w30), abs=1e-9)
    k10p = grid.filter((pl.col("tenor_days") == 30) & (pl.col("delta_label") == "10P"))["k"][0]
    assert k10p == pytest.approx(w30 / 2 - norm.ppf(0.90) * np.sqrt(w30), abs=1e-9)


def test_atm_term_structure_interpolates_total_variance_and_holds_the_ends_flat():
    chain = pl.concat([make_chain(flat(0.5), [20]), make_chain(flat(0.7), [40])])
    f = features_row(build_surfaces(chain))
    # 30d sits halfway in T: w30 = (0.25 * 20 + 0.49 * 40) / 2 / 365
    assert f["surf_atm_30d"] == pytest.approx(100 * np.sqrt((0.25 * 20 + 0.49 * 40) / 2 / 30), abs=1e-6)
    assert f["surf_atm_7d"] == pytest.approx(50.0, abs=1e-6)
    assert f["surf_atm_60d"] == pytest.approx(70.0, abs=1e-6)
    assert f["surf_atm_90d"] == pytest.approx(70.0, abs=1e-6)
    assert f["surf_term_slope"] == pytest.approx(20.0, abs=1e-6)


@pytest.mark.parametrize("rho, sign", [(-0.6, -1.0), (0.5, 1.0)])
def test_skew_sets_the_sign_of_the_risk_reversal(rho, sign):
    f = features_row(build_surfaces(make_chain(skewed(0.6, rho), [14, 28, 35, 63])))
    assert sign * f["surf_rr25_30d"] > 1.0  # vol points
    assert f["surf_bf25_30d"] > 0.0  # a convex smile: the wings above ATM


# ---- liquidity filter ---------------------------------------------------------------------
def patch(chain: pl.DataFrame, row: int, **values) -> pl.DataFrame:
    idx = pl.int_range(pl.len()) == row
    return chain.with_columns(
        [pl.when(idx).then(pl.lit(v, dtype=chain.schema[c])).otherwise(pl.col(c)).alias(c) for c, v in values.items()]
    )


def test_each_rule_rejects_with_its_reason():
    chain = make_chain(flat(0.6), [30], n_strikes=21)  # rows: strike i -> call 2i, put 2i+1; forward at i=10
    chain = patch(chain, 1, mark_iv=None)  # an OTM put with no mark
    chain = patch(chain, 3, bid=None)
    chain = patch(chain, 5, volume=0.0, open_interest=3.0)  # untraded, nobody holds it: stale
    chain = patch(chain, 7, mark_price=0.5)  # mark far above the quote: stale
    chain = patch(chain, 9, ask=0.2)  # 100%+ spread
    chain = patch(chain, 11, open_interest=0.5)
    chain = pl.concat([chain, make_chain(flat(0.6), [0.5], n_strikes=5), make_chain(flat(0.6), [9], n_strikes=3)])
    kept, dropped = filter_quotes(chain)
    reason = {(r["expiry"], r["strike"], r["option_type"]): r["reason"] for r in dropped.iter_rows(named=True)}
    base = chain.head(42)
    key = lambda i: (base["expiry"][i], base["strike"][i], base["option_type"][i])  # noqa: E731
    assert reason[key(1)] == "missing_mark"
    assert reason[key(3)] == "no_two_sided_quote"
    assert reason[key(5)] == "stale_quote" and reason[key(7)] == "stale_quote"
    assert reason[key(9)] == "wide_spread"
    assert reason[key(11)] == "low_open_interest"
    assert reason[key(0)] == "in_the_money"  # the lowest strike's call
    assert set(dropped.filter(pl.col("expiry") == TS + timedelta(days=0.5))["reason"]) == {"expiry_too_close"}
    thin = dropped.filter(pl.col("expiry") == TS + timedelta(days=9))
    assert set(thin["reason"]) == {"in_the_money", "thin_expiry"}  # 3 OTM quotes < 6 needed
    # kept: out of the money only, all from the 30-day expiry
    otm = np.where(kept["option_type"] == "C", kept["strike"] >= kept["underlying_price"],
                   kept["strike"] < kept["underlying_price"])
    assert otm.all() and kept["expiry"].unique().to_list() == [TS + timedelta(days=30)]
    assert kept.height + dropped.height == chain.height


def test_everything_filtered_gives_empty_outputs_and_a_reason():
    chain = make_chain(flat(0.6), [10, 30]).with_columns(bid=pl.lit(None, pl.Float64))
    build = build_surfaces(chain)
    for frame in (build.params, build.grid, build.features, build.butterfly, build.calendar, build.atm_pricing_error):
        assert frame.height == 0
    assert "no_two_sided_quote" in build.empty_reason
    assert set(build.drop_counts["reason"]) == {"in_the_money", "no_two_sided_quote"}
    assert build.drop_counts["n"].sum() == chain.height
    empty = build_surfaces(chain.head(0))
    assert empty.empty_reason == "the chain is empty" and empty.features.height == 0


def test_strict_rules_can_reject_a_whole_expiry_as_thin():
    build = build_surfaces(make_chain(flat(0.6), [30]), rules=LiquidityRules(min_points_per_expiry=100))
    assert build.params.height == 0 and "thin_expiry" in build.empty_reason


# ---- ATM repricing and replica ------------------------------------------------------------
def test_atm_repricing_uses_the_strike_nearest_the_forward():
    chain = make_chain(flat(0.6), [1.5, 10, 30], fwd=50_100.0, n_strikes=21)
    err = build_surfaces(chain).atm_pricing_error
    # the 1.5-day expiry is fitted but too short to reprice
    assert err["expiry"].unique().sort().to_list() == [TS + timedelta(days=10), TS + timedelta(days=30)]
    assert err.height == 4 and sorted(err["option_type"].to_list()) == ["C", "C", "P", "P"]
    assert np.allclose(err["strike"].to_numpy(), 50_100.0)  # the middle strike of each grid
    assert err["rel_err"].abs().max() < 1e-9  # mid == mark, and the fit is exact


def test_replica_check_flags_the_worst_days():
    replica = pl.DataFrame(
        {"date": [date(2024, 1, d) for d in (1, 2, 3, 4)], "asset": ["BTC"] * 4,
         "replica": [50.0, 51.0, 52.0, 53.0], "published": [50.1, 49.5, 52.0, None]}
    ).with_columns(diff=pl.col("replica") - pl.col("published"))
    passed, worst = replica_check(replica, tolerance_vol=0.5)
    assert not passed and worst["date"].to_list() == [date(2024, 1, 2), date(2024, 1, 1), date(2024, 1, 3)]
    assert replica_check(replica, tolerance_vol=2.0)[0]


# ---- the simulated market -----------------------------------------------------------------
START, END = date(2021, 6, 1), date(2021, 6, 10)


@pytest.fixture(scope="module")
def sim():
    market = SimulatedMarket(SimConfig(), end=date(2021, 6, 30))
    chain = market.table("raw_option_chain", START, END)
    dvol = market.table("raw_dvol", START, END)
    return market, chain, dvol, build_surfaces(chain, dvol)


def test_simulated_chain_builds_every_day_with_clean_checks(sim):
    """The simulated dump is realistic, not a model printout: the fit is good, not exact."""
    market, chain, dvol, build = sim
    assert build.features.height == 20 and build.empty_reason is None
    assert build.features.select("date", "asset").unique().height == 20
    # the venue's marks wobble off any SVI smile (sources/simulated/quotes.py): a residual of
    # a few hundredths to a few tenths of a vol point, never the round-off of a perfect fit
    rmse = build.params["rmse_vol"]
    assert rmse.min() > 0.01 and 0.03 < rmse.median() < 0.3 and rmse.max() < 1.0
    assert build.params["n_points"].min() >= 6
    summary = build.pricing_error_summary()
    assert summary["n"] > 100 and summary["median_abs_rel_err"] < 0.05 and summary["p95_abs_rel_err"] < 0.05
    assert summary["median_abs_rel_err"] > 1e-4  # mids are not the marks
    assert build.butterfly.height == 0 and build.calendar.height == 0
    # stale resting quotes are caught by the liquidity filter
    assert dict(build.drop_counts.iter_rows()).get("stale_quote", 0) > 0
    passed, worst = replica_check(build.replica)
    assert passed and build.replica["published"].null_count() == 0
    diff = build.replica["diff"].abs()
    assert diff.max() < 1.5 and diff.mean() > 0.02  # the dump's replica is close to, not equal to, the index
    # oracle: the simulator's own 30-day ATM vol (interpolation between expiries costs a little)
    levels = market.model_levels(START, END).join(build.features, on=["date", "asset"])
    assert (levels["surf_atm_30d"] - levels["atm30"]).abs().max() < 1.0
    assert build.features["surf_replica_gap"].min() > 0  # a skewed smile's variance swap exceeds ATM


def test_build_is_deterministic_and_a_day_does_not_depend_on_the_range(sim):
    _, chain, dvol, build = sim
    again = build_surfaces(chain, dvol)
    for name in ("params", "grid", "features", "butterfly", "calendar", "dropped", "replica", "atm_pricing_error"):
        assert getattr(build, name).equals(getattr(again, name)), name
    one_day = chain.filter((pl.col("ts").dt.date() == date(2021, 6, 4)) & (pl.col("asset") == "ETH"))
    alone = build_surfaces(one_day, dvol)
    inside = build.features.filter((pl.col("date") == date(2021, 6, 4)) & (pl.col("asset") == "ETH"))
    # bit for bit: an end-of-day run of one day writes what a backfill of the range wrote
    assert alone.features.equals(inside)
    assert alone.params.equals(build.params.filter((pl.col("date") == date(2021, 6, 4)) & (pl.col("asset") == "ETH")))


def test_a_noisy_day_fits_the_same_alone_as_inside_a_range(sim):
    """With noisy marks the fit iterates for real: still no dependence on the batch."""
    _, chain, dvol, _ = sim
    noise = np.random.default_rng(7).normal(0.0, 0.5, chain.height)
    noisy = chain.with_columns(mark_iv=pl.col("mark_iv") + pl.Series(noise))
    full = build_surfaces(noisy, dvol)
    assert full.params["rmse_vol"].median() > 0.1  # the noise is really there
    for day in (START, date(2021, 6, 7), END):
        alone = build_surfaces(noisy.filter(pl.col("ts").dt.date() == day), dvol)
        assert alone.features.equals(full.features.filter(pl.col("date") == day))
