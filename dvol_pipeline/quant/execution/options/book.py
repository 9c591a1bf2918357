"""One asset's option book stepped from one daily close to the next.

Order of a day (all at the snapshot of `day`, 23:59:59 UTC):
1. revalue the legs held since yesterday at today's marks (options in USD = coin mark x
   the expiry's forward) and the hedge at today's perpetual: that is the day's gross P&L,
   split into greeks (attribution.py); legs that expired since yesterday settle at
   intrinsic against their last forward (the chain has no settlement index, so the last
   snapshot before the 08:00 expiry stands in for it) and pay the delivery fee;
2. trade: close everything when the signal changed (reason close) or the held expiry has
   fewer than `dte_min` days left (reason roll), then open the signal's structure
   (open / roll); buys pay the ask, sells receive the bid (costs.py);
3. re-hedge: the perpetual position becomes minus the options' Black-76 delta, so the
   book goes into the night delta-neutral.
Costs are kept at multiplier 1 (`unit_*`) and scaled by the caller; see costs.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np

from dvol_pipeline.quant.pricing.options import YEARS_PER_US, delta

from .attribution import GreekPnL, attribute
from .config import OptionBacktestConfig
from .costs import BUY, SELL, execution, option_fee_coin, perp_fee_usd
from .market import US_PER_DAY, AssetChain, DayChain, quote_legs
from .selection import structure_for

Trade = tuple[date, str, str, str, float, float, float, float, str]
"""date, asset, instrument_name, side, qty, price_coin, price_usd, fee_usd, reason."""


@dataclass(frozen=True)
class Legs:
    """Held options and their last marks (fwd USD, iv decimal, mark_usd per coin)."""

    inst: np.ndarray
    expiry_us: np.ndarray
    strike: np.ndarray
    is_call: np.ndarray
    qty: np.ndarray
    fwd: np.ndarray
    iv: np.ndarray
    mark_usd: np.ndarray

    @classmethod
    def empty(cls) -> Legs:
        i, f = np.zeros(0, np.int64), np.zeros(0)
        return cls(i, i, f, np.zeros(0, bool), f, f, f, f)

    @property
    def size(self) -> int:
        return int(self.qty.size)

    def take(self, keep: np.ndarray) -> Legs:
        return Legs(*(getattr(self, n)[keep] for n in self.__dataclass_fields__))


@dataclass(frozen=True)
class Book:
    kind: int = 0  # +1 straddle, -1 condor, 0 flat
    legs: Legs = field(default_factory=Legs.empty)
    hedge: float = 0.0  # perpetual position in coins
    ts_us: int | None = None  # time of the last marks
    perp: float | None = None


@dataclass
class DayTally:
    """What one day produced; costs at multiplier 1 (the caller scales them)."""

    gross: float = 0.0
    hedge_pnl: float = 0.0
    greeks: GreekPnL = field(default_factory=GreekPnL)
    unit_spread: float = 0.0
    unit_option_fees: float = 0.0
    unit_hedge_fees: float = 0.0
    turnover: float = 0.0
    fallback_quotes: int = 0
    net_delta_coin: float = 0.0


def _intrinsic(fwd: np.ndarray, strike: np.ndarray, is_call: np.ndarray) -> np.ndarray:
    return np.where(is_call, np.maximum(fwd - strike, 0.0), np.maximum(strike - fwd, 0.0))


def _side_names(side: np.ndarray) -> list[str]:
    return np.where(side > 0, "buy", "sell").tolist()


def _trade_options(
    tally: DayTally, trades: list[Trade], day: DayChain, names: np.ndarray, asset: str, qty: np.ndarray,
    bid: np.ndarray, ask: np.ndarray, mark: np.ndarray, fwd: np.ndarray, reason: str, cfg: OptionBacktestConfig,
) -> None:
    """Trade `qty` (signed, + buys) at the quotes; books spread, fee, turnover and trades."""
    side = np.where(qty > 0, BUY, SELL)
    price, quoted, fallback = execution(side, bid, ask, mark, cfg.fallback_half_spread_frac, cfg.tick, cfg.cost_mult)
    fee_coin = option_fee_coin(qty, quoted, cfg.option_fee_rate, cfg.option_fee_cap)
    tally.unit_spread += float(np.sum(np.abs(qty) * np.abs(quoted - mark) * fwd))
    tally.unit_option_fees += float(np.sum(fee_coin * fwd))
    tally.turnover += float(np.sum(np.abs(qty)))
    tally.fallback_quotes += int(np.sum(fallback))
    fee_usd = cfg.cost_mult * fee_coin * fwd
    trades.extend(
        zip([day.date] * qty.size, [asset] * qty.size, names.tolist(), _side_names(side), np.abs(qty).tolist(),
            price.tolist(), (price * fwd).tolist(), fee_usd.tolist(), [reason] * qty.size)
    )


def _settle(tally: DayTally, trades: list[Trade], day: DayChain, names: np.ndarray, asset: str, legs: Legs,
            cfg: OptionBacktestConfig) -> None:
    value = _intrinsic(legs.fwd, legs.strike, legs.is_call)
    fee_coin = option_fee_coin(legs.qty, value / legs.fwd, cfg.settlement_fee_rate, cfg.option_fee_cap)
    tally.unit_option_fees += float(np.sum(fee_coin * legs.fwd))
    side = np.where(legs.qty > 0, SELL, BUY)
    trades.extend(
        zip([day.date] * legs.size, [asset] * legs.size, names.tolist(), _side_names(side), np.abs(legs.qty).tolist(),
            (value / legs.fwd).tolist(), value.tolist(), (cfg.cost_mult * fee_coin * legs.fwd).tolist(),
            ["expiry"] * legs.size)
    )


def _revalue(book: Book, chain: AssetChain, day: DayChain, perp: float, tally: DayTally, trades: list[Trade],
             cfg: OptionBacktestConfig) -> tuple[Legs, np.ndarray, np.ndarray, np.ndarray]:
    """Mark yesterday's legs today; settle the expired. Returns (live legs, bid, ask, coin mark)."""
    legs = book.legs
    perp_move = 0.0 if book.perp is None else perp - book.perp
    tally.hedge_pnl = book.hedge * perp_move
    if legs.size == 0:
        tally.gross = tally.hedge_pnl
        tally.greeks = GreekPnL(delta=tally.hedge_pnl)
        return legs, legs.fwd, legs.fwd, legs.fwd
    ratio = perp / book.perp if book.perp else 1.0
    q = quote_legs(chain, day, legs.inst, legs.expiry_us, legs.strike, legs.is_call, legs.iv, legs.fwd, ratio)
    expired = legs.expiry_us <= day.ts_us
    fwd1 = np.where(expired, legs.fwd, q.fwd)
    iv1 = np.where(expired, legs.iv, q.iv)
    mark_usd = np.where(expired, _intrinsic(legs.fwd, legs.strike, legs.is_call), q.mark * q.fwd)
    tally.gross = float(np.sum(legs.qty * (mark_usd - legs.mark_usd))) + tally.hedge_pnl
    tally.fallback_quotes += int(np.sum(q.modelled & ~expired))
    years0 = (legs.expiry_us - book.ts_us) * YEARS_PER_US
    days = (day.ts_us - book.ts_us) / US_PER_DAY
    tally.greeks = attribute(legs.qty, legs.strike, legs.is_call, years0, legs.fwd, fwd1, legs.iv, iv1, days,
                             book.hedge, perp_move)
    if expired.any():
        _settle(tally, trades, day, chain.names[legs.inst[expired]], chain.asset, legs.take(expired), cfg)
    live = ~expired
    marked = replace(legs, fwd=fwd1, iv=iv1, mark_usd=mark_usd).take(live)
    return marked, q.bid[live], q.ask[live], q.mark[live]


