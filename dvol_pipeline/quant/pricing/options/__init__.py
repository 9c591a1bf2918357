"""Vectorised option pricing for Deribit chains: Black-76 prices, greeks, implied vols, parity.

Everything works on whole numpy arrays (or polars columns) at once; nothing loops per
option in Python. A 2 M-row chain gets its greeks and implied vols in about a second.

Units (one convention for the whole package)
--------------------------------------------
* F (forward of the expiry, Deribit's `underlying_price`) and K in USD; prices in USD.
  Deribit quotes premiums in coin: USD = coin x F (`coin_to_usd`, `usd_to_coin`).
* T in years, ACT/365 in seconds as Deribit: (expiry - ts) / SECONDS_PER_YEAR (`to_years`
  for polars durations).
* sigma a decimal (0.55 = 55 %); Deribit's mark_iv is in percent (divide by 100).
* r optional (default 0, Deribit's convention): payoffs are discounted by exp(-r T) on a
  fixed forward.
* delta dV/dF (coins per option); gamma d2V/dF2 (per USD);
  vega: value change per vol point (+0.01 of sigma), the project's only vega unit
  (dV/dsigma per unit sigma = vega / VOL_POINT);
  theta: value change for one calendar day passing (-dV/dT / 365); `exchange_theta`: Deribit's
  ticker theta, that rate x min(1, days to expiry), never below -V;
  rho: value change for +1 % of r;
  vanna: d(delta)/d(sigma) per vol point; volga: d2V/dsigma2 per (vol point)^2;
  charm: delta change for one calendar day passing (-d(delta)/dT / 365).
* `coin_delta(delta, price_coin)` = delta - price in coin: the premium-adjusted delta of a
  coin-margined option, which Deribit shows.

Usage
-----
>>> import numpy as np
>>> from dvol_pipeline.quant.pricing.options import greeks, implied_vol
>>> g = greeks(F=60_000.0, K=np.array([55_000.0, 65_000.0]), T=30 / 365, sigma=0.55, is_call=True)
>>> iv = implied_vol(g.price, 60_000.0, np.array([55_000.0, 65_000.0]), 30 / 365, True)
>>> bool(np.allclose(iv.sigma, 0.55, rtol=0, atol=1e-12)), iv.reason_names().tolist()
(True, ['ok', 'ok'])

On a raw_option_chain frame (polars):

    from dvol_pipeline.quant.pricing.options import chain_greeks, exposures_by_expiry, implied_forward
    g = chain_greeks(chain)                  # one row per option: T, forward, greeks, OI exposures
    by_expiry = exposures_by_expiry(g)       # net delta / gamma / vega / theta per expiry
    fwd = implied_forward(chain)             # put-call parity forward vs underlying_price

On any frame, with column names or expressions:

    frame = with_greeks(frame, sigma=pl.col("mark_iv") / 100, is_call="option_type")
    frame = with_implied_vol(frame, price=pl.col("mark_price") * pl.col("underlying_price"),
                             is_call="option_type")      # adds iv and iv_reason
"""

from .chain import chain_greeks, exposures_by_expiry
from .columns import with_greeks, with_implied_vol
from .implied_vol import REASONS, IVResult, implied_vol, reason_labels
from .parity import implied_forward, parity_pairs, parity_violations
from .pricing import (
    VOL_POINT,
    Greeks,
    coin_delta,
    coin_to_usd,
    delta,
    exchange_theta,
    exchange_theta_from,
    gamma,
    greeks,
    price,
    usd_to_coin,
    vega,
)
from .year_fraction import DAYS_PER_YEAR, SECONDS_PER_YEAR, YEARS_PER_US, to_years

__all__ = [
    "DAYS_PER_YEAR",
    "REASONS",
    "SECONDS_PER_YEAR",
    "VOL_POINT",
    "YEARS_PER_US",
    "Greeks",
    "IVResult",
    "chain_greeks",
    "coin_delta",
    "coin_to_usd",
    "delta",
    "exchange_theta",
    "exchange_theta_from",
    "exposures_by_expiry",
    "gamma",
    "greeks",
    "implied_forward",
    "implied_vol",
    "parity_pairs",
    "parity_violations",
    "price",
    "reason_labels",
    "to_years",
    "usd_to_coin",
    "vega",
    "with_greeks",
    "with_implied_vol",
]
