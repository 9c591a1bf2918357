"""Column orders of Binance's public-data archive (data.binance.vision), per file kind and market.

The archive's files are positional CSV: spot files never carry a header, futures files carry
one from about 2022 on and none before, so the importer reads by position and uses a header
only to find columns by name when one is there. Orders, as published:

- binance/binance-public-data README.md (github.com/binance/binance-public-data), "What data is
  available":
  - spot `aggTrades`: Aggregate tradeId, Price, Quantity, First tradeId, Last tradeId, Timestamp,
    Was the buyer the maker, Was the trade the best price match (8 columns, no header);
  - spot `trades`: trade Id, price, qty, quoteQty, time, isBuyerMaker, isBestMatch (7);
  - spot and USD-M `klines`: Open time, Open, High, Low, Close, Volume, Close time, Quote asset
    volume, Number of trades, Taker buy base asset volume, Taker buy quote asset volume, Ignore (12);
  - COIN-M `klines`: Open time, Open, High, Low, Close, Volume (contracts), Close time, Base asset
    volume, Number of trades, Taker buy volume (contracts), Taker buy base asset volume, Ignore;
  - futures `aggTrades` (same as /fapi/v1/aggTrades, /dapi/v1/aggTrades): the spot order without
    the best-match flag (7);
  - USD-M `trades`: trade Id, price, qty, quoteQty, time, isBuyerMaker (6); COIN-M `trades`: trade
    Id, price, qty (contracts), baseQty, time, isBuyerMaker (6).
- The futures files' own header lines (the README does not list these kinds; the names are those
  of the files' first lines, as quoted by many public readers of the archive):
  - `bookTicker`: update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time
  - `bookDepth`: timestamp,percentage,depth,notional (timestamp as `YYYY-MM-DD HH:MM:SS`)
  - `metrics`: create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,
    sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio
    (create_time as `YYYY-MM-DD HH:MM:SS`, 5-minutely)
  - `fundingRate` (monthly files only): calc_time,funding_interval_hours,last_funding_rate
  - futures `aggTrades`: agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker
  - USD-M `trades`: id,price,qty,quote_qty,time,is_buyer_maker; COIN-M: id,price,qty,base_qty,time,is_buyer_maker
  - futures `klines`: open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,
    taker_buy_quote_volume,ignore (COIN-M keeps these names; by the README its `quote_volume` slot holds the
    base asset volume and `taker_buy_quote_volume` the taker buy base volume).

Our names below are the futures header names (spot files get the same names by position).
"""

from __future__ import annotations

SPOT, UM, CM = "spot", "um", "cm"
MARKETS = (SPOT, UM, CM)
VENUES = {SPOT: "binance_spot", UM: "binance_usdm", CM: "binance_cm"}

KINDS = ("aggTrades", "trades", "bookTicker", "bookDepth", "klines", "metrics", "fundingRate")
FUTURES_ONLY = ("bookDepth", "metrics", "fundingRate")

_KLINES = ("open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "count",
           "taker_buy_volume", "taker_buy_quote_volume", "ignore")
_FUT_AGG = ("agg_trade_id", "price", "quantity", "first_trade_id", "last_trade_id", "transact_time", "is_buyer_maker")

COLUMNS: dict[tuple[str, str], tuple[str, ...]] = {
    ("aggTrades", SPOT): (*_FUT_AGG, "is_best_match"),
    ("aggTrades", UM): _FUT_AGG,
    ("aggTrades", CM): _FUT_AGG,
    ("trades", SPOT): ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker", "is_best_match"),
    ("trades", UM): ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker"),
    ("trades", CM): ("id", "price", "qty", "base_qty", "time", "is_buyer_maker"),
    ("klines", SPOT): _KLINES,
    ("klines", UM): _KLINES,
    ("klines", CM): _KLINES,
    **{("bookTicker", m): ("update_id", "best_bid_price", "best_bid_qty", "best_ask_price", "best_ask_qty",
                           "transaction_time", "event_time") for m in MARKETS},
    **{("bookDepth", m): ("timestamp", "percentage", "depth", "notional") for m in (UM, CM)},
    **{("metrics", m): ("create_time", "symbol", "sum_open_interest", "sum_open_interest_value",
                        "count_toptrader_long_short_ratio", "sum_toptrader_long_short_ratio",
                        "count_long_short_ratio", "sum_taker_long_short_vol_ratio") for m in (UM, CM)},
    **{("fundingRate", m): ("calc_time", "funding_interval_hours", "last_funding_rate") for m in (UM, CM)},
}
"""(kind, market) -> the file's columns in order."""

REQUIRED: dict[str, tuple[str, ...]] = {
    "aggTrades": ("agg_trade_id", "price", "quantity", "transact_time", "is_buyer_maker"),
    "trades": ("id", "price", "qty", "time", "is_buyer_maker"),
    "klines": ("open_time", "open", "high", "low", "close", "volume", "quote_volume", "count", "taker_buy_volume",
               "taker_buy_quote_volume"),
    "bookTicker": ("update_id", "best_bid_price", "best_bid_qty", "best_ask_price", "best_ask_qty",
                   "transaction_time", "event_time"),
    "bookDepth": ("timestamp", "percentage", "depth"),
    "metrics": ("create_time", "sum_open_interest"),
    "fundingRate": ("calc_time", "last_funding_rate"),
}
"""Columns a row of each kind must have to be read (a shorter row is rejected; `funding_interval_hours` is
optional: older funding files are said to lack it, and it is inferred from the spacing then)."""

HEADER_ALIASES = {"quote_qty": ("quote_qty", "quoteQty"), "base_qty": ("base_qty", "baseQty"),
                  "is_buyer_maker": ("is_buyer_maker", "isBuyerMaker")}
"""Header spellings seen in third-party copies, mapped to ours (the archive itself uses snake_case)."""

COIN_M_CONTRACT_USD = {"BTC": 100.0}
"""COIN-M contract value in USD by base asset; every other coin's contract is 10 USD (Binance's contract specs)."""
COIN_M_DEFAULT_CONTRACT_USD = 10.0
