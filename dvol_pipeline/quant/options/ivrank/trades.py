"""Simulate every candidate trade of an asset at once: (trade, holding day, leg) arrays.

Timing: a trade opens at the close of its entry day (buys at the ask, sells at the bid,
Deribit fees), is marked at each later close, and closes at the close of its exit day: the
first day (after entry) its mark-to-market P&L (options at marks + the perpetual hedge)
reaches +target or −stop, its expiry has `dte_floor` days or fewer left, or the data end.
Exits are decided on marks only, so costs never change a path: every cost is kept at
multiplier 1 (`unit_cost_usd`) and net(m) = gross − m x unit cost (costs.py).

Lookups: the chain's rows are sorted by (day, instrument), so the key day x n_inst + inst
is sorted and one `searchsorted` finds every (trade, day, leg) quote. A held leg missing
from a day's chain is marked by `market.quote_legs` (the expiry's smile between the quoted
neighbours; yesterday's IV when the expiry is gone), batched per day in date order so
yesterday's value is always known; such quotes are counted in `fallback_quotes`.

Hedge (config `hedge`): after each close the perpetual position is minus the options'
Black-76 delta, as in book.py; taker fees on every change, and the hedge is closed with
the options. Per trade-day P&L rows carry what the trade made over (previous close, this
close] and the costs paid at this close, so a strategy's daily P&L is their sum by date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from dvol_pipeline.quant.pricing.options import YEARS_PER_US, delta
from dvol_pipeline.quant.execution.options.attribution import attribute_rows
from dvol_pipeline.quant.execution.options.costs import execution, option_fee_coin
from dvol_pipeline.quant.execution.options.market import US_PER_DAY, AssetChain, quote_legs

from .candidates import Candidates
from .config import CALL_SPREAD, IRON_CONDOR, LONG_STRADDLE, PUT_SPREAD, STRUCTURES, IVRankConfig

STOP, TARGET, DTE_FLOOR, END = "stop", "profit_target", "dte_floor", "end_of_data"
CHUNK = 2000
"""Candidates simulated together: bounds the (trade, day, leg) arrays to a few MB each."""

GREEKS = ("delta_usd", "gamma_usd", "vega_usd", "theta_usd", "residual_usd")


@dataclass(frozen=True)
class TradeSim:
    trades: pl.DataFrame  # one row per candidate
    days: pl.DataFrame  # one row per (candidate, day held), entry and exit days included


def _lookup(chain: AssetChain, day: np.ndarray, inst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(chain row, found) of each (day index, instrument) pair."""
    n_inst = chain.names.size
    row_day = np.repeat(np.arange(len(chain.dates)), np.diff(chain.starts))
    keys = row_day * n_inst + chain.cols["inst"]
    want = day * n_inst + inst
    pos = np.minimum(np.searchsorted(keys, want), keys.size - 1)
    return pos, keys[pos] == want


def simulate(chain: AssetChain, cand: Candidates, perp: np.ndarray, cfg: IVRankConfig) -> TradeSim:
    """Every candidate's path, exit, costs and greek attribution (module doc)."""
    parts = [_simulate_chunk(chain, cand, perp, cfg, slice(s, min(s + CHUNK, cand.size)))
             for s in range(0, cand.size, CHUNK)]
    if not parts:
        return TradeSim(pl.DataFrame(schema=TRADE_SCHEMA), pl.DataFrame(schema=DAY_SCHEMA))
    return TradeSim(pl.concat([p.trades for p in parts]), pl.concat([p.days for p in parts]))


