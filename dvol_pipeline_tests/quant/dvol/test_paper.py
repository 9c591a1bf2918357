"""The paper book: fills at the next snapshot's bid/ask, cash and positions that reconcile to
the fills, rolls, listing, and the two kill switches."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.dvol.backtest import BacktestConfig, ListedFutures
from dvol_pipeline.quant.dvol.backtest.listing import TERM_COLUMNS
from dvol_pipeline.quant.dvol.paper import (
    CoinBook,
    DayResult,
    PaperConfig,
    catch_up_start,
    first_eod_day,
    frames,
    missed_days,
    reconcile,
    step_day,
)

START = date(2024, 3, 20)  # the March 2024 contract expires Friday 2024-03-29
CFG = PaperConfig()
EDGE = CFG.backtest.costs.half_spread_vol + CFG.backtest.costs.slippage_vol


def market(days: int = 30, drift: float = 0.0, skip: tuple[date, ...] = ()) -> pl.DataFrame:
    rng = np.random.default_rng(2)
    rows = []
    for a, lvl in (("BTC", 55.0), ("ETH", 65.0)):
        dvol = lvl + np.cumsum(rng.normal(drift, 1.5, days))
        for i in range(days):
            d = START + timedelta(days=i)
            if d in skip:
                continue
            rows.append({"date": d, "asset": a, "dvol": float(dvol[i]),
                         **{c: float(dvol[i]) + 3 * k for k, c in enumerate(TERM_COLUMNS)}})
    return pl.DataFrame(rows)


def run(m: pl.DataFrame, signals: dict[date, dict[str, int]], days: int, config: PaperConfig = CFG,
        books: dict[str, CoinBook] | None = None):
    books = books or {"BTC": CoinBook(), "ETH": CoinBook()}
    out = DayResult([], [], [], [])
    for i in range(days):
        day = START + timedelta(days=i)
        r = step_day(books, day, signals.get(day, {}), m, config)
        out.fills += r.fills
        out.positions += r.positions
        out.pnl += r.pnl
        out.events += r.events
    return (*frames(out), out.events)


def test_a_signal_fills_at_the_next_snapshot_at_bid_or_ask_and_the_book_reconciles():
    m = market()
    sig = {START + timedelta(days=i): {"BTC": 1 if i < 5 else -1, "ETH": -1} for i in range(12)}
    fills, pos, pnl, events = run(m, sig, 12)
    assert not events
    first = fills.filter((pl.col("asset") == "BTC")).sort("date").row(0, named=True)
    assert first["date"] == START + timedelta(days=1)  # decided at START's close, filled at the next snapshot
    assert first["qty"] == 1.0 and first["price"] == pytest.approx(first["mark"] + EDGE)
    sells = fills.filter(pl.col("qty") < 0)
    np.testing.assert_allclose(sells["price"], sells["mark"] - EDGE)
    flip = fills.filter((pl.col("asset") == "BTC") & (pl.col("date") == START + timedelta(days=6)))
    assert flip["qty"].to_list() == [-2.0]
    check = reconcile(fills, pos, CFG)
    assert check["ok"].all()
    # daily P&L adds up to equity, and equity to cash + position x mark
    for a in ("BTC", "ETH"):
        p = pnl.filter(pl.col("asset") == a)
        assert p["pnl_usd"].sum() == pytest.approx(p["equity_usd"][-1])


def test_the_position_rolls_at_the_close_before_expiry():
    m = market()
    sig = {START + timedelta(days=i): {"BTC": 1} for i in range(15)}
    fills, pos, _, _ = run(m, sig, 15)
    rolls = fills.filter((pl.col("asset") == "BTC") & (pl.col("reason") == "roll")).sort("qty")
    assert rolls["date"].unique().to_list() == [date(2024, 3, 28)]
    assert rolls["qty"].to_list() == [-1.0, 1.0]
    assert rolls["contract_expiry"].to_list() == [date(2024, 3, 29), date(2024, 4, 26)]
    assert reconcile(fills, pos, CFG)["ok"].all()


def test_nothing_trades_before_listing():
    late = PaperConfig(backtest=BacktestConfig(contract=ListedFutures(listing={"BTC": "2024-03-25"})))
    sig = {START + timedelta(days=i): {"BTC": 1, "ETH": 1} for i in range(10)}
    fills, pos, _, _ = run(market(), sig, 10, late)
    assert fills.filter(pl.col("asset") == "BTC")["date"].min() == date(2024, 3, 25)
    assert fills.filter(pl.col("asset") == "ETH").is_empty()  # no ETH listing configured


def test_a_drawdown_beyond_a_fifth_of_capital_goes_flat_and_stops():
    small = PaperConfig(capital_usd=20_000.0)  # 20 % = USD 4,000 = 4 vol points on one unit
    m = market(drift=-1.5)  # DVOL falls: a long book loses
    sig = {START + timedelta(days=i): {"BTC": 1} for i in range(20)}
    fills, pos, _, events = run(m, sig, 20, small)
    btc = pos.filter(pl.col("asset") == "BTC")
    fired = btc.filter(pl.col("halted"))["date"].min()
    assert fired is not None and any("drawdown" in e and "BTC" in e for e in events)
    after = btc.filter(pl.col("date") > fired)
    assert after["position"].abs().max() == 0 and after["target_next"].abs().max() == 0
    kill = fills.filter((pl.col("asset") == "BTC") & (pl.col("reason") == "kill"))
    assert kill["date"].to_list() == [fired + timedelta(days=1)]
    assert reconcile(fills, pos, small)["ok"].all()


def test_a_data_gap_beyond_the_freshness_setting_goes_flat():
    gap = (date(2024, 3, 24), date(2024, 3, 25))
    m = market(skip=gap).filter(~((pl.col("asset") == "ETH") & pl.col("date").is_in(list(gap))) | (pl.col("asset") == "BTC"))
    m = m.filter(~((pl.col("asset") == "BTC") & pl.col("date").is_in(list(gap))))
    sig = {START + timedelta(days=i): {"BTC": 1} for i in range(10)}
    fills, pos, _, events = run(m, sig, 10)
    assert any("BTC 2024-03-25" in e and "2 days old" in e for e in events)
    btc = pos.filter(pl.col("asset") == "BTC").sort("date")
    assert btc.filter(pl.col("date") == date(2024, 3, 25))["target_next"].item() == 0.0
    # data returns on the 26th: the flat order fills there, and the next signal trades again
    back = fills.filter((pl.col("asset") == "BTC") & (pl.col("date") == date(2024, 3, 26)))
    assert back["qty"].to_list() == [-1.0] and back["reason"].to_list() == ["kill"]
    assert btc.filter(pl.col("date") == date(2024, 3, 27))["position"].item() == 1.0
    assert reconcile(fills, pos, CFG)["ok"].all()


def test_the_check_of_a_later_range_counts_its_fills_from_the_day_before():
    m = market()
    sig = {START + timedelta(days=i): {"BTC": 1 if i < 5 else -1, "ETH": -1 if i % 3 else 1} for i in range(15)}
    fills, pos, _, _ = run(m, sig, 15)
    cut = START + timedelta(days=6)
    later = pl.col("date") > cut
    opening = pos.filter(pl.col("date") == cut)
    check = reconcile(fills.filter(later), pos.filter(later), CFG, opening)
    assert check.height == 16 and check["ok"].all()
    assert not reconcile(fills.filter(later), pos.filter(later), CFG)["ok"].all()  # flat start: cash is off
    tampered = opening.with_columns(pl.col("cash_usd") + 1.0)
    assert not reconcile(fills.filter(later), pos.filter(later), CFG, tampered)["ok"].any()


def test_missed_days_are_the_days_between_the_last_state_and_the_run():
    jan = [date(2025, 1, d) for d in range(1, 6)]
    assert missed_days(None, jan[3]) == []  # the book never ran: it starts flat
    assert missed_days(jan[2], jan[3]) == []  # yesterday's state is there
    assert missed_days(jan[3], jan[3]) == [] and missed_days(jan[4], jan[3]) == []  # a re-run of an old day
    assert missed_days(jan[1], jan[3]) == [jan[2]]
    assert missed_days(jan[0], jan[4]) == jan[1:4]
    assert catch_up_start(jan[1], jan[3]) == jan[2] and catch_up_start(jan[2], jan[3]) == jan[3]
    assert catch_up_start(None, jan[3]) == jan[3]


def test_a_new_book_starts_a_quarter_back_and_an_old_one_catches_up():
    """The demo and a fresh `run` start the end of day 90 days back (dates counted by hand:
    2024-10-03..2024-12-31 is 90 days), never before the first month with models; a book that
    ran before only catches up the days it missed."""
    end = date(2024, 12, 31)
    assert first_eod_day(None, end, 90) == date(2024, 10, 3)
    assert first_eod_day(None, end, 90, earliest=date(2024, 11, 1)) == date(2024, 11, 1)
    assert first_eod_day(None, end) == end  # `eod --date` on a lake without a book: that day only
    assert first_eod_day(date(2024, 12, 28), end, 90) == date(2024, 12, 29)
    assert first_eod_day(date(2024, 12, 30), end, 90) == end
