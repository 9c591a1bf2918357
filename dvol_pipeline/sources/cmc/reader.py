"""CoinMarketCap exports, one file per coin: `SNo,Name,Symbol,Date,High,Low,Open,Close,Volume,Marketcap`.

The layout many public datasets use (e.g. `coin_Bitcoin.csv`): `Date` is the day's close
stamp `2021-07-06 23:59:59` (or a bare day), `Volume` is USD (quote) volume. A file whose
header is not this layout is refused with the file's name; a line that cannot be read
becomes a rejected row naming the file and line, never a silent drop.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from dvol_pipeline.contracts.tables import RAW_UNIVERSE_DAILY

HEADER = ("SNo", "Name", "Symbol", "Date", "High", "Low", "Open", "Close", "Volume", "Marketcap")


class CmcLayoutError(ValueError):
    """A file that is not a CoinMarketCap export; the message names it."""


def read_cmc_file(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows in the raw_universe_daily shape, rejected lines with file/line/reason)."""
    path = Path(path)
    with path.open(encoding="utf-8-sig") as fh:
        header = tuple(h.strip().strip('"') for h in fh.readline().strip().split(","))
    if header != HEADER:
        raise CmcLayoutError(f"{path.name}: header {list(header)} is not the CoinMarketCap export layout {list(HEADER)}")
    text = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy").with_row_index("line", offset=2)
    day = pl.col("Date").str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    num = {c: pl.col(c).str.strip_chars().cast(pl.Float64, strict=False) for c in HEADER[4:]}
    typed = text.with_columns(day.alias("date"), *(e.alias(f"__{c}") for c, e in num.items()))
    why = pl.concat_str(
        [pl.when(pl.col("date").is_null()).then(pl.format("Date '{}' is not a day", pl.col("Date")))]
        + [pl.when(pl.col(f"__{c}").is_null() & ~pl.col(c).is_in(["", "NULL"]).fill_null(True))
           .then(pl.format(f"{c} '{{}}' is not a number", pl.col(c))) for c in ("High", "Low", "Open", "Close")]
        + [pl.when(pl.col(f"__{c}").is_null() & pl.col(c).is_in(["", "NULL"]).fill_null(True))
           .then(pl.lit(f"{c} is missing")) for c in ("High", "Low", "Open", "Close")],
        separator="; ", ignore_nulls=True,
    )
    typed = typed.with_columns(pl.when(why == "").then(None).otherwise(why).alias("reason"))
    rejected = typed.filter(pl.col("reason").is_not_null()).select(
        pl.lit(path.name).alias("file"), pl.col("line").cast(pl.Utf8), pl.col("Symbol").alias("symbol"),
        pl.col("Date").alias("date"), "reason")
    good = typed.filter(pl.col("reason").is_null())
    rows = good.select(
        "date", pl.col("Symbol").str.strip_chars().str.to_uppercase().alias("symbol"),
        pl.col("Name").str.strip_chars().alias("name"),
        pl.col("__Open").alias("open"), pl.col("__High").alias("high"), pl.col("__Low").alias("low"),
        pl.col("__Close").alias("close"), pl.lit(None, pl.Float64).alias("volume"),
        pl.col("__Volume").alias("volume_quote"), pl.col("__Marketcap").alias("market_cap"),
        pl.lit("cmc").alias("source"),
    ).with_columns(pl.when(pl.col("market_cap") > 0).then(pl.col("market_cap")).alias("market_cap"))
    return rows.select([pl.col(c).cast(t) for c, t in RAW_UNIVERSE_DAILY.schema.items()]), rejected
