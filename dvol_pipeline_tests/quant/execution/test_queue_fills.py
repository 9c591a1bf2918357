"""Hand-worked queue scenarios for the passive fill model (every expected value below is worked by hand)."""

from __future__ import annotations

import polars as pl
import pytest

from dvol_pipeline.quant.execution.queue_fills import realised_vs_assumed, simulate_passive_fills

T0 = 1_735_603_200 * 10**9  # 2024-12-31 00:00 UTC
S = 10**9
TS = pl.Datetime("ns", "UTC")


def book(rows):
    """rows: (seconds, bid, bid_size, ask, ask_size)."""
    return pl.DataFrame({"ts_local": [T0 + int(r[0] * S) for r in rows], "bid_price": [float(r[1]) for r in rows],
                         "bid_size": [float(r[2]) for r in rows], "ask_price": [float(r[3]) for r in rows],
                         "ask_size": [float(r[4]) for r in rows]}).with_columns(pl.col("ts_local").cast(TS))


def trades(rows):
    """rows: (seconds, price, size, aggressor side)."""
    return pl.DataFrame({"ts_local": [T0 + int(r[0] * S) for r in rows], "price": [float(r[1]) for r in rows],
                         "size": [float(r[2]) for r in rows], "side": [r[3] for r in rows]},
                        schema={"ts_local": pl.Int64, "price": pl.Float64, "size": pl.Float64, "side": pl.Utf8}
                        ).with_columns(pl.col("ts_local").cast(TS))


def orders(rows):
    """rows: (seconds, side, price, qty)."""
    return pl.DataFrame({"ts": [T0 + int(r[0] * S) for r in rows], "side": [r[1] for r in rows],
                         "price": [float(r[2]) for r in rows], "qty": [float(r[3]) for r in rows]}
                        ).with_columns(pl.col("ts").cast(TS))


