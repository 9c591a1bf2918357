"""Recognise a CryptoDataDownload file from its first lines.

CDD files changed over the years: an optional URL line above the header, capitalised or
lower-case headers, with or without a unix column or trade count, the volume column named
after the coin. A file is recognised by the set of columns its header names, never by
position, and an unknown header is refused with the layouts we do know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

URL_MARK = "cryptodatadownload.com"
QUOTES = ("USDT", "BUSD", "USDC", "USD", "TUSD")

PRICE = "price"
DVOL = "dvol"
FUNDING = "funding"

UNIX_NAMES = ("unix", "unix timestamp", "unix_timestamp", "timestamp")
FUNDING_NAMES = ("funding rate", "funding_rate", "fundingrate", "last funding rate", "funding rate (%)",
                 "funding rate %")

EXPECTED = """known CryptoDataDownload layouts:
  price:   [Unix|unix|Unix Timestamp,] Date, Symbol, Open, High, Low, Close, Volume <COIN>, Volume <QUOTE>[, tradecount]
  dvol:    date, symbol, open, high, low, close (vol points, or fractions: 0.55 for 55 %)
  funding: [Unix,] Date, Symbol, Funding Rate (a fraction or percent; a header with % / (%) says percent)"""


class CddLayoutError(ValueError):
    """A file we cannot read as any known CDD layout; the message names the file."""


@dataclass(frozen=True)
class Layout:
    kind: str  # price | dvol | funding
    header: tuple[str, ...]  # the header as written
    columns: dict[str, int]  # canonical name -> position
    header_line: int  # 1-based line number of the header
    coin_from_volume: str | None = None
    funding_in_percent: bool | None = None  # None: the header does not say


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", name.strip().strip('"').strip().lower())


def split_symbol(symbol: str) -> str:
    """`BTCUSDT`, `BTC/USDT`, `BTC-USD`, `BTC` -> `BTC`."""
    s = symbol.strip().upper().replace("/", "").replace("-", "").replace("_", "")
    for quote in QUOTES:
        if s.endswith(quote) and len(s) > len(quote):
            return s[: -len(quote)]
    return s


NAME_INTERVALS = {"d": "1d", "1d": "1d", "day": "1d", "daily": "1d", "h": "1h", "1h": "1h", "hour": "1h",
                  "hourly": "1h", "m": "1m", "1m": "1m", "minute": "1m", "5m": "5m", "15m": "15m", "30m": "30m"}
"""CDD's file-name suffixes for the bar length (`Binance_BTCUSDT_d.csv`, `..._1h.csv`, `..._minute.csv`)."""


def _tokens(path: Path) -> list[str]:
    name = path.name
    for suffix in (".gz", ".csv", ".txt"):
        name = name[: -len(suffix)] if name.lower().endswith(suffix) else name
    return [t for t in re.split(r"[_\-\s.]+", name) if t]


def coin_from_name(path: Path) -> str | None:
    """The coin a file name claims: a pair token (`BTCUSDT`, `BTC-USDT` is two tokens: `BTC` before a quote)
    or the token before `DVOL`; None when the name names no coin (`a.csv`)."""
    tokens = [t.upper() for t in _tokens(path)]
    for i, tok in enumerate(tokens):
        for quote in QUOTES:
            if tok.endswith(quote) and 2 <= len(tok) - len(quote) <= 10 and tok[: -len(quote)].isalnum():
                return tok[: -len(quote)]
        if tok in QUOTES and i > 0 and tokens[i - 1].isalpha() and 2 <= len(tokens[i - 1]) <= 10:
            return tokens[i - 1]
        if tok == "DVOL" and i > 0 and tokens[i - 1].isalnum() and 2 <= len(tokens[i - 1]) <= 10:
            return tokens[i - 1]
        if tok.endswith("DVOL") and 2 <= len(tok) - 4 <= 10:
            return tok[:-4]
    return None


def interval_from_name(path: Path) -> tuple[str, str] | None:
    """(bar length, the token that says so) from the file name, e.g. ("1d", "_d")."""
    for tok in reversed(_tokens(path)):
        if tok.lower() in NAME_INTERVALS:
            return NAME_INTERVALS[tok.lower()], f"_{tok}"
    return None


def detect(path: Path, first_lines: list[str]) -> Layout:
    """The layout of a file from its (decoded) first lines."""
    lines = first_lines
    idx = 1 if lines and URL_MARK in lines[0].lower() else 0
    if idx >= len(lines) or not lines[idx].strip():
        raise CddLayoutError(f"{path.name}: no header line found (the file is empty or has only a URL line)\n{EXPECTED}")
    raw_header = tuple(h.strip().strip('"') for h in lines[idx].split(","))
    names = [_norm(h) for h in raw_header]
    pos = {n: i for i, n in enumerate(names)}
    ohlc = all(k in pos for k in ("open", "high", "low", "close"))
    has_date, has_symbol = "date" in pos, "symbol" in pos
    unix = next((pos[n] for n in UNIX_NAMES if n in pos), None)
    volumes = [n for n in names if n.startswith("volume ")]
    funding = next((n for n in FUNDING_NAMES if n in pos), None)

    cols: dict[str, int] = {}
    if unix is not None:
        cols["unix"] = unix
    if has_date:
        cols["date"] = pos["date"]
    if has_symbol:
        cols["symbol"] = pos["symbol"]

    if ohlc and has_date and has_symbol and len(volumes) == 2 and len(names) == len(set(names)):
        base, quote = volumes  # CDD writes the coin's volume first, the quote's second
        cols.update({k: pos[k] for k in ("open", "high", "low", "close")})
        cols["volume"], cols["volume_quote"] = pos[base], pos[quote]
        if "tradecount" in pos:
            cols["tradecount"] = pos["tradecount"]
        known = {"unix", "date", "symbol", "open", "high", "low", "close", "tradecount", *volumes, *UNIX_NAMES}
        if set(names) - known:
            raise CddLayoutError(f"{path.name}: unexpected price columns {sorted(set(names) - known)}\n{EXPECTED}")
        return Layout(PRICE, raw_header, cols, idx + 1, coin_from_volume=base.split(" ", 1)[1].upper())
    if ohlc and has_date and has_symbol and not volumes and set(names) == {"date", "symbol", "open", "high", "low", "close"}:
        cols.update({k: pos[k] for k in ("open", "high", "low", "close")})
        return Layout(DVOL, raw_header, cols, idx + 1)
    if funding and (has_date or unix is not None) and has_symbol and not ohlc:
        cols["rate"] = pos[funding]
        percent = True if "%" in funding else None
        return Layout(FUNDING, raw_header, cols, idx + 1, funding_in_percent=percent)
    raise CddLayoutError(f"{path.name}: unknown header {list(raw_header)}\n{EXPECTED}")
