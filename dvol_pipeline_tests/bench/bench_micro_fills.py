"""`make bench`: the queue-position fill model beside hftbacktest's queue models, on the same orders and events.

`python -m dvol_pipeline_tests.bench.bench_micro_fills [--hours H] [--orders N]`. A seeded synthetic top of book
and trade tape (one symbol: a one-tick-spread random walk whose touch sizes grow by additions, shrink by
cancels and trades, and move when a level is consumed; a few sweeps trade through a level) and N passive
orders at the touch or one tick behind, each resting 30 s, 2 ms one-way latency. Our `simulate_passive_fills`
runs them for both queue models; hftbacktest (`HFT_PYTHON`, default `.venv-hft/bin/python`) runs the same
orders on the same events (written as its `event_dtype`, top-of-book rows as depth events, a level the best
price left behind cleared as our model clears it) through PartialFillExchange with RiskAdverseQueueModel and
ProbQueueModel(PowerProbQueueFunc(3)); ours runs with `cap_at_trade=False` for the comparison, as hftbacktest
does not cap a queue fill at the trade's size (the default capped figures are printed beside). Prints fill
rates, per-order agreement of filled quantity and complete fill time, and the speed of both. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "POLARS_MAX_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np
import polars as pl

from dvol_pipeline.quant.execution.queue_fills import merge_events, simulate_passive_fills
from dvol_pipeline_tests.bench.bench_micro_book import (
    BUY_EVENT,
    DEPTH_EVENT,
    EXCH_EVENT,
    HFT_DTYPE,
    LOCAL_EVENT,
    SELL_EVENT,
)
from dvol_pipeline_tests.bench.reference import reference_line, reference_seconds

TRADE_EVENT = 2
TICK, LOT = 0.1, 0.001
T0 = 1_735_603_200 * 10**9
LATENCY_NS = 2_000_000
HORIZON_NS = 30 * 10**9
POWER = 3.0
TS = pl.Datetime("ns", "UTC")


def synthetic_market(hours: float, seed: int = 3) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(book_top, trades): ~10 book changes and ~3 trades a second."""
    rng = np.random.default_rng(seed)
    n = int(hours * 3600 * 13)
    gaps = rng.exponential(1e9 / 13, n).astype(np.int64) + 1
    ts = T0 + np.cumsum(gaps)
    u, e = rng.random(n), rng.exponential(1.0, n)
    bid, ask, bq, aq = 1_000_000, 1_000_001, 5.0, 5.0
    book, trades = [], []
    for k in range(n):
        r = u[k]
        size = round(0.001 + e[k], 3)
        if r < 0.23:  # a trade: sell hits the bid or buy lifts the ask
            sell = (k % 2 == 0) if r < 0.115 else (k % 3 == 0)
            px = bid if sell else ask
            lvl = bq if sell else aq
            sweep = r < 0.01
            take = round(min(size, lvl), 3) if not sweep else round(lvl, 3)
            if take > 0:
                trades.append((ts[k], px * TICK, take, "sell" if sell else "buy"))
            if sweep:  # the whole level, then a bit of the next one: a trade through
                px2 = px - 1 if sell else px + 1
                trades.append((ts[k] + 1, px2 * TICK, 0.2, "sell" if sell else "buy"))
            rest = round(lvl - take, 3)
            if sell:
                bid, bq = (bid, rest) if rest > 0 and not sweep else (bid - (2 if sweep else 1), round(2 + e[k], 3))
            else:
                ask, aq = (ask, rest) if rest > 0 and not sweep else (ask + (2 if sweep else 1), round(2 + e[k], 3))
        elif r < 0.55:  # additions at the touch
            if r < 0.39:
                bq = round(bq + size, 3)
            else:
                aq = round(aq + size, 3)
        elif r < 0.85:  # cancels at the touch
            if r < 0.70:
                bq = round(bq - min(size, bq - 0.001), 3)
            else:
                aq = round(aq - min(size, aq - 0.001), 3)
        elif r < 0.92:  # a new better price inside the spread, or the touch refilled after a gap
            if ask - bid > 1:
                bid, bq = bid + 1, size
            else:
                ask, aq = ask + 1, round(2 + e[k], 3)
                bid, bq = bid + 1, size
        else:  # the book drifts down a tick
            if ask - bid > 1:
                ask, aq = ask - 1, size
            else:
                bid, bq = bid - 1, round(2 + e[k], 3)
                ask, aq = ask - 1, size
        book.append((ts[k] + 2, bid * TICK, bq, ask * TICK, aq))
    top = pl.DataFrame(book, schema=["ts_local", "bid_price", "bid_size", "ask_price", "ask_size"], orient="row")
    tape = pl.DataFrame(trades, schema=["ts_local", "price", "size", "side"], orient="row")
    return (top.with_columns(pl.col("ts_local").cast(TS)), tape.with_columns(pl.col("ts_local").cast(TS)))


