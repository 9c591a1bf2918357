"""Passive fills by queue position, with latency, against the rebuilt top of book and the trades.

Why not hftbacktest itself: it pins numpy < 2.3 and cannot live in the pipeline's environment. This module
replays, per order, the exact rules of hftbacktest's `PartialFillExchange` with its `RiskAdverseQueueModel` or
`ProbQueueModel(PowerProbQueueFunc(n))` (hftbacktest/src/backtest/models/queue.rs, proc/partialfillexchange.rs),
on the same events; `dvol_pipeline_tests/bench/bench_micro_fills.py` runs both on the same orders and events and
reports their agreement.

Rules (buy order at price p; a sell mirrors them):
- The order reaches the venue `latency_ns` after its `ts` and rests until `ts + horizon_ns` (its cancel is
  timed to land then). It is post-only: at or through the best ask on arrival it is rejected.
- The level's size at p is what the top of book last said about it: `bid_size` of the last row whose best bid
  was p, or 0 once the best bid fell below p (the level is gone); rows with a higher best bid say nothing.
  On arrival the order joins the back: queue ahead = that size.
- Every later row with best bid p (or the row that drops the bid below p while the level still had size) is a
  depth change prev -> new at p. risk_averse: queue ahead = min(ahead, new) (cancels come from behind us).
  prob: chg = prev - new - (trades at p since the last change); a decrease is split between ahead and behind
  with the probability f(back) / (f(back) + f(front)) that it came from behind, f(x) = x^n.
- A sell-aggressor trade at p reduces the queue ahead by its size; once the queue ahead is below zero the order
  fills round(overshoot / lot) lots, at most the trade's size and the rest (partial fills), and the queue ahead
  restarts at zero. A sell trade below p, or a best ask at or below p, fills the rest ("trade-through", "cross").
- Events at one time are taken in the order given: trades before the book row of the same instant (a trade's
  depletion is printed by the book after it). The book's local receive time is the clock; `latency_ns` is the
  order's one-way latency on top of it.
Fill prices are the order's price (a maker fill).
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numba import njit

QUEUE_MODELS = ("risk_averse", "prob")
STATUS = ("unfilled", "partial", "filled", "rejected")
REASONS = ("", "queue", "trade_through", "cross")


def _ns(frame: pl.DataFrame, name: str) -> np.ndarray:
    return frame[name].cast(pl.Datetime("ns", "UTC")).cast(pl.Int64).to_numpy()


def merge_events(book_top: pl.DataFrame, trades: pl.DataFrame) -> dict[str, np.ndarray]:
    """One time-ordered stream: kind 0 = book row, 1 = trade (trades first at equal times)."""
    tb, tt = _ns(book_top, "ts_local"), _ns(trades, "ts_local")
    ts = np.concatenate([tt, tb])
    kind = np.concatenate([np.ones(tt.size, np.int8), np.zeros(tb.size, np.int8)])
    order = np.lexsort((-kind, ts))  # by time, trades (1) before book rows (0) at a tie; stable within each
    nan_t, nan_b = np.full(tt.size, np.nan), np.full(tb.size, np.nan)
    f = lambda frame, c: frame[c].cast(pl.Float64).to_numpy()  # noqa: E731
    cols = {
        "bid_px": np.concatenate([nan_t, f(book_top, "bid_price")]),
        "bid_qty": np.concatenate([nan_t, f(book_top, "bid_size")]),
        "ask_px": np.concatenate([nan_t, f(book_top, "ask_price")]),
        "ask_qty": np.concatenate([nan_t, f(book_top, "ask_size")]),
        "tr_px": np.concatenate([f(trades, "price"), nan_b]),
        "tr_qty": np.concatenate([f(trades, "size"), nan_b]),
        "tr_buy": np.concatenate([(trades["side"] == "buy").to_numpy(), np.zeros(tb.size, bool)]),
    }
    return {"ts": ts[order], "kind": kind[order], **{k: v[order] for k, v in cols.items()}}


@njit(cache=True)
def _depth(front, cum, prev, new, prob, n):
    """hftbacktest's QueueModel.depth: (front, cum) after the level at our price went prev -> new."""
    if not prob:
        return min(front, new), cum
    chg = prev - new - cum
    cum = 0.0
    if chg < 0.0:
        return min(front, new), cum
    back = prev - front
    fb, ff = back ** n, front ** n
    p = fb / (fb + ff)
    if np.isinf(p):
        p = 1.0
    est = front - (1.0 - p) * chg + min(back - p * chg, 0.0)
    if est != est:  # NaN (0/0): Rust's f64::min returns the other operand
        return new, cum
    return min(est, new), cum


