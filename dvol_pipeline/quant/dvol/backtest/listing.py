"""DVOL futures as listed: expiries, rolls, a basis to the index, and nothing before listing.

The contract (as modelled; `ListedFutures` holds every number):

* underlying: Deribit's DVOL index of the coin; cash-settled at expiry on the index, so a
  future converges to DVOL at its expiry (08:00 UTC, Deribit's expiry time for every
  product: deribit.com/docs/contract-specifications, and the Introduction Policy's expiry
  calendar);
* expiries: the last Friday of each month at 08:00 UTC (`cycle="monthly"`), or every Friday
  (`cycle="weekly"`); only contracts expiring on or after the coin's listing day exist;
* listing: BTC DVOL futures trade since March 2023 (MARKET_FACTS.md). The first trading day
  is configuration (`listing`, default 2023-03-01 for BTC and, as an unverified assumption
  since no source here dates it, ETH); no position is held before it, and a coin without a
  listing date never trades;
* P&L: USD `multiplier_usd` per index point per contract (config.py), on the held contract's
  price change; one holds the nearest contract that does not expire before the next close,
  so the position rolls at the close of the day before each expiry (8 hours before it,
  where the basis has all but converged), paying the costs of closing the old contract and
  opening the new one.

Price. No DVOL futures history is in the lake, so the futures price is the fair value
implied by the option surface of the day (`surf_atm_7d/30d/60d/90d`, constant-maturity ATM
vols in vol points): a future expiring in tau days settles on the 30-day implied vol seen
then, whose forward today is the forward vol over (tau, tau + 30] from the ATM total
variance w(x) = sigma(x)^2 x (linear in x between the tenors, flat vol beyond 90 days):

    F = DVOL x sqrt((w(tau + 30) - w(tau)) / 30) / sigma(30)

So F -> DVOL as tau -> 0, F > DVOL when the term structure slopes up (contango) and
F < DVOL when it is inverted. The ratio to the ATM vol carries the surface's shape onto
the index (DVOL is not exactly the 30-day ATM vol: it includes the smile). Days whose
surface is missing reuse the coin's last one; with no surface at all the basis is zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl

TERM_COLUMNS = ("surf_atm_7d", "surf_atm_30d", "surf_atm_60d", "surf_atm_90d")
TENORS = np.array([7.0, 30.0, 60.0, 90.0])
DVOL_TENOR_DAYS = 30.0
EXPIRY_DAY_FRACTION = 8.0 / 24.0
"""Expiry at 08:00 UTC: a contract expiring on day E has E - t - 1 + 1/3 days left at t's close."""


@dataclass(frozen=True)
class ListedFutures:
    """The listed DVOL futures contract and its roll (see the module doc for sources)."""

    listing: dict[str, str] = field(default_factory=lambda: {"BTC": "2023-03-01", "ETH": "2023-03-01"})
    """coin -> first trading day (ISO date); a coin missing here has no listed futures."""
    cycle: str = "monthly"
    """'monthly' (last Friday of each month) or 'weekly' (every Friday), 08:00 UTC."""
    basis: str = "term_structure"
    """'term_structure' (fair value from the surface) or 'none' (the future is the index)."""

    def __post_init__(self) -> None:
        if self.cycle not in ("monthly", "weekly"):
            raise ValueError(f"ListedFutures.cycle must be 'monthly' or 'weekly', got {self.cycle!r}")
        if self.basis not in ("term_structure", "none"):
            raise ValueError(f"ListedFutures.basis must be 'term_structure' or 'none', got {self.basis!r}")
        for coin in self.listing:
            self.listing_day(coin)

    def listing_day(self, coin: str) -> date | None:
        """The coin's first trading day (None: not listed)."""
        day = self.listing.get(coin)
        if day is None or isinstance(day, date):
            return day
        try:
            return date.fromisoformat(day)
        except ValueError:
            raise ValueError(f"ListedFutures.listing[{coin!r}] = {day!r} is not an ISO date (YYYY-MM-DD)") from None


def expiries(first: date, last: date, cycle: str = "monthly") -> np.ndarray:
    """Expiry days (datetime64[D]) from the first one on or after `first` through the one held
    at `last`'s close (the first on or after last + 2 days)."""
    days = np.arange(np.datetime64(first, "D"), np.datetime64(last, "D") + 70)
    if len(days) == 0:
        return days
    friday = ((days.astype("int64") + 3) % 7) == 4  # 1970-01-01 was a Thursday: +3 makes Monday 0
    out = days[friday]
    if cycle == "monthly":
        months = out.astype("datetime64[M]")
        out = out[np.append(months[1:] != months[:-1], True)]
    keep = np.searchsorted(out, np.datetime64(last, "D") + 2, side="left") + 1  # through the one held at `last`
    return out[:keep]