def run(o, b, t, model="risk_averse", latency=S // 10, **kw):
    return simulate_passive_fills(o, b, t, latency, model, tick=0.1, lot=0.01, **kw).row(0, named=True)


BOOK = book([(0, 100.0, 5, 100.1, 4)])


@pytest.mark.parametrize("model", ["risk_averse", "prob"])
def test_behind_five_trades_three_then_four_fills_two_at_the_second(model):
    # joins behind 5; sell trades of 3 (ahead 5 -> 2) then 4 (ahead 2 -> -2): fills min(2, 4, 3) = 2 at t=2
    f = run(orders([(0.5, 1, 100.0, 3)]), BOOK, trades([(1, 100.0, 3, "sell"), (2, 100.0, 4, "sell")]), model)
    assert f["queue_ahead"] == 5.0
    assert f["filled_qty"] == pytest.approx(2.0)
    assert f["first_fill_ts"].timestamp() == pytest.approx((T0 + 2 * S) / S)
    assert f["status"] == "partial" and f["fill_ts"] is None and f["reason"] == "queue"


def test_a_further_trade_at_the_front_fills_the_rest():
    # after the 4-trade 1 of 3 is left and the queue ahead restarts at 0 (hftbacktest 2.4); a sell trade of 5:
    # ahead -5, fills min(5, 5, 1) = 1
    t = trades([(1, 100.0, 3, "sell"), (2, 100.0, 4, "sell"), (3, 100.0, 5, "sell")])
    f = run(orders([(0.5, 1, 100.0, 3)]), BOOK, t)
    assert f["filled_qty"] == pytest.approx(3.0) and f["status"] == "filled"
    assert f["fill_ts"].timestamp() == pytest.approx((T0 + 3 * S) / S)


def test_price_moves_away_no_fill():
    # the bid rises to 100.1 / ask 100.2 and trades print up there: nothing reaches 100.0
    b = book([(0, 100.0, 5, 100.1, 4), (1, 100.1, 3, 100.2, 4)])
    t = trades([(2, 100.1, 3, "sell"), (3, 100.2, 1, "buy")])
    f = run(orders([(0.5, 1, 100.0, 1)]), b, t)
    assert f["filled_qty"] == 0.0 and f["status"] == "unfilled" and f["first_fill_ts"] is None


def test_trade_through_fills_everything():
    # a sell trade at 99.9, below our bid at 100.0, with 5 still ahead: the whole order fills at 100.0
    f = run(orders([(0.5, 1, 100.0, 2)]), BOOK, trades([(1, 99.9, 0.5, "sell")]))
    assert f["filled_qty"] == 2.0 and f["status"] == "filled" and f["reason"] == "trade_through"
    assert f["fill_price"] == 100.0


def test_ask_falling_to_our_price_fills_everything():
    b = book([(0, 100.0, 5, 100.1, 4), (1, 99.9, 2, 100.0, 1)])
    f = run(orders([(0.5, 1, 100.0, 2)]), b, trades([]))
    assert f["filled_qty"] == 2.0 and f["reason"] == "cross"


def test_sell_order_mirrors_buy():
    # sell at the ask 100.1 behind 4: buy trades of 4 (ahead 0) then 1 (ahead -1): fills 1
    t = trades([(1, 100.1, 4, "buy"), (2, 100.1, 1, "buy"), (2.5, 100.1, 9, "sell")])
    f = run(orders([(0.5, -1, 100.1, 2)]), BOOK, t)
    assert f["queue_ahead"] == 4.0 and f["filled_qty"] == pytest.approx(1.0)


def test_latency_sets_the_queue_and_the_first_events():
    # decided at 0.5 s, arrives at 1.5 s: the bid grew to 8 at 1.0 s (queue ahead 8); the 1.2 s trade came before
    b = book([(0, 100.0, 5, 100.1, 4), (1, 100.0, 8, 100.1, 4)])
    t = trades([(1.2, 100.0, 6, "sell"), (2, 100.0, 6, "sell")])
    f = run(orders([(0.5, 1, 100.0, 1)]), b, t, latency=S)
    assert f["queue_ahead"] == 8.0 and f["filled_qty"] == 0.0  # 8 - 6 = 2 still ahead


def test_rejected_when_it_would_take():
    f = run(orders([(0.5, 1, 100.1, 1)]), BOOK, trades([]))
    assert f["status"] == "rejected"


def test_horizon_ends_the_order():
    t = trades([(1, 99.9, 1, "sell")])  # a trade-through after the order's 0.4 s life
    f = run(orders([(0.5, 1, 100.0, 1)]), BOOK, t, horizon_ns=S * 4 // 10)
    assert f["status"] == "unfilled"


def test_cancels_risk_averse_vs_prob():
    # queue ahead 5 (back 0); others join behind: 5 -> 8; then a cancel 8 -> 6; then a sell trade of 4.
    # risk_averse: ahead = min(5, 6) = 5; 5 - 4 = 1 still ahead: no fill.
    # prob (power 1): chg = 8 - 6 - 0 = 2, front 5, back 8 - 5 = 3, p(behind) = 3 / (3 + 5) = 0.375,
    # ahead = 5 - (1 - 0.375) * 2 + min(3 - 0.375 * 2, 0) = 3.75; 3.75 - 4 = -0.25: fills 0.25.
    b = book([(0, 100.0, 5, 100.1, 4), (1, 100.0, 8, 100.1, 4), (2, 100.0, 6, 100.1, 4)])
    t = trades([(3, 100.0, 4, "sell")])
    o = orders([(0.5, 1, 100.0, 1)])
    assert run(o, b, t, "risk_averse")["filled_qty"] == 0.0
    assert run(o, b, t, "prob", power=1.0)["filled_qty"] == pytest.approx(0.25)


def test_bid_falling_below_us_empties_the_level():
    # the bid drops to 99.9: level 100.0 is gone, queue ahead min(5, 0) = 0; a later sell trade of 0.3 at 100.0
    # (our order is then the only one there) fills 0.3 of 1
    b = book([(0, 100.0, 5, 100.1, 4), (1, 99.9, 2, 100.1, 4)])
    f = run(orders([(0.5, 1, 100.0, 1)]), b, trades([(2, 100.0, 0.3, "sell")]))
    assert f["filled_qty"] == pytest.approx(0.3)


def test_unknown_model_raises():
    with pytest.raises(ValueError):
        simulate_passive_fills(orders([(0.5, 1, 100.0, 1)]), BOOK, trades([]), 0, "fifo")


def test_realised_vs_assumed_by_hand():
    # buy 2 at 99.95 filled 1 (ref 100): slippage -5 bps; sell 1 unfilled. Realised fill rate (0.5 + 0) / 2 = 0.25
    fills = pl.DataFrame({"order_id": [0, 1], "side": [1, -1], "qty": [2.0, 1.0], "filled_qty": [1.0, 0.0],
                          "fill_price": [99.95, None], "ref_price": [100.0, 100.0]})
    assumed = pl.DataFrame({"order_id": [0, 1], "fill_prob": [1.0, 1.0], "slippage_bps": [-5.0, -2.0]})
    r = realised_vs_assumed(fills, assumed).row(0, named=True)
    assert r["orders"] == 2 and r["realised_fill_rate"] == pytest.approx(0.25)
    assert r["realised_slippage_bps"] == pytest.approx(-5.0)
    assert r["assumed_slippage_bps"] == pytest.approx((-5.0 * 2 - 2.0 * 1) / 3)
    assert r["fill_rate_gap"] == pytest.approx(-0.75)
