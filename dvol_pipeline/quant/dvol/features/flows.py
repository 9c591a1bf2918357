"""Funding, option-flow and on-chain features (groups `funding`, `flow`, `onchain`).

Stamps: funding events by `ts` (an event at D 00:00, 08:00 or 16:00 belongs to D); the
options summary by `date` (it aggregates D's end-of-day chain, snapshot before the cut-off);
on-chain figures by `date`, but a day's figures are published the next day, so D's row
uses D-1 (lag 1; the leakage check treats an on-chain row as stamped at date + 1 day).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from dvol_pipeline.quant.rolling import trailing_mean, trailing_std

from ._frames import complete_days, lag, require_columns, require_utc

Z_WINDOW = 60


def funding_features(raw_funding: pl.DataFrame) -> pl.DataFrame:
    require_columns("raw_funding", raw_funding, ["ts", "asset", "instrument", "interval_hours", "rate"])
    require_utc("raw_funding", raw_funding)
    bp8 = pl.col("rate") * 1e4 * 8.0 / pl.col("interval_hours").cast(pl.Float64)
    # sorted first: float sums must not depend on the input's row order
    daily = raw_funding.sort("asset", "instrument", "ts").group_by("asset", pl.col("ts").dt.date().alias("date")).agg(
        funding_mean=bp8.mean(), funding_std=bp8.std()
    )
    g = complete_days(daily)
    return g.with_columns(funding_chg5=pl.col("funding_mean") - lag(pl.col("funding_mean"), 5))


def summary_from_chain(chain: pl.DataFrame) -> pl.DataFrame:
    """raw_options_summary rows from end-of-day chains (when only the chain exists)."""
    from dvol_pipeline.quant.pricing.options import to_years, vega

    require_columns("raw_option_chain", chain, ["ts", "asset", "instrument_name", "expiry", "strike", "mark_iv", "underlying_price",
                                                "open_interest", "volume"])
    require_utc("raw_option_chain", chain)
    years = to_years(pl.col("expiry") - pl.col("ts"))
    c = chain.sort("asset", "ts", "instrument_name").with_columns(t=years, date=pl.col("ts").dt.date()).filter(pl.col("t") > 0)
    vega_pt = vega(c["underlying_price"].to_numpy(), c["strike"].to_numpy(), c["t"].to_numpy(),
                   c["mark_iv"].to_numpy() / 100.0)  # USD per vol point
    c = c.with_columns(vega=pl.Series(np.nan_to_num(vega_pt)))
    oi = pl.col("open_interest")
    return c.group_by("asset", "date").agg(
        net_vega=(oi * pl.col("vega")).sum(),
        avg_iv=(oi * pl.col("mark_iv")).sum() / oi.sum(),
        volume=pl.col("volume").sum(),
        open_interest=oi.sum(),
    )


def flow_features(summary: pl.DataFrame, dvol: pl.DataFrame) -> pl.DataFrame:
    """`dvol`: date, asset, dvol (for avg IV minus DVOL)."""
    require_columns("raw_options_summary", summary, ["date", "asset", "net_vega", "avg_iv", "volume", "open_interest"])
    g = complete_days(summary.select("date", "asset", "net_vega", "avg_iv", "volume", "open_interest"))
    past = pl.col("_past")
    g = g.with_columns(_past=lag(pl.col("net_vega"), 1))
    g = g.with_columns(_mean=trailing_mean(past, Z_WINDOW, Z_WINDOW // 2, "asset"))
    g = g.with_columns(_std=trailing_std(past, pl.col("_mean"), Z_WINDOW, Z_WINDOW // 2, "asset"))
    mean, std = pl.col("_mean"), pl.col("_std")
    out = g.with_columns(opt_net_vega_z=pl.when(std > 0).then((pl.col("net_vega") - mean) / std))
    out = out.join(dvol.select("date", "asset", "dvol"), on=["date", "asset"], how="left")
    return out.select(
        "date", "asset",
        opt_net_vega=pl.col("net_vega"),
        opt_net_vega_z=pl.col("opt_net_vega_z"),
        opt_iv_minus_dvol=pl.col("avg_iv") - pl.col("dvol"),
        opt_volume=pl.col("volume"),
        opt_open_interest=pl.col("open_interest"),
    )


def _log_ratio(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    return pl.when((a > 0) & (b > 0)).then((a / b).log())


def onchain_features(raw_onchain: pl.DataFrame) -> pl.DataFrame:
    require_columns("raw_onchain", raw_onchain, ["date", "asset", "tx_count", "fees"])
    g = complete_days(raw_onchain.select("date", "asset", "tx_count", "fees"))
    # the grid runs one day past the last published day, so that day's row can use it
    last = g.group_by("asset").agg(pl.col("date").max() + pl.duration(days=1))
    g = complete_days(pl.concat([g, last], how="diagonal_relaxed"))
    tx, fees = pl.col("tx_count").cast(pl.Float64), pl.col("fees")
    return g.select(
        "date", "asset",
        onchain_tx=lag(tx, 1),
        onchain_fees=lag(fees, 1),
        onchain_tx_chg5=_log_ratio(lag(tx, 1), lag(tx, 6)),
        onchain_fees_chg5=_log_ratio(lag(fees, 1), lag(fees, 6)),
    )
