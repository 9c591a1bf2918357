"""quant.options on simulated Deribit chains: chain_greeks rows and units, open-interest
exposures and their sums, put-call parity forwards, and the polars column helpers."""

from __future__ import annotations

from datetime import date, datetime, timezone

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dvol_pipeline.quant.pricing.options import (
    chain_greeks,
    exposures_by_expiry,
    greeks,
    implied_forward,
    parity_violations,
    with_greeks,
)
from dvol_pipeline.sources.simulated import SimConfig, SimulatedMarket

EXPECTED_COLUMNS = [
    "ts", "date", "asset", "instrument_name", "expiry", "strike", "option_type", "T", "forward",
    "mark_iv", "iv_solved", "price_usd", "delta", "gamma", "vega", "theta", "rho", "vanna", "volga",
    "charm", "open_interest", "oi_delta_coin", "oi_gamma_usd", "oi_vega_usd", "oi_theta_usd",
]  # fmt: skip


@pytest.fixture(scope="module")
def chain() -> pl.DataFrame:
    market = SimulatedMarket(SimConfig(), end=date(2021, 4, 10))
    return market.table("raw_option_chain", date(2021, 4, 1), date(2021, 4, 3))


@pytest.fixture(scope="module")
def chain_with_expired(chain: pl.DataFrame) -> pl.DataFrame:
    """Two rows whose expiry is at or before the snapshot (as a late snapshot would give)."""
    stale = chain.head(2).with_columns(expiry=pl.col("ts"), instrument_name=pl.lit("BTC-EXPIRED-1-C"))
    return pl.concat([chain, stale.with_columns(expiry=pl.col("ts") - pl.duration(hours=1))])


def test_one_row_per_live_option_with_the_documented_columns(chain, chain_with_expired):
    out, dropped = chain_greeks(chain_with_expired, return_dropped=True)
    assert dropped == 2
    assert out.height == chain.height
    assert out.columns == EXPECTED_COLUMNS
    assert out["ts"].to_list() == chain["ts"].to_list()  # input order kept
    assert (out["T"] > 0).all()
    assert out.select(pl.all().null_count()).sum_horizontal().item() == 0


def test_units_of_time_forward_iv_and_price(chain):
    out = chain_greeks(chain)
    seconds = (chain["expiry"] - chain["ts"]).dt.total_seconds().to_numpy()
    np.testing.assert_allclose(out["T"].to_numpy(), seconds / (365 * 86400), rtol=1e-12)
    assert (out["date"] == chain["ts"].dt.date()).all()
    np.testing.assert_array_equal(out["forward"].to_numpy(), chain["underlying_price"].to_numpy())
    np.testing.assert_allclose(out["price_usd"], chain["mark_price"] * chain["underlying_price"], rtol=1e-15)
    # the simulator marks at exactly mark_iv: solving the USD mark gives it back (percent)
    np.testing.assert_allclose(out["iv_solved"].to_numpy(), out["mark_iv"].to_numpy(), rtol=0, atol=1e-6)
    assert out["mark_iv"].min() > 5.0  # percent, not decimals


def test_greeks_are_those_of_each_options_own_mark_iv(chain):
    out = chain_greeks(chain)
    g = greeks(
        out["forward"].to_numpy(),
        out["strike"].to_numpy(),
        out["T"].to_numpy(),
        out["mark_iv"].to_numpy() / 100,
        (out["option_type"] == "C").to_numpy(),
    )
    for name in ("delta", "gamma", "vega", "theta", "rho", "vanna", "volga", "charm"):  # last-bit freedom:
        np.testing.assert_allclose(out[name].to_numpy(), getattr(g, name), rtol=1e-12, atol=1e-300)  # x0.01 vs /100
    # the Black value at the mark IV is the USD mark
    np.testing.assert_allclose(g.price, out["price_usd"].to_numpy(), rtol=1e-9, atol=1e-9 * out["forward"].max())
    # units: vega is USD per vol point (a +-0.1 point bump moves the price by +-vega / 10)
    calls = (out["option_type"] == "C").to_numpy()
    sigma = out["mark_iv"].to_numpy() / 100
    up, down = (greeks(out["forward"], out["strike"], out["T"], sigma + d, calls).price for d in (0.001, -0.001))
    np.testing.assert_allclose((up - down) / 0.2, out["vega"].to_numpy(), rtol=1e-3, atol=1e-9)


def test_open_interest_exposures_per_option(chain):
    out = chain_greeks(chain)
    oi, fwd = out["open_interest"].to_numpy(), out["forward"].to_numpy()
    np.testing.assert_allclose(out["oi_delta_coin"], out["delta"].to_numpy() * oi)
    np.testing.assert_allclose(out["oi_gamma_usd"], 0.5 * out["gamma"].to_numpy() * (0.01 * fwd) ** 2 * oi)
    np.testing.assert_allclose(out["oi_vega_usd"], out["vega"].to_numpy() * oi)
    np.testing.assert_allclose(out["oi_theta_usd"], out["theta"].to_numpy() * oi)
    assert (out["oi_gamma_usd"] >= 0).all() and (out["oi_theta_usd"] <= 0).all()


