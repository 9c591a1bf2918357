"""Calibration of the simulated limit-order-book market, in one place.

Why one module: each number below was tuned so the stylised facts tested in
`dvol_pipeline_tests/sources/micro/test_simulated_facts.py` land in their bands (see
docs/micro/simulated.md); a re-calibration is a one-file change. Units: prices in ticks
inside the engine, sizes in lots (integers, so a level of size 0 is exactly empty),
rates per second at activity 1 (the intraday cycle multiplies them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

VENUES = ("sim_spot", "sim_usdm")
PERP_VENUES = ("sim_usdm",)


@dataclass(frozen=True)
class CoinSpec:
    """One coin's instrument: grid, lot, typical order size, and its link to the daily market."""

    coin_id: int
    tick_bps: float
    """Price grid as a share of the day's opening price (bps), rounded to 2 significant figures per day:
    coarser than Binance's (see docs: a day must carry its volatility in 1-2 M rows, and the daily market's
    price wanders over a factor of several, so a fixed grid would change the book's character with it)."""
    lot: float
    """Size grid (base units)."""
    order_size: float
    """Median limit / market order size (base units)."""
    fallback_price: float
    """Start price when the day lies outside the daily market (no anchor)."""
    beta_btc: float = 0.0
    """SOL: log-return loading on BTC's 1-second path (no daily path of its own)."""
    own_vol_ratio: float = 0.0
    """SOL: idiosyncratic 1-second sd as a multiple of BTC's."""
    open_interest: float = 1.0
    """Typical perpetual open interest (base units)."""


COIN_SPECS: dict[str, CoinSpec] = {
    "BTC": CoinSpec(coin_id=1, tick_bps=1.5, lot=0.001, order_size=0.25, fallback_price=55_000.0, open_interest=80_000.0),
    "ETH": CoinSpec(coin_id=2, tick_bps=1.9, lot=0.001, order_size=4.0, fallback_price=1_700.0, open_interest=1_500_000.0),
    "SOL": CoinSpec(coin_id=3, tick_bps=2.3, lot=0.01, order_size=60.0, fallback_price=100.0, beta_btc=1.25,
                    own_vol_ratio=0.95, open_interest=8_000_000.0),
}

# UTC hour-of-day activity (event rates): Asia night quiet, EU open, US hours busiest.
_HOURS = np.arange(24) + 0.5
ACTIVITY = 0.75 + 0.55 * np.exp(-(((_HOURS - 15.0) / 3.5) ** 2)) + 0.25 * np.exp(-(((_HOURS - 8.5) / 2.0) ** 2))
ACTIVITY = ACTIVITY / ACTIVITY.mean()


@dataclass(frozen=True)
class SimConfig:
    """Knobs of `simulate_ticks`; defaults are the calibrated market."""

    intensity: float = 1.0
    """Multiplier of every event rate (a demo runs lighter with 0.2); the facts are calibrated at 1."""
    daily_seed: int = 20210324
    """Seed of the daily simulated market (sources/simulated) whose hourly BTC/ETH path anchors the day."""
    daily_start: tuple[int, int, int] = (2021, 3, 24)
    """First day of that daily market; days before it run unanchored from `CoinSpec.fallback_price`."""
    levels: int = 60
    """Levels a side where limit orders arrive (snapshots carry every level, up to `max_depth`)."""
    max_depth: int = 120
    """Levels beyond this many ticks from the best are pulled (a venue's depth stream keeps ~100s)."""
    mm_activity_power: float = 2.0
    """Limit and cancel rates follow activity^power (normalised): market makers crowd into the busy
    hours, so quiet hours refill the best quotes more slowly (wider spreads at night)."""
    limit_rate: float = 14.0
    cancel_rate: float = 9.5
    noise_mo_rate: float = 0.5
    informed_rate: float = 3.0
    """Informed market orders per second when the book lags the fair price by >= `informed_cap` ticks."""
    informed_cap: float = 1.5
    join_queue_ref: float = 2.0
    """Queue-reactive joining: a limit order aimed at a non-empty fair quote of q lots joins it with
    probability 1 / (1 + q / (join_queue_ref x median order)), else steps one tick behind."""
    limit_size_sd: float = 0.8
    """sd of log limit-order size."""
    mo_size_ratio: float = 0.15
    """Median market order (noise, informed, child) as a share of the median limit order."""
    stale_cancel: float = 0.6
    """Share of cancels that pull a stale best quote (one on the wrong side of the fair price)."""
    add_decay: float = 2.5
    """Limit orders arrive k ticks behind the fair quote with weight (k+1)^-add_decay."""
    deep_share: float = 0.1
    """Share of limit orders placed uniformly over the `levels` (keeps ~50 levels a side populated)."""
    cancel_decay: float = 0.3
    """Cancels hit the level k ticks behind the side's best with weight (k+1)^-cancel_decay (flatter than adds:
    the queue at the best is the most patient, so depth peaks near the top)."""
    cancel_fraction: float = 0.5
    meta_rate: float = 1.0
    """Metaorders started per second (each split into child market orders: Lillo-Farmer)."""
    meta_alpha: float = 1.5
    """Pareto tail of the number of children (sign autocorrelation ~ lag^-(alpha-1))."""
    meta_max_children: int = 3000
    child_gap_s: float = 1.0
    meta_impact_bps: float = 0.1
    """Impact of a metaorder after n children: meta_impact_bps * sqrt(n) (square-root law)."""
    impact_halflife_s: float = 300.0
    coin_corr: float = 0.9
    """Loading of BTC's and ETH's 1-second shocks on the market-wide shock (the daily market's RET_CORR is 0.91)."""
    intraday_volvol: float = 0.5
    """sd of the minute-level log-vol OU inside each hour (fat-tailed 1-minute returns)."""
    intraday_vol_halflife_s: float = 900.0
    momentum: float = 0.08
    """AR(1) of the fair price's 1-second increments: the small, short-lived predictability."""
    basis_noise_bps: float = 0.6
    basis_halflife_s: float = 120.0
    liq_base_per_hour: float = 1.0
    liq_max_rate: float = 1.0
    """Cap of the liquidation intensity (per second)."""
    liq_sensitivity: float = 2.5
    """Liquidation intensity x exp(liq_sensitivity * excess |1-min move| in sds)."""
    liq_branching: float = 0.6
    liq_halflife_s: float = 20.0
    liq_size_mult: float = 8.0
    liq_impact_bps: float = 0.5
    latency_ms: float = 2.5
    """Median collector latency (lognormal, sd 0.4 of log), before the clock skew."""
    clock_skew_ms: float = 1.5
    """Constant offset of the collector's clock (ts_local - true receive time)."""
    snapshot_latency_ms: float = 250.0
    """A REST depth snapshot arrives this much after the instant it describes (after the next diffs)."""
    message_ms: int = 100
    """Depth diff messages bundle 100 ms (Binance depth@100ms)."""
    coins: dict[str, CoinSpec] = field(default_factory=lambda: dict(COIN_SPECS))
