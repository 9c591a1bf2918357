"""Execution prices and Deribit fees, vectorised over legs.

Why costs are linear in `cost_mult`: every cost is "multiplier x a cost measured at the
real quotes" (price = mark ± mult x half-spread, fee = mult x venue fee at the quoted
price), so the cost-sensitivity table is exact from one run (net(m) = gross − m x cost(1))
and a stress multiplier never changes which positions are held.

Missing quotes (documented fallback, counted by the caller): a side that is not quoted
mirrors the quoted side's distance to mark; with neither side quoted the half-spread is
`fallback_half_spread_frac` x mark, at least one tick. Half-spreads are clipped at zero (a
mark outside the book is not a free gain), and a sell half-spread at mark (no sale below
zero at the real quotes).
"""

from __future__ import annotations

import numpy as np

BUY, SELL = 1.0, -1.0


def half_spreads(
    bid: np.ndarray, ask: np.ndarray, mark: np.ndarray, frac: float, tick: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(buy half-spread, sell half-spread, buy used a fallback, sell used a fallback), coin."""
    bid, ask, mark = (np.asarray(a, float) for a in (bid, ask, mark))
    has_bid, has_ask = np.isfinite(bid), np.isfinite(ask)
    up = np.where(has_ask, ask - mark, np.nan)
    down = np.where(has_bid, mark - bid, np.nan)
    blind = np.maximum(frac * mark, tick)
    buy = np.where(has_ask, up, np.where(has_bid, down, blind))
    sell = np.where(has_bid, down, np.where(has_ask, up, blind))
    buy, sell = np.maximum(buy, 0.0), np.clip(sell, 0.0, np.maximum(mark, 0.0))
    return buy, sell, ~has_ask, ~has_bid


def execution(
    side: np.ndarray, bid: np.ndarray, ask: np.ndarray, mark: np.ndarray, frac: float, tick: float, mult: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(price at `mult`, price at the real quotes, used a fallback) per leg; side +1 buy, −1 sell.

    At mult = 1 a buy pays the ask and a sell receives the bid.
    """
    buy_hs, sell_hs, buy_fb, sell_fb = half_spreads(bid, ask, mark, frac, tick)
    is_buy = np.asarray(side) > 0
    hs = np.where(is_buy, buy_hs, sell_hs)
    sign = np.where(is_buy, 1.0, -1.0)
    quoted = mark + sign * hs
    return mark + sign * mult * hs, quoted, np.where(is_buy, buy_fb, sell_fb)


def option_fee_coin(qty: np.ndarray, price_coin: np.ndarray, rate: float, cap: float) -> np.ndarray:
    """Deribit option trade fee in coin: `rate` per contract, at most `cap` x the premium."""
    per_contract = np.minimum(rate, cap * np.maximum(np.asarray(price_coin, float), 0.0))
    return np.abs(np.asarray(qty, float)) * per_contract


def perp_fee_usd(traded_coin: np.ndarray, perp_price: np.ndarray, rate: float) -> np.ndarray:
    """Taker fee on a perpetual hedge trade: `rate` x traded notional."""
    return rate * np.abs(np.asarray(traded_coin, float)) * np.asarray(perp_price, float)