def synthetic_orders(top: pl.DataFrame, n: int, seed: int = 4) -> pl.DataFrame:
    """n passive orders at odd nanoseconds, at the touch (70 %) or one tick behind, 0.001-2 base units."""
    rng = np.random.default_rng(seed)
    ts_top = top["ts_local"].cast(pl.Int64).to_numpy()
    ts = np.sort(rng.integers(ts_top[100], ts_top[-1] - HORIZON_NS - 10**9, n)) | 1
    at = np.searchsorted(ts_top, ts, side="right") - 1
    side = np.where(rng.random(n) < 0.5, 1, -1)
    behind = rng.random(n) < 0.3
    bid, ask = top["bid_price"].to_numpy()[at], top["ask_price"].to_numpy()[at]
    price = np.where(side > 0, bid - behind * TICK, ask + behind * TICK)
    qty = np.round(rng.uniform(0.001, 2.0, n), 3)
    return pl.DataFrame({"order_id": np.arange(n), "ts": ts, "side": side, "price": np.round(price, 1), "qty": qty}
                        ).with_columns(pl.col("ts").cast(TS))


def hft_events(top: pl.DataFrame, trades: pl.DataFrame) -> np.ndarray:
    """The merged stream as hftbacktest events: a book row clears the levels the touch left behind, then sets it."""
    ev = merge_events(top, trades)
    rows: list[tuple] = []
    bids: dict[int, float] = {}
    asks: dict[int, float] = {}
    x = EXCH_EVENT | LOCAL_EVENT
    for k in range(ev["ts"].size):
        t = int(ev["ts"][k])
        if ev["kind"][k] == 1:
            flag = x | TRADE_EVENT | (BUY_EVENT if ev["tr_buy"][k] else SELL_EVENT)
            rows.append((flag, t, t, ev["tr_px"][k], ev["tr_qty"][k], 0, 0, 0.0))
            continue
        b, a = round(ev["bid_px"][k] / TICK), round(ev["ask_px"][k] / TICK)
        for p in [p for p in bids if p > b]:
            del bids[p]
            rows.append((x | BUY_EVENT | DEPTH_EVENT, t, t, p * TICK, 0.0, 0, 0, 0.0))
        for p in [p for p in asks if p < a]:
            del asks[p]
            rows.append((x | SELL_EVENT | DEPTH_EVENT, t, t, p * TICK, 0.0, 0, 0, 0.0))
        bids[b], asks[a] = ev["bid_qty"][k], ev["ask_qty"][k]
        rows.append((x | BUY_EVENT | DEPTH_EVENT, t, t, ev["bid_px"][k], ev["bid_qty"][k], 0, 0, 0.0))
        rows.append((x | SELL_EVENT | DEPTH_EVENT, t, t, ev["ask_px"][k], ev["ask_qty"][k], 0, 0, 0.0))
    return np.array(rows, dtype=HFT_DTYPE)


