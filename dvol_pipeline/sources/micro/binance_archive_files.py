"""Which landing files are Binance archive files, and what each one is (kind, symbol, period, market).

The archive names every file `<SYMBOL>-<kind>-<YYYY-MM-DD|YYYY-MM>.zip` (klines: `<SYMBOL>-<interval>-...`,
under `klines/<SYMBOL>/<interval>/`) and lays it out as
`[data/](spot|futures/um|futures/cm)/(daily|monthly)/<kind>/<SYMBOL>/...`; collectors also keep the
shorter `(spot|um|usdm|cm)/<kind>/<SYMBOL>/...` or put every file in one flat folder. The market is read
from the folder where the path names one, and from the content always (`binance_archive_market`); a
file whose folder and content disagree is refused by name, never guessed.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from dvol_pipeline.sources.micro.binance_archive_columns import CM, KINDS, SPOT, UM

_NAME = re.compile(r"^(?P<symbol>[A-Z0-9_]+)-(?P<kind>[A-Za-z0-9]+)-"
                   r"(?P<year>\d{4})-(?P<month>\d{2})(?:-(?P<day>\d{2}))?$")
_INTERVAL = re.compile(r"^\d+(s|m|h|d|w|mo)$")
_OTHER_KLINE_FOLDERS = ("markPriceKlines", "indexPriceKlines", "premiumIndexKlines")
_FOLDER_MARKETS = {"spot": SPOT, "um": UM, "usdm": UM, "cm": CM, "coinm": CM}


@dataclass(frozen=True)
class ArchiveFile:
    """One CSV of the archive: a plain file, or a member of one of the archive's zips."""

    path: Path
    label: str
    """Provenance: the path relative to landing, plus `!member` for a zip member."""
    member: str | None
    kind: str
    symbol: str
    first_day: date
    last_day: date
    """The days the file covers by its name (one for a daily file, the month for a monthly one)."""
    folder_market: str | None
    """The market the folders name (None: a flat file)."""

    def read_bytes(self) -> bytes:
        """The CSV's bytes (a zip member is read in memory; nothing is extracted into landing)."""
        if self.member is None:
            return self.path.read_bytes()
        with zipfile.ZipFile(self.path) as archive:
            return archive.read(self.member)


def folder_market(parts: tuple[str, ...]) -> str | None:
    """The market the folders name: `spot`, `futures/um`, `futures/cm`, or the short `um`/`usdm`/`cm`."""
    lowered = [p.lower() for p in parts]
    for i, part in enumerate(lowered):
        if part == "futures" and i + 1 < len(lowered) and lowered[i + 1] in ("um", "cm"):
            return _FOLDER_MARKETS[lowered[i + 1]]
    found = {_FOLDER_MARKETS[p] for p in lowered if p in _FOLDER_MARKETS}
    return found.pop() if len(found) == 1 else None


def _month_end(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def parse_name(stem: str, parts: tuple[str, ...]) -> tuple[str, str, date, date] | str:
    """(kind, symbol, first day, last day) from a file name and its folders, or why it is not one we read."""
    m = _NAME.match(stem)
    if not m:
        return "not a Binance archive file name (<SYMBOL>-<kind>-<YYYY-MM[-DD]>)"
    kind, symbol = m["kind"], m["symbol"]
    if _INTERVAL.match(kind):
        if any(p in _OTHER_KLINE_FOLDERS for p in parts):
            folder = next(p for p in parts if p in _OTHER_KLINE_FOLDERS)
            return f"{folder}: mark/index/premium klines are not read by this importer"
        if kind != "1m":
            return f"klines of interval {kind}: only 1-minute klines make micro_bars"
        kind = "klines"
    if kind not in KINDS:
        return f"unknown archive kind {kind!r}"
    year, month = int(m["year"]), int(m["month"])
    if not 1 <= month <= 12:
        return f"bad month in file name {stem!r}"
    try:
        first = date(year, month, int(m["day"]) if m["day"] else 1)
    except ValueError:
        return f"bad date in file name {stem!r}"
    return kind, symbol, first, first if m["day"] else _month_end(year, month)


def discover(landing: Path, start: date | None, end: date | None) -> tuple[list[ArchiveFile], list[tuple[Path, str]]]:
    """The archive CSVs under `landing` whose days meet [start, end], and the files refused with the reason.

    `.CHECKSUM` sidecars are skipped silently (they describe a zip, they hold no data).
    """
    found: list[ArchiveFile] = []
    refused: list[tuple[Path, str]] = []
    for path in sorted(p for p in landing.rglob("*") if p.is_file()):
        rel = path.relative_to(landing)
        if path.name.endswith(".CHECKSUM") or path.name.startswith("."):
            continue
        suffix = path.suffix.lower()
        if suffix not in (".zip", ".csv"):
            refused.append((path, f"not a zip or csv ({path.suffix or 'no suffix'})"))
            continue
        parsed = parse_name(path.stem, rel.parts[:-1])
        if isinstance(parsed, str):
            refused.append((path, parsed))
            continue
        kind, symbol, first, last = parsed
        if (start and last < start) or (end and first > end):
            continue
        market = folder_market(rel.parts[:-1])
        if suffix == ".csv":
            found.append(ArchiveFile(path, rel.as_posix(), None, kind, symbol, first, last, market))
            continue
        try:
            with zipfile.ZipFile(path) as archive:
                members = [n for n in archive.namelist() if n.lower().endswith(".csv")]
        except (zipfile.BadZipFile, OSError) as exc:
            refused.append((path, f"unreadable zip: {exc}"))
            continue
        if not members:
            refused.append((path, "zip holds no .csv member"))
        for member in members:
            found.append(ArchiveFile(path, f"{rel.as_posix()}!{member}", member, kind, symbol, first, last, market))
    return found, refused
