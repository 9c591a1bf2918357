"""pandera (polars) schemas for the raw tables: dtypes, nulls and the row rules.

Built from the table registry so a column is declared once. Each rule's `error` text is
what a user reads in the quarantine `reason` column and in the check's metadata.

Option quotes: a missing (null) or zero bid is kept, because far out-of-the-money options
often have nobody bidding and Deribit shows exactly that; the smile filter
(quant/pricing/surface/liquidity.py) leaves such rows out of fits. A negative bid, a zero or
negative ask and a crossed quote (bid > ask, which one order book cannot show: the
snapshot was stitched from two instants) are quarantined; crossed quotes are a tolerated
reason (TableSpec.tolerated_reasons): up to 0.1 % of a batch they do not fail the contract.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from dvol_pipeline.contracts.tables import CROSSED_QUOTE, RAW_TABLES, UNIVERSE_RAW_TABLES, TableSpec

IV_RANGE = (1.0, 500.0)
"""Implied vol in percent outside this range is not a market quote, it is a bug."""
MAX_FUNDING_PER_INTERVAL = 0.05
"""5 % per funding interval is far beyond any exchange's cap (Binance caps at 3 %/8h)."""


def _frame_rule(expr: pl.Expr, error: str) -> pa.Check:
    """A row-wise rule over several columns; a null comparison counts as passing."""
    return pa.Check(lambda data: data.lazyframe.select(expr.fill_null(True)), error=error)


def _ohlc_rules(prefix: str = "") -> list[pa.Check]:
    o, h, low, c = (pl.col(prefix + n) for n in ("open", "high", "low", "close"))
    return [
        _frame_rule(low <= pl.min_horizontal(o, c), "OHLC: low must be <= open and close"),
        _frame_rule(h >= pl.max_horizontal(o, c), "OHLC: high must be >= open and close"),
    ]


def _positive(error: str = "must be > 0") -> pa.Check:
    return pa.Check.gt(0, error=error)


def _non_negative(error: str = "must be >= 0") -> pa.Check:
    return pa.Check.ge(0, error=error)


_ASSET = pa.Check.str_matches(r"^[A-Z0-9]{2,10}$", error="asset must be an upper-case coin code")
_IV = pa.Check.in_range(*IV_RANGE, error=f"IV must be within {IV_RANGE} percent")

COLUMN_RULES: dict[str, dict[str, list[pa.Check]]] = {
    "raw_dvol": {
        "asset": [_ASSET],
        **{c: [_IV] for c in ("open", "high", "low", "close")},
    },
    "raw_ohlcv": {
        "asset": [_ASSET],
        "kind": [pa.Check.isin(["spot", "perpetual"], error="kind must be spot or perpetual")],
        "interval": [pa.Check.isin(["1h", "1d"], error="interval must be 1h or 1d")],
        **{c: [_positive("price must be > 0")] for c in ("open", "high", "low", "close")},
        "volume": [_non_negative()],
        "volume_quote": [_non_negative()],
        "trade_count": [_non_negative()],
    },
    "raw_funding": {
        "asset": [_ASSET],
        "interval_hours": [pa.Check.isin([1, 8, 24], error="interval_hours must be 1, 8 or 24")],
        "rate": [
            pa.Check.in_range(
                -MAX_FUNDING_PER_INTERVAL,
                MAX_FUNDING_PER_INTERVAL,
                error=f"|rate| must be <= {MAX_FUNDING_PER_INTERVAL} (a fraction, not percent)",
            )
        ],
    },
    "raw_option_chain": {
        "asset": [_ASSET],
        "option_type": [pa.Check.isin(["C", "P"], error="option_type must be C or P")],
        "strike": [_positive("strike must be > 0")],
        "bid": [_non_negative("bid must be >= 0")],
        "ask": [_positive("ask must be > 0")],
        "mark_price": [_non_negative("mark_price must be >= 0")],
        "mark_iv": [_IV],
        "underlying_price": [_positive("underlying_price must be > 0")],
        "open_interest": [_non_negative()],
        "volume": [_non_negative()],
    },
    "raw_options_summary": {
        "asset": [_ASSET],
        "net_vega": [_non_negative()],
        "avg_iv": [_IV],
        "volume": [_non_negative()],
        "open_interest": [_non_negative()],
    },
    "raw_universe_daily": {
        "symbol": [pa.Check.str_matches(r"^[A-Z0-9]{1,15}$", error="symbol must be an upper-case ticker")],
        "source": [pa.Check.isin(["cdd", "cmc", "simulated"], error="source must be cdd, cmc or simulated")],
        **{c: [_positive("price must be > 0")] for c in ("open", "high", "low", "close")},
        **{c: [_non_negative()] for c in ("volume", "volume_quote", "market_cap")},
    },
    "raw_onchain": {
        "asset": [_ASSET],
        "tx_count": [_non_negative()],
        "fees": [_non_negative()],
        "hashrate": [_non_negative()],
    },
}

FRAME_RULES: dict[str, list[pa.Check]] = {
    "raw_dvol": _ohlc_rules(),
    "raw_ohlcv": _ohlc_rules(),
    "raw_funding": [],
    "raw_option_chain": [
        _frame_rule(pl.col("bid") <= pl.col("ask"), CROSSED_QUOTE),
        _frame_rule(pl.col("expiry") > pl.col("ts"), "expiry must be after the snapshot ts"),
    ],
    "raw_options_summary": [],
    "raw_onchain": [],
    "raw_universe_daily": _ohlc_rules(),
}


def build_schema(spec: TableSpec) -> pa.DataFrameSchema:
    """dtypes (timestamps in the spec's time unit, UTC), nulls, and the table's rules (none beyond
    those for a table this module has no rules for)."""
    rules = COLUMN_RULES.get(spec.name, {})
    columns = {
        c.name: pa.Column(c.dtype, checks=rules.get(c.name, []), nullable=c.nullable, description=c.doc)
        for c in spec.columns
    }
    return pa.DataFrameSchema(
        columns, checks=FRAME_RULES.get(spec.name, []), strict=True, ordered=False, name=spec.name
    )


_REGISTERED = {**RAW_TABLES, **UNIVERSE_RAW_TABLES}
SCHEMAS: dict[str, pa.DataFrameSchema] = {name: build_schema(s) for name, s in _REGISTERED.items()}


def schema_for(spec: TableSpec) -> pa.DataFrameSchema:
    """The registered table's schema, built once; a spec declared elsewhere (a new lane's, a test's) anew."""
    return SCHEMAS[spec.name] if _REGISTERED.get(spec.name) is spec else build_schema(spec)
