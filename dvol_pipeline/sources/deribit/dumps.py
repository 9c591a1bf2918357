"""Deribit option dumps as users collect them -> raw_option_chain rows, and the exchange's greeks.

What people save: the JSON replies of `public/ticker` (one instrument each; a file holds one
reply, a list of them, or one reply per line) and of `public/get_book_summary_by_currency`
(kind=option: a list of every option's summary), either as the full JSON-RPC envelope
(`{"jsonrpc": "2.0", "result": ..., "usIn": ...}`) or just its `result`; and CSV files of the
same records, where nested objects (`greeks`, `stats`) land as one cell holding a dict
(JSON, or Python's repr with single quotes when saved from pandas).

One file is one snapshot: every row is stamped with the file's newest record time (ticker
`timestamp`, book summary `creation_timestamp`, in ms), the way the live source stamps a
whole chain at its fetch time, so a day's chain is one snapshot downstream. Expiry, strike
and type come from the instrument name (`BTC-27DEC24-60000-C`: expiry 08:00 UTC, Deribit's
settlement time; `d` is a decimal point in small strikes). A quote of 0 is no quote (null).
Values are passed through in Deribit's units (premiums in coin, IV in percent); a bad value
is left for the contract to quarantine, and a record whose instrument name cannot be read is
rejected here, with the file and the reason.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from dvol_pipeline.contracts.tables import RAW_OPTION_CHAIN

SUFFIXES = (".json", ".jsonl", ".csv")
EXPIRY_HOUR_UTC = 8
_NAME = re.compile(r"^(?P<coin>[A-Z0-9]+)(?:_[A-Z]+)?-(?P<day>\d{1,2})(?P<mon>[A-Z]{3})(?P<yy>\d{2})-(?P<strike>[0-9d.]+)-(?P<cp>[CP])$")
_MONTHS = {m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)}
GREEK_FIELDS = ("delta", "gamma", "vega", "theta", "rho")
EXCHANGE_GREEKS_SCHEMA = {"ts": pl.Datetime("us", "UTC"), "asset": pl.Utf8, "instrument_name": pl.Utf8,
                          **{g: pl.Float64 for g in GREEK_FIELDS}}
"""The greeks a ticker publishes: delta (coins), gamma (per USD), vega (USD per vol point),
theta (USD per calendar day: the analytic rate x min(1, days to expiry), never below minus the
option's value; `quant.pricing.options.exchange_theta`), rho (USD per 1 % of rate)."""
REJECT_SCHEMA = {"file": pl.Utf8, "instrument_name": pl.Utf8, "ts": pl.Utf8, "asset": pl.Utf8, "reason": pl.Utf8}


@dataclass(frozen=True)
class DumpChain:
    chain: pl.DataFrame
    """raw_option_chain rows in the contract's schema, sorted by instrument."""
    greeks: pl.DataFrame
    """EXCHANGE_GREEKS_SCHEMA: the exchange's greeks per ticker row (empty for book summaries)."""
    rejected: pl.DataFrame
    """REJECT_SCHEMA: records that are not options of a readable name."""
    kind: str
    """'ticker', 'book_summary' or 'empty'."""


class DumpFormatError(ValueError):
    """A file that is not a Deribit ticker or book-summary dump; the message names the file."""


def parse_instrument(name: str) -> tuple[str, datetime, float, str] | None:
    """(coin, expiry at 08:00 UTC, strike, 'C'|'P') of an option name, or None when unreadable."""
    m = _NAME.match(name or "")
    if m is None or m["mon"] not in _MONTHS:
        return None
    try:
        expiry = datetime(2000 + int(m["yy"]), _MONTHS[m["mon"]], int(m["day"]), EXPIRY_HOUR_UTC, tzinfo=UTC)
        strike = float(m["strike"].replace("d", "."))
    except ValueError:
        return None
    return m["coin"], expiry, strike, m["cp"]


def _cell_dict(value: Any, column: str, where: str) -> dict:
    """A CSV cell holding a dict (JSON or a Python repr); empty -> {}."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return value
    for parse in (json.loads, ast.literal_eval):
        try:
            out = parse(value)
        except (ValueError, SyntaxError):
            continue
        if isinstance(out, dict):
            return out
    raise DumpFormatError(f"{where}: column {column!r} holds {str(value)[:60]!r}, not a dict")


def _unwrap(obj: Any) -> list[Any]:
    if isinstance(obj, dict) and "result" in obj and ("jsonrpc" in obj or "usIn" in obj or len(obj) <= 4):
        obj = obj["result"]
    if isinstance(obj, dict) and "error" in obj and "instrument_name" not in obj:
        raise DumpFormatError(f"an error reply, not data: {obj['error']}")
    return obj if isinstance(obj, list) else [obj]


def read_records(path: Path) -> list[dict]:
    """Every ticker / book-summary record of one dump file (JSON, JSON lines or CSV)."""
    path = Path(path)
    where = str(path)
    if path.suffix.lower() == ".csv":
        frame = pl.read_csv(path, infer_schema=False)
        records = frame.to_dicts()
        for rec in records:
            for col in ("greeks", "stats"):
                if col in rec:
                    rec[col] = _cell_dict(rec[col], col, where)
        return [_numbers(r) for r in records]
    text = path.read_text()
    try:
        objs = [json.loads(text)]
    except json.JSONDecodeError:
        try:
            objs = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as err:
            raise DumpFormatError(f"{where}: not JSON or JSON lines ({err})") from None
    out: list[dict] = []
    for obj in objs:
        try:
            items = _unwrap(obj)
        except DumpFormatError as err:
            raise DumpFormatError(f"{where}: {err}") from None
        for item in items:
            items_ = _unwrap(item) if isinstance(item, dict) and "result" in item else [item]
            for rec in items_:
                if not isinstance(rec, dict) or "instrument_name" not in rec:
                    raise DumpFormatError(f"{where}: a record is {str(rec)[:80]!r}; expected objects with "
                                          "instrument_name (public/ticker or public/get_book_summary_by_currency)")
                out.append(rec)
    return out


def _numbers(rec: dict) -> dict:
    """CSV cells are text: numbers back to floats, empty cells to None (names stay text)."""
    out = {}
    for k, v in rec.items():
        if isinstance(v, str) and k not in ("instrument_name", "state", "underlying_index", "base_currency",
                                             "quote_currency", "estimated_delivery_price_currency"):
            try:
                v = float(v) if v.strip() not in ("", "null", "None", "NaN") else None
            except ValueError:
                pass
        out[k] = v
    return out


def _num(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _kind(records: list[dict]) -> str:
    if not records:
        return "empty"
    if all("best_bid_price" in r or "greeks" in r for r in records):
        return "ticker"
    if all("bid_price" in r or "creation_timestamp" in r for r in records):
        return "book_summary"
    raise DumpFormatError("records mix tickers and book summaries, or are neither (no best_bid_price/greeks "
                          "nor bid_price/creation_timestamp)")


def chain_from_records(records: list[dict], source: str = "dump") -> DumpChain:
    """raw_option_chain rows (one snapshot), the exchange's greeks, and rejected records."""
    try:
        kind = _kind(records)
    except DumpFormatError as err:
        raise DumpFormatError(f"{source}: {err}") from None
    if kind == "empty":
        return DumpChain(RAW_OPTION_CHAIN.empty(), pl.DataFrame(schema=EXCHANGE_GREEKS_SCHEMA),
                         pl.DataFrame(schema=REJECT_SCHEMA), kind)
    ticker = kind == "ticker"
    stamp = "timestamp" if ticker else "creation_timestamp"
    stamps = [t for r in records if (t := _num(r.get(stamp))) is not None]
    if not stamps:
        raise DumpFormatError(f"{source}: no record has a {stamp} (ms), so the snapshot has no time")
    ts = datetime.fromtimestamp(max(stamps) / 1000.0, tz=UTC)
    rows, greeks, rejected = [], [], []
    for r in records:
        name = str(r.get("instrument_name"))
        parsed = parse_instrument(name)
        if parsed is None:
            rejected.append({"file": source, "instrument_name": name, "ts": ts.isoformat(),
                             "asset": name.split("-", 1)[0].split("_", 1)[0], "reason": "instrument name is not an option COIN-DDMMMYY-STRIKE-C|P"})
            continue
        coin, expiry, strike, cp = parsed
        stats = r.get("stats") if isinstance(r.get("stats"), dict) else {}
        bid = _num(r.get("best_bid_price" if ticker else "bid_price"))
        ask = _num(r.get("best_ask_price" if ticker else "ask_price"))
        rows.append({
            "ts": ts, "asset": coin, "instrument_name": name, "expiry": expiry, "strike": strike, "option_type": cp,
            "bid": bid if bid and bid > 0 else None, "ask": ask if ask and ask > 0 else None,
            "mark_price": _num(r.get("mark_price")), "mark_iv": _num(r.get("mark_iv")),
            "underlying_price": _num(r.get("underlying_price")), "open_interest": _num(r.get("open_interest")),
            "volume": _num(stats.get("volume") if ticker else r.get("volume")),
        })
        if ticker:
            g = r.get("greeks") if isinstance(r.get("greeks"), dict) else {}
            greeks.append({"ts": ts, "asset": coin, "instrument_name": name, **{k: _num(g.get(k)) for k in GREEK_FIELDS}})
    chain = pl.DataFrame(rows, schema=RAW_OPTION_CHAIN.schema) if rows else RAW_OPTION_CHAIN.empty()
    return DumpChain(
        chain.sort("asset", "instrument_name"),
        pl.DataFrame(greeks, schema=EXCHANGE_GREEKS_SCHEMA).sort("asset", "instrument_name"),
        pl.DataFrame(rejected, schema=REJECT_SCHEMA), kind,
    )


def read_dump(path: Path) -> DumpChain:
    """One dump file -> its snapshot (see the module doc); DumpFormatError names the file."""
    return chain_from_records(read_records(path), str(path))


def dump_files(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
                  and not p.name.startswith("."))