@njit(cache=True)
def _fill_kernel(ts, kind, bid_px, bid_qty, ask_px, ask_qty, tr_px, tr_qty, tr_buy,
                 o_arr, o_end, o_side, o_px, o_qty, prob, n, lot, tick, cap):
    m = o_arr.size
    ahead0 = np.full(m, np.nan)
    filled = np.zeros(m)
    first_ts = np.full(m, -1, np.int64)
    full_ts = np.full(m, -1, np.int64)
    status = np.zeros(m, np.int8)
    reason = np.zeros(m, np.int8)
    half = 0.5 * tick
    for i in range(m):
        buy = o_side[i] > 0
        p = o_px[i]
        start = np.searchsorted(ts, o_arr[i], side="right")  # events at or before arrival are its state
        stop = np.searchsorted(ts, o_end[i], side="right")
        # level size at p and the opposite best as of arrival: the last book row that says something
        level = 0.0
        opp = np.nan
        for k in range(start - 1, -1, -1):
            if kind[k] != 0:
                continue
            if opp != opp:
                opp = ask_px[k] if buy else bid_px[k]
            own = bid_px[k] if buy else ask_px[k]
            if abs(own - p) < half:
                level = bid_qty[k] if buy else ask_qty[k]
                break
            if (buy and own < p) or ((not buy) and own > p):
                break  # the level was emptied (or never there)
        if opp != opp or (buy and p >= opp - half) or ((not buy) and p <= opp + half):
            status[i] = 3
            continue
        front, cum, leaves = level, 0.0, o_qty[i]
        ahead0[i] = level
        for k in range(start, stop):
            if kind[k] == 0:
                own = bid_px[k] if buy else ask_px[k]
                other = ask_px[k] if buy else bid_px[k]
                if abs(own - p) < half:
                    new = bid_qty[k] if buy else ask_qty[k]
                    front, cum = _depth(front, cum, level, new, prob, n)
                    level = new
                elif ((buy and own < p) or ((not buy) and own > p)) and level > 0.0:
                    front, cum = _depth(front, cum, level, 0.0, prob, n)
                    level = 0.0
                if (buy and other <= p + half) or ((not buy) and other >= p - half):
                    if first_ts[i] < 0:
                        first_ts[i] = ts[k]
                    filled[i] += leaves
                    leaves = 0.0
                    full_ts[i] = ts[k]
                    reason[i] = 3
                    break
            else:
                if tr_buy[k] == buy:
                    continue  # a buy order is hit by sell-aggressor trades
                q = tr_px[k]
                through = (buy and q < p - half) or ((not buy) and q > p + half)
                at = abs(q - p) < half
                if through:
                    if first_ts[i] < 0:
                        first_ts[i] = ts[k]
                    filled[i] += leaves
                    leaves = 0.0
                    full_ts[i] = ts[k]
                    reason[i] = 2
                    break
                if at:
                    front -= tr_qty[k]
                    cum += tr_qty[k]
                    over = -front / lot
                    if over >= 0.5:  # hftbacktest 2.4's is_filled: round(-front / lot) lots, then front = 0
                        can = np.floor(over + 0.5) * lot  # Rust's round: half away from zero
                        front = 0.0
                        ex = min(can, tr_qty[k], leaves) if cap else min(can, leaves)
                        if first_ts[i] < 0:
                            first_ts[i] = ts[k]
                        filled[i] += ex
                        leaves -= ex
                        reason[i] = 1
                        if leaves / lot < 0.5:  # Rust's round(x) <= 0
                            full_ts[i] = ts[k]
                            break
        status[i] = 2 if full_ts[i] >= 0 else (1 if filled[i] > 0.0 else 0)
    return ahead0, filled, first_ts, full_ts, status, reason


