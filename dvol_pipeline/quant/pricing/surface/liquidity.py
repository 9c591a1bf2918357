"""Which end-of-day quotes are good enough to fit a smile to.

Why a filter at all: a raw chain lists every strike, but far wings carry a one-tick bid
(or none), short expiries are dominated by the overnight gap, and in-the-money options
repeat the out-of-the-money information with wider spreads. Fitting to those points
bends the smile where nobody trades.

Rules (`LiquidityRules`), each row gets the FIRST failing reason, checked in this order:

* ``missing_mark``: no usable mark (mark_iv or underlying_price null / not positive);
* ``expiry_too_close``: fewer than `min_days` days to expiry (the last day of an option is
  mostly jump risk and time-of-day noise, not a smile);
* ``in_the_money``: the smile uses out-of-the-money options only: calls with K >= F, puts
  with K < F (`otm_only`);
* ``no_two_sided_quote``: bid or ask missing, or bid <= 0;
* ``stale_quote``: the quote no longer describes the market. With only end-of-day columns
  available, "stale" means either (a) the venue's mark, which Deribit re-computes every
  second, lies outside the quote widened by `stale_mark_band` spreads on either side (the
  resting orders were left behind by a move), or (b) the option did not trade in the day
  (volume == 0) AND open interest is below `untraded_min_open_interest` (nobody has a
  position to defend, so the quote is an untested resting order);
* ``wide_spread``: (ask - bid) / mid > `max_rel_spread`;
* ``low_open_interest``: open_interest < `min_open_interest`;
* ``thin_expiry``: the row passed every rule but its (ts, asset, expiry) kept fewer than
  `min_points_per_expiry` quotes, too few for a five-parameter SVI fit.

Defaults were read off the demo lake (/tmp/fulllake, 2021-03..2024-12, ~60 rows per
expiry): out-of-the-money two-sided quotes have a median relative spread of 3 % at the
money, 30 % two standard deviations out and 100 %+ beyond (tick-bound premia). A 50 % cap
keeps ~73 % of the OTM quotes with >= 1 day left, median 22 points per expiry, never fewer
than 10; open interest below one contract is rare (< 1 %) and is dust.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from dvol_pipeline.quant.pricing.options.year_fraction import to_years

SLICE_KEYS = ["ts", "asset", "expiry"]
REQUIRED_COLUMNS = [
    "ts", "asset", "expiry", "strike", "option_type", "bid", "ask", "mark_price", "mark_iv",
    "underlying_price", "open_interest", "volume",
]
REASONS = (
    "missing_mark", "expiry_too_close", "in_the_money", "no_two_sided_quote", "stale_quote",
    "wide_spread", "low_open_interest", "thin_expiry",
)
DROPPED_COLUMNS = ["date", "ts", "asset", "expiry", "strike", "option_type", "reason"]


@dataclass(frozen=True)
class LiquidityRules:
    """Thresholds of the smile filter (see the module doc for what each one guards)."""

    min_days: float = 1.0
    max_rel_spread: float = 0.5
    min_open_interest: float = 1.0
    stale_mark_band: float = 0.5
    """The mark may sit outside [bid, ask] by at most this many spreads before the quote is stale."""
    untraded_min_open_interest: float = 10.0
    min_points_per_expiry: int = 6
    otm_only: bool = True


def _reason(rules: LiquidityRules) -> pl.Expr:
    bid, ask, mark = pl.col("bid"), pl.col("ask"), pl.col("mark_price")
    spread = ask - bid
    mid = (ask + bid) * 0.5
    is_call = pl.col("option_type") == "C"
    otm = pl.when(is_call).then(pl.col("strike") >= pl.col("underlying_price")).otherwise(
        pl.col("strike") < pl.col("underlying_price")
    )
    band = rules.stale_mark_band * spread
    stale = ((mark < bid - band) | (mark > ask + band)).fill_null(False) | (
        (pl.col("volume").fill_null(0.0) <= 0.0)
        & (pl.col("open_interest").fill_null(0.0) < rules.untraded_min_open_interest)
    )
    checks = [
        ("missing_mark", pl.col("mark_iv").is_null() | pl.col("underlying_price").is_null()
         | ~(pl.col("mark_iv") > 0) | ~(pl.col("underlying_price") > 0) | pl.col("mark_iv").is_nan()),
        ("expiry_too_close", pl.col("T") * 365.0 < rules.min_days),
        ("in_the_money", ~otm if rules.otm_only else pl.lit(False)),
        ("no_two_sided_quote", bid.is_null() | ask.is_null() | ~(bid > 0) | ~(ask >= bid)),
        ("stale_quote", stale),
        ("wide_spread", spread > rules.max_rel_spread * mid),
        ("low_open_interest", pl.col("open_interest").fill_null(0.0) < rules.min_open_interest),
    ]
    expr = pl.when(checks[0][1]).then(pl.lit(checks[0][0]))
    for name, cond in checks[1:]:
        expr = expr.when(cond.fill_null(True)).then(pl.lit(name))
    return expr.otherwise(pl.lit(None, dtype=pl.String))


def filter_quotes(
    chain: pl.DataFrame | pl.LazyFrame, rules: LiquidityRules = LiquidityRules()
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a raw_option_chain (many days, both assets) into smile points and rejects.

    Returns (kept, dropped). `kept` has the chain columns plus date, T (years),
    days_to_expiry, k = ln(K/F), iv (decimal, from mark_iv) and mid (coin), sorted by
    asset, ts, expiry, strike. `dropped` has date, ts, asset, expiry, strike, option_type,
    reason (one of `REASONS`).
    """
    lf = chain.lazy()
    names = lf.collect_schema().names()
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise ValueError(f"option chain lacks column(s) {missing}; need {REQUIRED_COLUMNS}")
    tagged = (
        lf.with_columns(
            date=pl.col("ts").dt.date(),
            T=to_years(pl.col("expiry") - pl.col("ts")),
            bid=pl.col("bid").fill_nan(None),
            ask=pl.col("ask").fill_nan(None),
        )
        .with_columns(reason=_reason(rules))
        .with_columns(
            n_ok=pl.col("reason").is_null().sum().over(SLICE_KEYS),
        )
        .with_columns(
            reason=pl.when(pl.col("reason").is_null() & (pl.col("n_ok") < rules.min_points_per_expiry))
            .then(pl.lit("thin_expiry"))
            .otherwise(pl.col("reason"))
        )
        .drop("n_ok")
        .collect()
    )
    dropped = tagged.filter(pl.col("reason").is_not_null()).select(DROPPED_COLUMNS).sort(
        ["asset", "ts", "expiry", "strike", "option_type"]
    )
    kept = (
        tagged.filter(pl.col("reason").is_null())
        .drop("reason")
        .with_columns(
            days_to_expiry=pl.col("T") * 365.0,
            k=(pl.col("strike") / pl.col("underlying_price")).log(),
            iv=pl.col("mark_iv") * 0.01,
            mid=(pl.col("bid") + pl.col("ask")) * 0.5,
        )
        .sort(["asset", "ts", "expiry", "strike", "option_type"])
    )
    return kept, dropped


def drop_counts(dropped: pl.DataFrame) -> pl.DataFrame:
    """Rejected quotes per reason (reason, n), in the order the rules are checked."""
    order = pl.DataFrame({"reason": list(REASONS), "order": list(range(len(REASONS)))})
    return (
        dropped.group_by("reason")
        .agg(n=pl.len())
        .join(order, on="reason", how="left")
        .sort("order")
        .select("reason", "n")
    )