def run_hft(events: np.ndarray, orders: pl.DataFrame, model: int) -> dict | None:
    python = os.environ.get("HFT_PYTHON", ".venv-hft/bin/python")
    if not Path(python).exists():
        print(f"hftbacktest: skipped ({python} not found; `make bench` builds .venv-hft, or set HFT_PYTHON)")
        return None
    ts = orders["ts"].cast(pl.Int64).to_numpy()
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.npz", Path(tmp) / "out.json"
        np.savez(src, data=events, ts=ts, end=ts + HORIZON_NS, side=orders["side"].to_numpy().astype(np.int64),
                 price=orders["price"].to_numpy(), qty=orders["qty"].to_numpy(),
                 params=np.array([TICK, LOT, LATENCY_NS, model, POWER]))
        t0 = time.perf_counter()
        script = Path(__file__).with_name("hft_fills.py")
        done = subprocess.run([python, str(script), str(src), str(out)], capture_output=True, text=True, cwd=tmp,
                              timeout=1800)
        if done.returncode != 0:
            print(f"hftbacktest failed:\n{done.stderr[-3000:]}")
            return None
        res = json.loads(out.read_text())
        res["process_seconds"] = time.perf_counter() - t0
        return res


def compare(ours: pl.DataFrame, hft: dict) -> dict:
    """Per-order agreement of filled quantity and of the complete-fill time (posted orders only)."""
    live = (ours["status"] != "rejected").to_numpy()
    q_ours, q_hft = ours["filled_qty"].to_numpy(), np.asarray(hft["filled"])
    st = np.asarray(hft["status"])
    t_ours = ours["fill_ts"].cast(pl.Int64).fill_null(-1).to_numpy()
    t_hft = np.where(st == 3, np.asarray(hft["fill_ts"]), -1)
    same_q = np.isclose(q_ours, q_hft, atol=LOT / 2)
    same_t = t_ours == t_hft
    full = (t_ours >= 0) | (t_hft >= 0)
    return {"posted": int(live.sum()), "rejected_ours": int((~live).sum()), "expired_hft": int((st == 2).sum()),
            "fill_rate_ours": float((q_ours[live] > 0).mean()), "fill_rate_hft": float((q_hft[live] > 0).mean()),
            "filled_share_ours": float(q_ours[live].sum() / ours["qty"].to_numpy()[live].sum()),
            "filled_share_hft": float(q_hft[live].sum() / ours["qty"].to_numpy()[live].sum()),
            "qty_agreement": float(same_q[live].mean()), "fill_time_agreement": float(same_t[live & full].mean())
            if (live & full).any() else float("nan"), "complete_fills_ours": int((t_ours >= 0).sum()),
            "complete_fills_hft": int((t_hft >= 0).sum()),
            "disagree_ids": np.flatnonzero(live & ~(same_q & same_t))[:10].tolist()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--orders", type=int, default=2000)
    args = ap.parse_args(argv)
    print(reference_line(reference_seconds()))
    top, trades = synthetic_market(args.hours)
    orders = synthetic_orders(top, args.orders)
    print(f"market: {top.height} book rows, {trades.height} trades over {args.hours} h; {orders.height} orders, "
          f"latency {LATENCY_NS / 1e6:g} ms, rest {HORIZON_NS / 1e9:g} s")
    events = hft_events(top, trades)
    for code, model in ((0, "risk_averse"), (1, "prob")):
        kw = {"horizon_ns": HORIZON_NS, "power": POWER, "lot": LOT, "tick": TICK}
        simulate_passive_fills(orders.head(5), top, trades, LATENCY_NS, model, **kw)  # compile
        t0 = time.perf_counter()
        capped = simulate_passive_fills(orders, top, trades, LATENCY_NS, model, **kw)
        ours_s = time.perf_counter() - t0
        ours = simulate_passive_fills(orders, top, trades, LATENCY_NS, model, cap_at_trade=False, **kw)
        hft = run_hft(events, orders, code)
        print(f"[{model}] ours: {ours_s:.3f} s for {orders.height} orders ({ours_s / orders.height * 1e6:.1f} us an "
              f"order), fill rate {(capped['filled_qty'] > 0).mean():.3f}, filled share "
              f"{capped['filled_qty'].sum() / capped['qty'].sum():.4f} (uncapped as hftbacktest: "
              f"{ours['filled_qty'].sum() / ours['qty'].sum():.4f})")
        if hft is not None:
            c = compare(ours, hft)
            print(f"[{model}] hftbacktest: load {hft['load_seconds']:.3f} s + run {hft['run_seconds']:.3f} s over "
                  f"{hft['events']} events (process {hft['process_seconds']:.1f} s); {json.dumps(c)}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