def held_expiry(days: np.ndarray, listed: np.ndarray) -> np.ndarray:
    """The contract held from each day's close to the next: the first expiry on or after day + 2
    (one expiring on day + 1 at 08:00 would settle before the next close)."""
    idx = np.searchsorted(listed, days + np.timedelta64(2, "D"), side="left")
    return listed[np.minimum(idx, len(listed) - 1)]


def total_variance(term: np.ndarray, x: np.ndarray) -> np.ndarray:
    """ATM total variance (decimal vol^2 x days) at `x` days from rows of [sigma7, 30, 60, 90] in vol points."""
    sig = term / 100.0
    w_nodes = np.concatenate([np.zeros((len(term), 1)), sig**2 * TENORS], axis=1)
    nodes = np.concatenate([[0.0], TENORS])
    x = np.broadcast_to(np.asarray(x, float), (len(term),))
    j = np.clip(np.searchsorted(nodes, x, side="right") - 1, 0, len(nodes) - 2)
    rows = np.arange(len(term))
    x0, x1 = nodes[j], nodes[j + 1]
    inside = w_nodes[rows, j] + (w_nodes[rows, j + 1] - w_nodes[rows, j]) * (x - x0) / (x1 - x0)
    beyond = sig[:, -1] ** 2 * x
    return np.where(x > TENORS[-1], beyond, inside)


def fair_ratio(term: np.ndarray, tau_days: np.ndarray) -> np.ndarray:
    """F / DVOL for `tau_days` to expiry from each row's ATM term structure (1 where unknown)."""
    tau = np.maximum(np.asarray(tau_days, float), 0.0)
    fwd_var = (total_variance(term, tau + DVOL_TENOR_DAYS) - total_variance(term, tau)) / DVOL_TENOR_DAYS
    atm30 = term[:, 1] / 100.0
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.sqrt(np.maximum(fwd_var, 0.0)) / atm30
    return np.where(np.isfinite(ratio) & (ratio > 0), ratio, 1.0)


def futures_marks(market: pl.DataFrame, spec: ListedFutures) -> pl.DataFrame:
    """Per (date, asset): the held contract's expiry, its price at t and at t+1, the change
    earned over (t, t+1], whether the position rolls at t's close, and whether it may trade.

    `market`: date, asset, dvol (and the TERM_COLUMNS when spec.basis is 'term_structure').
    Rows without a next-day DVOL have a null change (as the index model)."""
    frame = market.sort("asset", "date")
    have_term = spec.basis == "term_structure" and all(c in frame.columns for c in TERM_COLUMNS)
    term_cols = [pl.col(c).cast(pl.Float64).forward_fill().over("asset") for c in TERM_COLUMNS] if have_term else []
    frame = frame.select("date", "asset", pl.col("dvol").cast(pl.Float64), *term_cols)
    nxt = frame.select((pl.col("date") - pl.duration(days=1)).alias("date"), "asset",
                       pl.all().exclude("date", "asset").name.suffix("_next"))
    frame = frame.join(nxt, on=["date", "asset"], how="left")
    parts = []
    for (asset,), part in frame.group_by("asset", maintain_order=True):
        days = part["date"].to_numpy().astype("datetime64[D]")
        listing = spec.listing_day(asset)
        if listing is None or len(days) == 0 or np.datetime64(listing, "D") > days[-1]:
            tradable = np.zeros(len(days), bool)
            held = np.full(len(days), np.datetime64("NaT"), "datetime64[D]")
        else:
            listed = expiries(max(listing, days[0].astype(date)), days[-1].astype(date), spec.cycle)
            held = held_expiry(days, listed)
            tradable = days >= np.datetime64(listing, "D")
        tau0 = (held - days).astype(float) - 1.0 + EXPIRY_DAY_FRACTION
        if have_term:
            r0 = fair_ratio(part.select(TERM_COLUMNS).to_numpy(), tau0)
            r1 = fair_ratio(part.select([f"{c}_next" for c in TERM_COLUMNS]).to_numpy(), tau0 - 1.0)
        else:
            r0 = r1 = np.ones(len(days))
        price = part["dvol"].to_numpy() * r0
        price_next = part["dvol_next"].to_numpy() * r1
        roll = np.concatenate([[False], held[1:] != held[:-1]]) & tradable
        parts.append(part.select("date", "asset").with_columns(
            contract_expiry=pl.Series(np.where(tradable, held, np.datetime64("NaT")), dtype=pl.Date),
            futures_price=pl.Series(price, dtype=pl.Float64),
            change=pl.Series(price_next - price, dtype=pl.Float64).fill_nan(None),
            roll=pl.Series(roll), tradable=pl.Series(tradable),
        ))
    return pl.concat(parts) if parts else pl.DataFrame(
        schema={"date": pl.Date, "asset": pl.Utf8, "contract_expiry": pl.Date, "futures_price": pl.Float64,
                "change": pl.Float64, "roll": pl.Boolean, "tradable": pl.Boolean})
