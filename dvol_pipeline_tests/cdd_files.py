"""CryptoDataDownload files as the site writes them, generated for the tests (never downloaded)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

URL = "https://www.CryptoDataDownload.com"
URL_UTC = "Timestamps are UTC timezone,https://www.CryptoDataDownload.com"


def price_rows(coin: str, start: datetime, n: int, step: timedelta, base: float = 100.0) -> list[dict]:
    """Bars oldest-first with consistent OHLC; the file writer puts them newest-first."""
    rows = []
    for i in range(n):
        t = start + i * step
        o = base * (1 + 0.01 * (i % 9))
        c = o * (1.004 if i % 2 else 0.996)
        rows.append(dict(t=t, coin=coin, o=o, h=max(o, c) * 1.01, l=min(o, c) * 0.99, c=c, v=10.0 + i, q=(10.0 + i) * o,
                         n=100 + i))
    return rows


def _hour_text(t: datetime) -> str:
    h = t.hour % 12 or 12
    return f"{t:%Y-%m-%d} {h:02d}-{'AM' if t.hour < 12 else 'PM'}"


def write_price_file(path: Path, rows: list[dict], *, header: str = "modern", url: str | None = URL,
                     symbol: str = "{coin}USDT", date_style: str = "datetime", unix: str = "ms",
                     crlf: bool = False) -> Path:
    """header: modern | lower | unix_timestamp | no_unix.  date_style: date | datetime | ampm."""
    coin = rows[0]["coin"]
    heads = {
        "modern": f"Unix,Date,Symbol,Open,High,Low,Close,Volume {coin},Volume USDT,tradecount",
        "lower": f"unix,date,symbol,open,high,low,close,Volume {coin},Volume USDT,tradecount",
        "unix_timestamp": f"Unix Timestamp,Date,Symbol,Open,High,Low,Close,Volume {coin},Volume USDT",
        "no_unix": f"Date,Symbol,Open,High,Low,Close,Volume {coin},Volume USDT",
    }
    lines = ([url] if url else []) + [heads[header]]
    for r in reversed(rows):  # newest first, like CDD
        t = r["t"]
        stamp = int(t.timestamp() * 1000) if unix == "ms" else f"{int(t.timestamp())}.0"
        date_text = {"date": f"{t:%Y-%m-%d}", "datetime": f"{t:%Y-%m-%d %H:%M:%S}", "ampm": _hour_text(t)}[date_style]
        sym = symbol.format(coin=coin)
        fields = [sym, r["o"], r["h"], r["l"], r["c"], r["v"], r["q"]]
        if header in ("modern", "lower"):
            fields.append("NULL" if r["n"] is None else r["n"])
        if header == "no_unix":
            lines.append(",".join(str(x) for x in [date_text, *fields]))
        else:
            lines.append(",".join(str(x) for x in [stamp, date_text, *fields]))
    path.write_bytes(("\r\n" if crlf else "\n").join(lines).encode() + (b"\r\n" if crlf else b"\n"))
    return path


def write_dvol_file(path: Path, coin: str, start: datetime, n: int, level: float = 55.0) -> Path:
    lines = ["date,symbol,open,high,low,close"]
    for i in reversed(range(n)):
        d = start + timedelta(days=i)
        o = level + (i % 7)
        lines.append(f"{d:%Y-%m-%d},{coin},{o:.2f},{o + 2.5:.2f},{o - 1.5:.2f},{o + 0.76:.2f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_funding_file(path: Path, coin: str, start: datetime, n: int, step: timedelta, rate: float = 1e-4,
                       header: str = "Unix,Date,Symbol,Funding Rate") -> Path:
    lines = [URL, header]
    for i in reversed(range(n)):
        t = start + i * step
        value = rate * (1 + 0.1 * (i % 5)) * (100 if "%" in header else 1)
        lines.append(f"{int(t.timestamp() * 1000)},{t:%Y-%m-%d %H:%M:%S},{coin}USDT,{value:.8f}")
    path.write_text("\n".join(lines) + "\n")
    return path


T0 = datetime(2024, 1, 1, tzinfo=UTC)