def test_exposures_by_expiry_sum_the_options(chain):
    g = chain_greeks(chain)
    by_expiry = exposures_by_expiry(g)
    assert by_expiry.columns == [
        "ts", "date", "asset", "expiry", "days_to_expiry", "n_options", "open_interest",
        "net_delta_coin", "net_gamma_usd", "net_vega_usd", "net_theta_usd", "call_oi", "put_oi",
    ]  # fmt: skip
    assert by_expiry.height == g.select("ts", "asset", "expiry").n_unique()
    assert by_expiry["n_options"].sum() == g.height
    np.testing.assert_allclose(by_expiry["call_oi"] + by_expiry["put_oi"], by_expiry["open_interest"])
    for net, per_option in [
        ("open_interest", "open_interest"),
        ("net_delta_coin", "oi_delta_coin"),
        ("net_gamma_usd", "oi_gamma_usd"),
        ("net_vega_usd", "oi_vega_usd"),
        ("net_theta_usd", "oi_theta_usd"),
    ]:
        assert by_expiry[net].sum() == pytest.approx(g[per_option].sum(), rel=1e-12)
    one = by_expiry.row(0, named=True)
    rows = g.filter((pl.col("ts") == one["ts"]) & (pl.col("asset") == one["asset"]) & (pl.col("expiry") == one["expiry"]))
    assert one["n_options"] == rows.height
    assert one["net_vega_usd"] == pytest.approx(rows["oi_vega_usd"].sum(), rel=1e-12)
    assert one["days_to_expiry"] == pytest.approx(rows["T"][0] * 365)


def test_results_are_deterministic(chain):
    first = chain_greeks(chain)
    assert_frame_equal(first, chain_greeks(chain), check_exact=True)
    by_expiry = exposures_by_expiry(first)
    assert_frame_equal(by_expiry, exposures_by_expiry(chain_greeks(chain)), check_exact=True)
    # row order only changes the order of the float sums
    assert_frame_equal(by_expiry, exposures_by_expiry(chain_greeks(chain.reverse())), rel_tol=1e-12)


def test_implied_forward_matches_the_quoted_forward(chain):
    marks = implied_forward(chain, price="mark")
    assert marks.height == chain.select("ts", "asset", "expiry").n_unique()
    assert marks["rel_diff"].abs().max() < 1e-12  # marks are Black prices on underlying_price
    assert (marks["n_pairs"] == 4).all() and (marks["n_pairs_total"] >= 4).all()
    # bid/ask mids sit off the fair value by part of a half-spread (sources/simulated/quotes.py):
    # the forward implied from them is off by up to a few tenths of a percent, never by more
    mids = implied_forward(chain)
    assert 1e-5 < mids["rel_diff"].abs().max() < 5e-3
    np.testing.assert_allclose(mids["quoted_forward"], marks["quoted_forward"])


def test_mid_prices_fall_back_to_the_mark_where_a_side_is_missing(chain):
    one_sided = chain.with_columns(bid=pl.lit(None, dtype=pl.Float64))  # no bids anywhere
    np.testing.assert_allclose(
        implied_forward(one_sided)["forward"], implied_forward(chain, price="mark")["forward"], rtol=1e-15
    )


def test_parity_violations_find_a_bad_mark(chain):
    assert parity_violations(chain, tol=1e-3, price="mark").height == 0
    row = chain.filter(pl.col("option_type") == "C").row(100, named=True)
    bumped = chain.with_columns(
        mark_price=pl.when(pl.col("instrument_name") == row["instrument_name"])
        .then(pl.col("mark_price") + 0.01)  # 1 % of the forward, in coin
        .otherwise(pl.col("mark_price"))
    )
    bad = parity_violations(bumped, tol=1e-3, price="mark")
    assert bad.select("ts", "asset", "expiry", "strike").n_unique() == chain.filter(
        pl.col("instrument_name") == row["instrument_name"]
    ).height
    assert bad["strike"][0] == row["strike"]
    assert bad["rel_gap"][0] == pytest.approx(0.01, rel=1e-9)


def test_with_greeks_takes_names_or_expressions(chain):
    small = chain.head(50).with_columns(
        T=(pl.col("expiry") - pl.col("ts")).dt.total_seconds() / (365 * 86400.0)
    )
    out = with_greeks(small, sigma=pl.col("mark_iv") / 100, is_call="option_type", prefix="g_")
    direct = greeks(
        small["underlying_price"].to_numpy(),
        small["strike"].to_numpy(),
        small["T"].to_numpy(),
        small["mark_iv"].to_numpy() / 100,
        (small["option_type"] == "C").to_numpy(),
    )
    # polars may divide by multiplying with the reciprocal: equal up to the last bits
    np.testing.assert_allclose(out["g_gamma"].to_numpy(), direct.gamma, rtol=1e-13)
    np.testing.assert_allclose(out["g_charm"].to_numpy(), direct.charm, rtol=1e-13)
    with pytest.raises(ValueError, match="C/P"):
        with_greeks(small.with_columns(option_type=pl.lit("X")), sigma=pl.col("mark_iv") / 100, is_call="option_type")


def test_missing_columns_are_named(chain):
    with pytest.raises(ValueError, match="open_interest"):
        chain_greeks(chain.drop("open_interest"))
    snapshot = datetime(2021, 4, 1, 23, 59, 59, tzinfo=timezone.utc)
    renamed = chain.filter(pl.col("ts") == snapshot).rename({"ts": "snapshot"})
    assert chain_greeks(renamed, snapshot_col="snapshot").columns[0] == "snapshot"
