"""Funding and basis mean reversion; a funding payment worked out by hand."""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl
import pytest

from dvol_pipeline.quant.micro.strategies import FundingBasisConfig
from dvol_pipeline.quant.micro.strategies.funding_basis import run_strategy

from .strat_frames import frame, ts

START = datetime(2024, 1, 1, 7, 55, tzinfo=timezone.utc)  # bars close 07:55 .. 08:05


def _perp(z: list[float], prices: list[float] | None = None) -> pl.DataFrame:
    n = len(z)
    # minutes to the 08:00 funding, then to 16:00 once it has passed (as the features roll it)
    ttf = [float(5 - i) if i < 5 else float(480 - (i - 5)) for i in range(n)]
    return frame(prices or [100.0] * n, venue="binance_usdm", start=START, funding_z=z, funding_bps=1.0,
                 time_to_funding_min=ttf)


def test_funding_payment_received_by_the_short():
    # funding_z 3 at 07:57 (bar 2) -> short, filled at 07:58 at 100. 08:02 (bar 7) |z| 0.1 < 0.5 ->
    # exit filled at 08:03 at 99.5. The 08:00 funding (rate 1 bp, the rate as of 07:59) falls while
    # the short is open (07:58 <= 08:00 < 08:03): it receives 1 bp x 100 / 100 = +1 bp, booked on the
    # bar 08:00-08:01. gross = -(99.5/100 - 1) 1e4 = 50; cost 12; net = 50 + 1 - 12 = 39.
    z = [0, 0, 3, 2, 2, 2, 2, 0.1, 0, 0, 0]
    prices = [100.0] * 8 + [99.5] * 3
    run = run_strategy(_perp(z, prices))
    row = run.trades.row(0, named=True)
    assert (row["side"], row["entry_ts"], row["exit_ts"]) == (-1, ts(3, START), ts(8, START))
    assert row["gross_bps"] == pytest.approx(50.0)
    assert row["funding_bps"] == pytest.approx(1.0)
    assert row["net_bps"] == pytest.approx(39.0)
    paid = run.bar_pnl.filter(pl.col("funding_bps") != 0)
    assert paid["ts"].to_list() == [ts(6, START)] and paid["funding_bps"][0] == pytest.approx(1.0)


def test_long_pays_and_spot_pays_nothing():
    # funding_z -3 -> long; it pays 1 bp at 08:00. A spot venue is not traded at all.
    z = [0, 0, -3, -2, -2, -2, -2, 0.1, 0, 0, 0]
    assert run_strategy(_perp(z)).trades["funding_bps"][0] == pytest.approx(-1.0)
    spot = _perp(z).with_columns(venue=pl.lit("binance_spot"))
    assert run_strategy(spot).trades.height == 0


def test_exit_before_funding_pays_nothing():
    # normalised at 07:58 -> exit 07:59, before the funding
    z = [0, 0, 3, 0.1, 0, 0, 0, 0, 0, 0, 0]
    row = run_strategy(_perp(z)).trades.row(0, named=True)
    assert row["exit_ts"] == ts(4, START) and row["funding_bps"] == 0.0


def test_pre_funding_window():
    # with a 1-minute window the 07:57 signal (3 min to funding) is blocked; the 07:59 one (1 min) enters
    # at 08:00, still in the book at the funding instant (entry_ts <= 08:00)
    z = [0, 0, 3, 2.5, 2.5, 2, 2, 0.1, 0, 0, 0]
    row = run_strategy(_perp(z), FundingBasisConfig(pre_funding_minutes=1.0)).trades.row(0, named=True)
    assert row["signal_ts"] == ts(4, START) and row["entry_ts"] == ts(5, START)
    assert row["funding_bps"] == pytest.approx(1.0)


def test_basis_trade_two_legs():
    # basis 15 bps at bar 2 > 10 -> short the basis at bar 3 (ratio 1.0015); |1| < 2 at bar 5 -> exit at
    # bar 6 (ratio 1.0001): gross = -(1.0001/1.0015 - 1) 1e4 = 13.979 bps; two legs of 12 bps -> cost 24.
    basis = [0.0, 0.0, 15.0, 15.0, 12.0, 1.0, 1.0]
    f = frame([100.0] * 7, venue="binance_usdm", basis_bps=basis)
    row = run_strategy(f, FundingBasisConfig(signal="basis")).trades.row(0, named=True)
    assert (row["entry_ts"], row["exit_ts"], row["legs"]) == (ts(3), ts(6), 2)
    assert row["gross_bps"] == pytest.approx(-(1.0001 / 1.0015 - 1) * 1e4)
    assert row["cost_bps"] == pytest.approx(24.0)
