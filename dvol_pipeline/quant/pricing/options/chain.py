"""Greeks and open-interest exposures of whole Deribit chains (raw_option_chain frames).

Why one function for the whole chain: a research range is ~2 M option rows; pulling the
columns out once, running the array pricer and the implied-vol solver once, and putting
the results back is what keeps it to about a second.

Conventions:
* T = (expiry - ts) in years, ACT/365 to the microsecond; rows with T <= 0 (expired at the
  snapshot) are dropped: `chain_greeks(..., return_dropped=True)` also returns their count.
* greeks come from each option's own mark IV (mark_iv / 100) on its forward
  (underlying_price), r = 0, in the units of `quant.options` (USD; vega per vol point;
  theta, charm per day).
* price_usd = mark_price * underlying_price, the venue's mark in USD.
* iv_solved (percent) inverts price_usd: a consistency check of the mark against mark_iv
  (they differ by the mark's rounding only); null where the mark admits no vol.
* exposures are those of the option holders (the long side of the open interest; writers
  hold the opposite), 1 contract = 1 coin:
    oi_delta_coin = delta * OI                       coins of underlying
    oi_gamma_usd  = 0.5 * gamma * (0.01 F)^2 * OI    USD gained from gamma on a 1 % move
    oi_vega_usd   = vega * OI                        USD per vol point
    oi_theta_usd  = theta * OI                       USD per calendar day
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .implied_vol import implied_vol
from .pricing import greeks
from .year_fraction import to_years

ONE_PERCENT = 0.01
CHAIN_COLUMNS = (
    "asset",
    "instrument_name",
    "expiry",
    "strike",
    "option_type",
    "mark_price",
    "mark_iv",
    "underlying_price",
    "open_interest",
)
GREEK_COLUMNS = ("delta", "gamma", "vega", "theta", "rho", "vanna", "volga", "charm")


def chain_greeks(
    chain: pl.DataFrame, snapshot_col: str = "ts", return_dropped: bool = False
) -> pl.DataFrame | tuple[pl.DataFrame, int]:
    """One row per live option: snapshot, date, asset, instrument_name, expiry, strike,
    option_type, T, forward, mark_iv, iv_solved, price_usd, delta ... charm, open_interest,
    oi_delta_coin, oi_gamma_usd, oi_vega_usd, oi_theta_usd (see the module doc).

    Rows keep the input order. With `return_dropped` the result is (frame, n_expired).
    """
    needed = (snapshot_col, *CHAIN_COLUMNS)
    missing = [c for c in needed if c not in chain.columns]
    if missing:
        raise ValueError(f"option chain lacks column(s) {missing}; need {list(needed)}")
    years = to_years(pl.col("expiry") - pl.col(snapshot_col))
    frame = chain.lazy().with_columns(T=years).filter(pl.col("T") > 0).select(
        snapshot_col,
        date=pl.col(snapshot_col).dt.convert_time_zone("UTC").dt.date(),
        asset="asset",
        instrument_name="instrument_name",
        expiry="expiry",
        strike=pl.col("strike").cast(pl.Float64),
        option_type="option_type",
        T="T",
        forward=pl.col("underlying_price").cast(pl.Float64),
        mark_iv=pl.col("mark_iv").cast(pl.Float64),
        price_usd=pl.col("mark_price").cast(pl.Float64) * pl.col("underlying_price"),
        open_interest=pl.col("open_interest").cast(pl.Float64),
    ).collect()
    n_dropped = chain.height - frame.height

    F = frame["forward"].to_numpy()
    K = frame["strike"].to_numpy()
    T = frame["T"].to_numpy()
    is_call = (frame["option_type"] == "C").to_numpy()
    g = greeks(F, K, T, frame["mark_iv"].to_numpy() * ONE_PERCENT, is_call)
    iv = implied_vol(frame["price_usd"].to_numpy(), F, K, T, is_call)
    oi = frame["open_interest"].to_numpy()

    def col(name: str, values: np.ndarray) -> pl.Series:
        return pl.Series(name, values, dtype=pl.Float64, nan_to_null=True)

    solved = iv.sigma * 100.0
    out = frame.with_columns(
        col("iv_solved", solved),
        *(col(name, getattr(g, name)) for name in GREEK_COLUMNS),
        col("oi_delta_coin", g.delta * oi),
        col("oi_gamma_usd", 0.5 * g.gamma * (ONE_PERCENT * F) ** 2 * oi),
        col("oi_vega_usd", g.vega * oi),
        col("oi_theta_usd", g.theta * oi),
    ).select(
        snapshot_col,
        "date",
        "asset",
        "instrument_name",
        "expiry",
        "strike",
        "option_type",
        "T",
        "forward",
        "mark_iv",
        "iv_solved",
        "price_usd",
        *GREEK_COLUMNS,
        "open_interest",
        "oi_delta_coin",
        "oi_gamma_usd",
        "oi_vega_usd",
        "oi_theta_usd",
    )
    return (out, n_dropped) if return_dropped else out


def exposures_by_expiry(greeks_frame: pl.DataFrame, snapshot_col: str = "ts") -> pl.DataFrame:
    """Open-interest exposures per (snapshot, asset, expiry) from `chain_greeks` output.

    Columns: snapshot, date, asset, expiry, days_to_expiry, n_options, open_interest,
    net_delta_coin, net_gamma_usd, net_vega_usd, net_theta_usd, call_oi, put_oi. "net" is
    the holders' total (sum over options of the per-option exposure).
    """
    is_call = pl.col("option_type") == "C"
    return (
        greeks_frame.lazy()
        .group_by(snapshot_col, "date", "asset", "expiry")
        .agg(
            days_to_expiry=pl.col("T").first() * 365.0,
            n_options=pl.len().cast(pl.Int64),
            open_interest=pl.col("open_interest").sum(),
            net_delta_coin=pl.col("oi_delta_coin").sum(),
            net_gamma_usd=pl.col("oi_gamma_usd").sum(),
            net_vega_usd=pl.col("oi_vega_usd").sum(),
            net_theta_usd=pl.col("oi_theta_usd").sum(),
            call_oi=pl.col("open_interest").filter(is_call).sum(),
            put_oi=pl.col("open_interest").filter(~is_call).sum(),
        )
        .sort(snapshot_col, "asset", "expiry")
        .collect()
    )