def step(book: Book, chain: AssetChain, day: DayChain, perp: float, signal: int, cfg: OptionBacktestConfig,
         flatten: bool = False) -> tuple[Book, DayTally, list[Trade]]:
    """Advance `book` to the close of `day` (module doc); `flatten` closes everything."""
    tally, trades = DayTally(), []
    live, bid, ask, mark = _revalue(book, chain, day, perp, tally, trades, cfg)
    target = 0 if flatten else int(signal)
    kind = book.kind
    dte = (live.expiry_us.min() - day.ts_us) / US_PER_DAY if live.size else -np.inf
    reasons = ("close", "open") if kind != target else ("roll", "roll") if kind and dte < cfg.dte_min else None
    if reasons is not None:
        if live.size:
            _trade_options(tally, trades, day, chain.names[live.inst], chain.asset, -live.qty, bid, ask, mark,
                           live.fwd, reasons[0], cfg)
        live, kind = Legs.empty(), 0
        new = structure_for(target, day, cfg)
        if new is not None:
            r = new.rows
            _trade_options(tally, trades, day, chain.names[day.inst[r]], chain.asset, new.qty, day.bid[r], day.ask[r],
                           day.mark[r], day.fwd[r], reasons[1], cfg)
            live = Legs(day.inst[r], day.expiry_us[r], day.strike[r], day.is_call[r], new.qty, day.fwd[r], day.iv[r],
                        day.mark[r] * day.fwd[r])
            kind = new.kind
    option_delta = 0.0
    if live.size:
        years = (live.expiry_us - day.ts_us) * YEARS_PER_US
        option_delta = float(np.sum(live.qty * delta(live.fwd, live.strike, years, live.iv, live.is_call)))
    hedge = -option_delta if cfg.hedge else 0.0
    traded = hedge - book.hedge
    if traded != 0.0:
        tally.unit_hedge_fees = float(perp_fee_usd(traded, perp, cfg.perp_fee_rate))
        trades.append((day.date, chain.asset, f"{chain.asset}-PERPETUAL", "buy" if traded > 0 else "sell",
                       abs(traded), float("nan"), perp, cfg.cost_mult * tally.unit_hedge_fees, "hedge"))
    tally.net_delta_coin = option_delta + hedge
    return Book(kind if live.size else 0, live, hedge, day.ts_us, perp), tally, trades