def _simulate_chunk(chain: AssetChain, cand: Candidates, perp: np.ndarray, cfg: IVRankConfig, part: slice) -> TradeSim:
    c = chain.cols
    n_days = len(chain.dates)
    entry, struct = cand.entry[part], cand.structure[part]
    rows0, qty = cand.row[part], cand.qty[part]
    n, L, H = entry.size, rows0.shape[1], cfg.max_hold_days
    leg = qty != 0
    r0 = np.where(leg, rows0, rows0[:, :1])  # padded legs copy leg 0 (qty 0 keeps them out)
    inst, expiry, strike, is_call = c["inst"][r0], c["expiry_us"][r0], c["strike"][r0], c["is_call"][r0]
    day = entry[:, None] + np.arange(H)[None, :]  # (n, H)
    in_data = day < n_days
    day_c = np.minimum(day, n_days - 1)
    ts = chain.ts_us[day_c]
    dte = (expiry[:, 0][:, None] - ts) / US_PER_DAY
    # the horizon: up to the first day at the DTE floor or the data's last day (exits can only be earlier)
    forced = (dte <= cfg.dte_floor) | (day >= n_days - 1)
    forced[:, 0] = False
    last_h = np.where(forced.any(axis=1), forced.argmax(axis=1), H - 1)
    alive = (np.arange(H)[None, :] <= last_h[:, None]) & in_data  # (n, H)

    # quotes of every (trade, day, leg)
    D3 = np.broadcast_to(day_c[:, :, None], (n, H, L))
    I3 = np.broadcast_to(inst[:, None, :], (n, H, L))
    pos, found = _lookup(chain, D3.ravel(), I3.ravel())
    pos, found = pos.reshape(n, H, L), found.reshape(n, H, L)
    found[:, 0, :] = True
    pos[:, 0, :] = r0
    need = alive[:, :, None] & ~found
    mark, bid, ask = c["mark"][pos], c["bid"][pos], c["ask"][pos]
    iv, fwd = c["iv"][pos], c["fwd"][pos]
    modelled = np.zeros((n, H, L), bool)
    if need.any():
        ti, hi, li = np.nonzero(need)
        d_of = day_c[ti, hi]
        order = np.argsort(d_of, kind="stable")
        ti, hi, li, d_of = ti[order], hi[order], li[order], d_of[order]
        bounds = np.flatnonzero(np.diff(d_of)) + 1
        for a, b in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [d_of.size]])):
            j = int(d_of[a])
            t, h, lg = ti[a:b], hi[a:b], li[a:b]
            ratio = perp[j] / perp[j - 1] if j > 0 and perp[j - 1] else 1.0
            q = quote_legs(chain, chain.day(j), inst[t, lg], expiry[t, lg], strike[t, lg], is_call[t, lg],
                           iv[t, h - 1, lg], fwd[t, h - 1, lg], float(ratio))
            mark[t, h, lg], bid[t, h, lg], ask[t, h, lg] = q.mark, q.bid, q.ask
            iv[t, h, lg], fwd[t, h, lg] = q.iv, q.fwd
            modelled[t, h, lg] = q.modelled
    # days past the horizon repeat the last live day's values (finite, never used)
    dead = ~alive[:, :, None] & np.ones((1, 1, L), bool)
    if dead.any():
        last = np.take_along_axis(np.stack([mark, iv, fwd]), last_h[None, :, None, None].repeat(L, axis=3), axis=2)
        mark, iv, fwd = (np.where(dead, last[k], a) for k, a in enumerate((mark, iv, fwd)))
    mark_usd = mark * fwd
    years = np.maximum((expiry[:, None, :] - ts[:, :, None]) * YEARS_PER_US, 1e-9)
    option_delta = np.sum(qty[:, None, :] * delta(fwd, strike[:, None, :], years, iv, is_call[:, None, :]), axis=2)
    px = perp[day_c]

    # marks P&L, decided exits
    q3 = qty[:, None, :]
    value = np.sum(q3 * mark_usd, axis=2)  # (n, H)
    hedge = -option_delta if cfg.hedge else np.zeros_like(option_delta)
    hedge_pnl = np.zeros((n, H))
    hedge_pnl[:, 1:] = hedge[:, :-1] * np.diff(px, axis=1)
    opt_pnl = np.zeros((n, H))
    opt_pnl[:, 1:] = np.diff(value, axis=1)
    day_gross = np.where(alive, opt_pnl + hedge_pnl, 0.0)
    cum = np.cumsum(day_gross, axis=1)
    premium = -value[:, 0]  # > 0 credit received (at marks), < 0 debit paid
    debit = np.asarray(STRUCTURES, object)[struct] == LONG_STRADDLE
    size = np.abs(premium)
    target = np.where(debit, cfg.debit_profit_target, cfg.profit_target) * size
    stop = np.where(debit, cfg.debit_stop, cfg.stop_mult) * size
    h_idx = np.arange(H)[None, :]
    hit_stop = alive & (h_idx > 0) & (cum <= -stop[:, None])
    hit_target = alive & (h_idx > 0) & (cum >= target[:, None])
    hit_floor = alive & (h_idx > 0) & (dte <= cfg.dte_floor)
    hit_end = alive & (h_idx > 0) & (day >= n_days - 1)
    any_exit = hit_stop | hit_target | hit_floor | hit_end
    exit_h = np.where(any_exit.any(axis=1), any_exit.argmax(axis=1), last_h)
    pick = exit_h[:, None]

    def at_exit(a: np.ndarray) -> np.ndarray:
        return np.take_along_axis(a, pick, axis=1)[:, 0]

    reason = np.select([at_exit(hit_stop), at_exit(hit_target), at_exit(hit_floor)], [STOP, TARGET, DTE_FLOOR], END)
    held = h_idx <= pick  # days the trade is on (entry .. exit)
    day_gross = np.where(held, day_gross, 0.0)

    # costs at multiplier 1: entry and exit fills, option fees, hedge fees
    frac, tick = cfg.fallback_half_spread_frac, cfg.tick

    def fill_costs(h_of: np.ndarray, side: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ix = h_of[:, None, None].repeat(L, axis=2)
        b, a, m, f = (np.take_along_axis(x, ix, axis=1)[:, 0, :] for x in (bid, ask, mark, fwd))
        _, quoted, fb = execution(side, b, a, m, frac, tick, 1.0)
        spread = np.sum(np.abs(qty) * np.abs(quoted - m) * f, axis=1)
        fees = np.sum(option_fee_coin(qty, quoted, cfg.option_fee_rate, cfg.option_fee_cap) * f, axis=1)
        return spread, fees, np.sum(fb & leg, axis=1)

    side = np.where(qty > 0, 1.0, -1.0)
    in_spread, in_fees, in_fb = fill_costs(np.zeros(n, np.int64), side)
    out_spread, out_fees, out_fb = fill_costs(exit_h, -side)
    hedge_held = np.where(held & (h_idx < pick), hedge, 0.0)  # the hedge is closed at the exit close
    traded = np.diff(np.concatenate([np.zeros((n, 1)), hedge_held], axis=1), axis=1)
    hedge_fee = np.where(held, cfg.perp_fee_rate * np.abs(traded) * px, 0.0)
    day_cost = hedge_fee.copy()
    day_cost[:, 0] += in_spread + in_fees
    np.put_along_axis(day_cost, pick, np.take_along_axis(day_cost, pick, 1) + (out_spread + out_fees)[:, None], 1)

    # greek attribution of each held day (legs' greeks at the previous close)
    greeks = np.zeros((4, n, H))
    if H > 1:
        prev = (slice(None), slice(0, H - 1))
        nxt = (slice(None), slice(1, H))
        days_el = (ts[:, 1:] - ts[:, :-1]) / US_PER_DAY
        parts = attribute_rows(q3, strike[:, None, :], is_call[:, None, :], years[prev], fwd[prev], fwd[nxt],
                               iv[prev], iv[nxt], days_el, hedge[prev])
        greeks[:, :, 1:] = np.stack(parts)
    greeks = np.where(held[None], greeks, 0.0)
    residual = day_gross - greeks.sum(axis=0)
    fallback = np.sum(modelled & leg[:, None, :] & held[:, :, None], axis=(1, 2)) + in_fb + out_fb

    gross = cum[np.arange(n), exit_h]
    unit_cost = day_cost.sum(axis=1)
    dates = np.asarray(chain.dates, dtype="datetime64[D]")
    ent_d = dates[entry]
    ex_d = dates[day_c[np.arange(n), exit_h]]
    mins = np.where(held, cum, np.inf).min(axis=1)
    widths = _widths(strike, qty, struct)
    trades = pl.DataFrame({
        "asset": [chain.asset] * n, "entry_date": ent_d, "structure": np.asarray(STRUCTURES)[struct],
        "exit_date": ex_d, "exit_reason": reason, "entry_dte": dte[:, 0], "exit_dte": at_exit(dte),
        "days_held": exit_h.astype(np.int32), "n_legs": leg.sum(axis=1).astype(np.int32),
        "units": np.abs(qty).max(axis=1), "premium_usd": premium, "max_loss_usd": widths - premium,
        "gross_usd": gross, "unit_cost_usd": unit_cost, "net_usd": gross - unit_cost,
        **{g: (greeks[k].sum(axis=1) if k < 4 else residual.sum(axis=1)) for k, g in enumerate(GREEKS)},
        "max_adverse_usd": np.maximum(-mins, 0.0), "fallback_quotes": fallback.astype(np.int32),
    }, schema=TRADE_SCHEMA)
    tid, hid = np.nonzero(held)
    days = pl.DataFrame({
        "asset": [chain.asset] * tid.size, "entry_date": ent_d[tid], "structure": np.asarray(STRUCTURES)[struct[tid]],
        "date": dates[day_c[tid, hid]], "gross_usd": day_gross[tid, hid], "unit_cost_usd": day_cost[tid, hid],
        **{g: (greeks[k][tid, hid] if k < 4 else residual[tid, hid]) for k, g in enumerate(GREEKS)},
    }, schema=DAY_SCHEMA)
    return TradeSim(trades, days)


def _widths(strike: np.ndarray, qty: np.ndarray, struct: np.ndarray) -> np.ndarray:
    """Worst expiry payoff owed on the short side, USD: the wider wing of a condor, a spread's
    width; 0 for the long straddle (its max loss is the debit, so max_loss = width - premium)."""
    units = np.abs(qty).max(axis=1)
    names = np.asarray(STRUCTURES)[struct]
    first = np.abs(strike[:, 1] - strike[:, 0])  # a spread's two legs, or the condor's put wing
    condor = np.maximum(first, np.abs(strike[:, 3] - strike[:, 2]))
    w = np.select([names == IRON_CONDOR, (names == PUT_SPREAD) | (names == CALL_SPREAD)], [condor, first], 0.0)
    return w * units


TRADE_SCHEMA = {
    "asset": pl.Utf8, "entry_date": pl.Date, "structure": pl.Utf8, "exit_date": pl.Date, "exit_reason": pl.Utf8,
    "entry_dte": pl.Float64, "exit_dte": pl.Float64, "days_held": pl.Int32, "n_legs": pl.Int32, "units": pl.Float64,
    "premium_usd": pl.Float64, "max_loss_usd": pl.Float64, "gross_usd": pl.Float64, "unit_cost_usd": pl.Float64,
    "net_usd": pl.Float64, **{g: pl.Float64 for g in GREEKS}, "max_adverse_usd": pl.Float64,
    "fallback_quotes": pl.Int32,
}
DAY_SCHEMA = {
    "asset": pl.Utf8, "entry_date": pl.Date, "structure": pl.Utf8, "date": pl.Date, "gross_usd": pl.Float64,
    "unit_cost_usd": pl.Float64, **{g: pl.Float64 for g in GREEKS},
}