def simulate_passive_fills(orders: pl.DataFrame, book_top: pl.DataFrame, trades: pl.DataFrame, latency_ns: int,
                           queue_model: str = "prob", *, horizon_ns: int = 60 * 10**9, power: float = 3.0,
                           lot: float = 0.001, tick: float = 0.01, cap_at_trade: bool = True) -> pl.DataFrame:
    """Per order: queue ahead on arrival, quantity filled, first and complete fill times, status and reason.

    `orders`: `ts` (decision time, local clock), `side` (+1/-1), `price`, `qty`; optional `order_id` and
    `horizon_ns` (per order, else the argument). `book_top`: `ts_local`, bid/ask price and size (one symbol);
    `trades`: `ts_local`, `price`, `size`, `side` (aggressor "buy"/"sell"). `tick` only sets the price
    tolerance (half a tick) of "same price"; `lot` rounds fill quantities as the venue's lot does.
    `cap_at_trade`: a queue fill is at most the trade's size (default: no more can trade than did). hftbacktest
    2.4.4 does not cap it: with the prob model a depth drop can push the queue ahead below zero and the next
    trade, however small, then fills that whole overshoot; `cap_at_trade=False` reproduces it (the benchmark).
    """
    if queue_model not in QUEUE_MODELS:
        raise ValueError(f"queue_model must be one of {QUEUE_MODELS}, got {queue_model!r}")
    ev = merge_events(book_top, trades)
    t0 = _ns(orders, "ts")
    arrival = t0 + int(latency_ns)
    hz = orders["horizon_ns"].cast(pl.Int64).to_numpy() if "horizon_ns" in orders.columns else np.full(
        orders.height, int(horizon_ns), np.int64)
    end = t0 + hz
    out = _fill_kernel(ev["ts"], ev["kind"], ev["bid_px"], ev["bid_qty"], ev["ask_px"], ev["ask_qty"], ev["tr_px"],
                       ev["tr_qty"], ev["tr_buy"], arrival, end, orders["side"].cast(pl.Int64).to_numpy(),
                       orders["price"].cast(pl.Float64).to_numpy(), orders["qty"].cast(pl.Float64).to_numpy(),
                       queue_model == "prob", float(power), float(lot), float(tick), bool(cap_at_trade))
    ahead, filled, first_ts, full_ts, status, reason = out
    ids = orders["order_id"] if "order_id" in orders.columns else pl.Series("order_id", np.arange(orders.height))
    ts_type = pl.Datetime("ns", "UTC")
    return pl.DataFrame({
        "order_id": ids, "ts": orders["ts"].cast(ts_type), "side": orders["side"], "price": orders["price"],
        "qty": orders["qty"],
        "arrival_ts": pl.Series(arrival).cast(ts_type),
        "queue_ahead": pl.Series(ahead).fill_nan(None),
        "filled_qty": np.round(filled, 12),
        "first_fill_ts": pl.Series(np.where(first_ts >= 0, first_ts, None).tolist(), dtype=pl.Int64).cast(ts_type),
        "fill_ts": pl.Series(np.where(full_ts >= 0, full_ts, None).tolist(), dtype=pl.Int64).cast(ts_type),
        "status": pl.Series([STATUS[s] for s in status]),
        "reason": pl.Series([REASONS[r] for r in reason]).replace("", None),
        "fill_price": pl.Series(np.where(filled > 0, orders["price"].cast(pl.Float64).to_numpy(), np.nan)).fill_nan(
            None),
    })


def realised_vs_assumed(fills: pl.DataFrame, assumed: pl.DataFrame, on: str = "order_id",
                        by: tuple[str, ...] = ()) -> pl.DataFrame:
    """Fill rate and slippage realised by the fill model against what the backtest assumed, per `by` group.

    `fills`: `on`, `side`, `qty`, `filled_qty`, `fill_price`, `ref_price` (the mid at the decision): realised
    slippage = side x (fill price - ref) / ref in bps, quantity-weighted over filled quantity (negative: price
    improvement, as a passive fill at the touch earns half the spread). `assumed`: `on`, `fill_prob` (the
    backtest's fill probability or 0/1), `slippage_bps`. The gaps are realised minus assumed: the paper replay
    tracks them, a backtest whose assumptions are too kind shows a negative fill-rate gap and a positive
    slippage gap.
    """
    f = fills.join(assumed.select(on, "fill_prob", pl.col("slippage_bps").alias("assumed_slippage_bps")), on=on,
                   how="left")
    f = f.with_columns(
        slip=pl.col("side") * (pl.col("fill_price") - pl.col("ref_price")) / pl.col("ref_price") * 1e4,
        share=(pl.col("filled_qty") / pl.col("qty")).fill_nan(0.0).fill_null(0.0))
    w = pl.col("filled_qty")
    agg = f.group_by(list(by) or pl.lit(0).alias("__all"), maintain_order=True).agg(
        orders=pl.len(),
        realised_fill_rate=pl.col("share").mean(),
        assumed_fill_rate=pl.col("fill_prob").mean(),
        realised_slippage_bps=(pl.col("slip") * w).filter(w > 0).sum() / w.filter(w > 0).sum(),
        assumed_slippage_bps=(pl.col("assumed_slippage_bps") * pl.col("qty")).sum() / pl.col("qty").sum(),
    )
    agg = agg.with_columns(fill_rate_gap=pl.col("realised_fill_rate") - pl.col("assumed_fill_rate"),
                           slippage_gap_bps=pl.col("realised_slippage_bps") - pl.col("assumed_slippage_bps"))
    return agg.drop("__all") if not by else agg
