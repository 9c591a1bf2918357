"""Put-call parity on Deribit chains: the forward the option prices imply, and violations.

Why: with r = 0 on the expiry's forward, C - P = F - K holds exactly for any model, so each
call/put pair on one strike gives an estimate F = K + C - P. Comparing it with the venue's
`underlying_price` checks that a chain's prices and its forward agree (stale marks, a wrong
forward or swapped option types show up here first).

Prices are in USD: coin premium x `underlying_price` (1 contract = 1 coin). `price="mid"`
takes (bid + ask) / 2 where both sides are quoted and the mark otherwise; `price="mark"`
takes the mark only.

Robustness: `implied_forward` keeps the `n_nearest` strikes closest to the quoted forward
(smallest |ln(K / F)|) and takes the median of their pair forwards. Near-the-money pairs
have both legs worth real money, so tick rounding and stale far wings hardly move them, and
the median ignores a single bad pair.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

KEYS = ["ts", "asset", "expiry"]
_NEEDED = ["ts", "asset", "expiry", "strike", "option_type", "mark_price", "underlying_price"]


def _check(chain: pl.DataFrame, price: str) -> None:
    needed = _NEEDED + (["bid", "ask"] if price == "mid" else [])
    missing = [c for c in needed if c not in chain.columns]
    if missing:
        raise ValueError(f"option chain lacks column(s) {missing}; need {needed}")
    if price not in ("mid", "mark"):
        raise ValueError(f"price must be 'mid' or 'mark', got {price!r}")


def parity_pairs(chain: pl.DataFrame, price: Literal["mid", "mark"] = "mid") -> pl.DataFrame:
    """One row per (ts, asset, expiry, strike) quoted on both sides.

    Columns: ts, asset, expiry, strike, call_usd, put_usd, quoted_forward (the pair's
    underlying_price), pair_forward (K + C - P), gap_usd (C - P - (F - K)), rel_gap
    (gap_usd / quoted_forward), moneyness (ln(K / F)).
    """
    _check(chain, price)
    coin = pl.col("mark_price")
    if price == "mid":
        both = pl.col("bid").is_not_null() & pl.col("ask").is_not_null()
        coin = pl.when(both).then(0.5 * (pl.col("bid") + pl.col("ask"))).otherwise(coin)
    usd = coin * pl.col("underlying_price")
    legs = chain.lazy().select(
        *KEYS,
        "strike",
        is_call=pl.col("option_type") == "C",
        usd=usd,
        forward=pl.col("underlying_price"),
    )
    calls = legs.filter(pl.col("is_call")).select(*KEYS, "strike", call_usd="usd", call_fwd="forward")
    puts = legs.filter(~pl.col("is_call")).select(*KEYS, "strike", put_usd="usd", put_fwd="forward")
    gap = pl.col("call_usd") - pl.col("put_usd") - (pl.col("quoted_forward") - pl.col("strike"))
    return (
        calls.join(puts, on=[*KEYS, "strike"], how="inner")
        .drop_nulls(["call_usd", "put_usd"])
        .select(
            *KEYS,
            "strike",
            "call_usd",
            "put_usd",
            quoted_forward=0.5 * (pl.col("call_fwd") + pl.col("put_fwd")),
        )
        .with_columns(
            pair_forward=pl.col("strike") + pl.col("call_usd") - pl.col("put_usd"),
            gap_usd=gap,
            moneyness=(pl.col("strike") / pl.col("quoted_forward")).log(),
        )
        .with_columns(rel_gap=pl.col("gap_usd") / pl.col("quoted_forward"))
        .sort([*KEYS, "strike"])
        .collect()
    )


def implied_forward(chain: pl.DataFrame, n_nearest: int = 4, price: Literal["mid", "mark"] = "mid") -> pl.DataFrame:
    """Forward implied by put-call parity per (ts, asset, expiry).

    Columns: ts, asset, expiry, forward (median of the `n_nearest` pair forwards closest to
    the money), quoted_forward (median underlying_price of the expiry's rows), rel_diff
    (forward / quoted_forward - 1), n_pairs (pairs used), n_pairs_total (pairs available).
    Expiries without any call/put pair are left out.
    """
    if n_nearest < 1:
        raise ValueError(f"n_nearest must be at least 1, got {n_nearest}")
    pairs = parity_pairs(chain, price)
    quoted = chain.lazy().group_by(KEYS).agg(quoted_forward=pl.col("underlying_price").median())
    ranked = pairs.lazy().with_columns(
        rank=pl.col("moneyness").abs().rank("ordinal").over(KEYS),
        n_pairs_total=pl.len().over(KEYS).cast(pl.Int64),
    )
    return (
        ranked.filter(pl.col("rank") <= n_nearest)
        .group_by(KEYS)
        .agg(
            forward=pl.col("pair_forward").median(),
            n_pairs=pl.len().cast(pl.Int64),
            n_pairs_total=pl.col("n_pairs_total").first(),
        )
        .join(quoted, on=KEYS, how="left")
        .with_columns(rel_diff=pl.col("forward") / pl.col("quoted_forward") - 1.0)
        .select(*KEYS, "forward", "quoted_forward", "rel_diff", "n_pairs", "n_pairs_total")
        .sort(KEYS)
        .collect()
    )


def parity_violations(chain: pl.DataFrame, tol: float = 1e-3, price: Literal["mid", "mark"] = "mid") -> pl.DataFrame:
    """Pairs whose parity gap exceeds `tol` of the forward: |C - P - (F - K)| > tol * F.

    Same columns as `parity_pairs`, worst first. tol = 1e-3 is 10 bp of the forward, about
    ten Deribit ticks (0.0001 coin) per leg: marks off by more are not rounding.
    """
    pairs = parity_pairs(chain, price)
    return pairs.filter(pl.col("rel_gap").abs() > tol).sort(
        pl.col("rel_gap").abs(), *KEYS, "strike", descending=[True, False, False, False, False]
    )
