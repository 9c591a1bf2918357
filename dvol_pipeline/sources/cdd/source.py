"""`source=cdd`: every CryptoDataDownload file in the landing folder, merged per table.

Overlapping downloads are the norm, so rows are merged deterministically: exact copies
collapse to one; where two files disagree on a bar, the file reaching further in time (a
later download) wins, then the file name decides. Both counts are reported. A file that is
not a known layout is refused: it becomes a quarantined row naming the file and the layouts
expected, and fails the contract check, so it cannot go unnoticed.

Across files: a file whose price level is wildly off the same coin's other files on the days
they share (another coin's prices under this coin's name) is quarantined whole; a funding file
whose own numbers cannot tell fractions from percent takes its units from the coin's other
funding files (sources/cdd/units.py); a file for a coin that is not configured, an unreadable
file or a dangling link is reported, never skipped silently. The units of every funding and
DVOL file, with the evidence that decided them, are in the notes (`units`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from dvol_pipeline.contracts.tables import spec
from dvol_pipeline.settings import lake_root
from dvol_pipeline.sources.base import SourceBatch, TableNotProvided, register_source, sha256_file
from dvol_pipeline.sources.cdd.layouts import CddLayoutError
from dvol_pipeline.sources.cdd.reader import REJECT_SCHEMA, TABLE_OF, ParsedFile, read_cdd_file, venue
from dvol_pipeline.sources.cdd.units import Units, funding_from_other_files

PROVIDED = tuple(TABLE_OF.values())
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SUFFIXES = (".csv", ".txt", ".csv.gz", ".txt.gz")
LEVEL_FACTOR = 3.0
"""Two files of one coin whose median daily close differs by more than 3x on the days they
share do not hold the same coin (venues agree within a few percent)."""
MATCH_FACTOR = 1.5
"""...and a file within 1.5x of another coin's files holds that coin's prices."""
LEVEL_TABLES = ("raw_ohlcv", "raw_dvol")


def landing_files(landing: Path) -> list[Path]:
    """Candidate CDD files, dangling links included (they are reported, not skipped)."""
    return sorted(p for p in landing.rglob("*") if p.name.lower().endswith(SUFFIXES) and not p.name.startswith(".")
                  and (p.is_file() or (p.is_symlink() and not p.exists())))


def ignored_files(landing: Path) -> list[str]:
    """Files in landing/ that are not read as CDD files (by their name), so the summary can say so."""
    return sorted(str(p.relative_to(landing)) for p in landing.rglob("*")
                  if p.is_file() and not p.name.startswith(".") and not p.name.lower().endswith(SUFFIXES))


def _daily_close(p: ParsedFile) -> pl.DataFrame:
    return p.rows.group_by(pl.col("ts").dt.date().alias("day")).agg(pl.col("close").median())


def _ratio(a: pl.DataFrame, b: pl.DataFrame) -> tuple[float, int] | None:
    common = a.join(b, on="day", suffix="_b")
    if common.is_empty():
        return None
    return float((common["close"] / common["close_b"]).median()), common.height


def level_outliers(parsed: list[ParsedFile]) -> dict[Path, str]:
    """Files whose price level is off their coin's other files (see LEVEL_FACTOR), with the reason.

    A file is off when it disagrees with most of the coin's other files it shares days with. Where
    every file of the coin disagrees (two files), the one matching another coin's level is the liar;
    if none does, each is quarantined, since which is right cannot be told."""
    files = [p for p in parsed if p.rows.height and p.rows["asset"].n_unique() == 1]
    daily = {p.path: _daily_close(p) for p in files}
    coin = {p.path: p.rows["asset"][0] for p in files}
    suspects: dict[Path, str] = {}
    for p in files:
        votes = []
        for o in files:
            if o.path == p.path or coin[o.path] != coin[p.path] or (r := _ratio(daily[p.path], daily[o.path])) is None:
                continue
            votes.append((o.path.name, *r, not (1 / LEVEL_FACTOR <= r[0] <= LEVEL_FACTOR)))
        off = [v for v in votes if v[3]]
        if votes and len(off) * 2 > len(votes):
            name, ratio, days, _ = off[0]
            suspects[p.path] = (f"price level off the coin's other files: its closes are {ratio:.3g}x those of {name} "
                                f"on {days} common day(s) (more than {LEVEL_FACTOR:g}x apart)")
    for c in {coin[p] for p in suspects}:
        mine = [p.path for p in files if coin[p.path] == c]
        if not all(p in suspects for p in mine):
            continue
        matched = {}
        for p in mine:
            for o in files:
                if coin[o.path] != c and (r := _ratio(daily[p], daily[o.path])) and \
                        1 / MATCH_FACTOR <= r[0] <= MATCH_FACTOR:
                    matched[p] = f"; its level matches {coin[o.path]} ({o.path.name}): another coin's prices under {c}"
                    break
        for p in mine:
            if p in matched:
                suspects[p] += matched[p]
            elif matched:
                del suspects[p]
            else:
                suspects[p] += "; which file is right cannot be told, so both are quarantined"
    return suspects


def _all_rows_rejected(p: ParsedFile, reason: str) -> pl.DataFrame:
    return p.rows.select(
        pl.lit(p.path.name).alias("file"), pl.col("__line").cast(pl.Utf8).alias("line"),
        pl.col("__line").replace_strict(p.texts, default=None, return_dtype=pl.Utf8).alias("text"),
        pl.col("ts").cast(pl.Utf8).alias("ts"), pl.col("asset"), pl.lit(reason).alias("reason"),
    ).cast(REJECT_SCHEMA)


def merge_files(parsed: list[ParsedFile], table: str) -> tuple[pl.DataFrame, dict[str, int]]:
    """One frame for `table` from every file, overlaps and copies resolved (see module doc)."""
    key = list(spec(table).key)
    ranked = sorted(parsed, key=lambda p: p.path.name)
    ranked = sorted(ranked, key=lambda p: p.rows["ts"].max() if p.rows.height else EPOCH, reverse=True)
    frames = [p.rows.with_columns(pl.lit(rank).alias("__rank")) for rank, p in enumerate(ranked)]
    rows = pl.concat(frames, how="vertical_relaxed").sort([*key, "__rank", "__line"])
    deduped = rows.unique(subset=spec(table).names, keep="first", maintain_order=True)
    exact = rows.height - deduped.height
    best = pl.col("__rank").min().over(key)
    merged = deduped.filter(pl.col("__rank") == best)
    conflicts = deduped.height - merged.height
    return merged.drop("__rank", "__line"), {"duplicates_resolved": exact, "conflicts_resolved_by_newer_file": conflicts}


@dataclass
class CddSource:
    landing: Path
    funding_units: str = "auto"
    name: str = "cdd"
    now: datetime | None = None
    """The run's clock (default: the wall clock); rows stamped after it are future-dated."""
    _cache: dict[tuple, ParsedFile | CddLayoutError] = field(default_factory=dict, repr=False)

    def _parse(self, path: Path, decided: Units | None = None) -> ParsedFile | CddLayoutError:
        if path.is_symlink() and not path.exists():
            return CddLayoutError(f"{path.name}: a dangling symbolic link (to {os.readlink(path)}); "
                                  "point it at the file or remove it from landing/")
        try:
            stat = path.stat()
            key = (str(path), stat.st_size, stat.st_mtime_ns, self.funding_units, decided)
            if key not in self._cache:
                try:
                    self._cache[key] = read_cdd_file(path, self.funding_units, self.now, decided)
                except CddLayoutError as err:
                    self._cache[key] = err
        except OSError as err:
            return CddLayoutError(f"{path.name}: cannot be read ({err.strerror or err}); check its permissions")
        return self._cache[key]

    def fetch(self, table: str, start: date, end: date, coins: Sequence[str]) -> SourceBatch:
        if table not in PROVIDED:
            raise TableNotProvided(f"CryptoDataDownload files carry no {table}; use the simulated or deribit source")
        if not self.landing.is_dir():
            raise TableNotProvided(f"no landing folder at {self.landing}; drop CDD files there")
        results = {p: self._parse(p) for p in landing_files(self.landing)}
        refused = {p: r for p, r in results.items() if isinstance(r, CddLayoutError)}
        mine = [r for r in results.values() if isinstance(r, ParsedFile) and r.table == table]
        if not mine and not refused:
            raise TableNotProvided(f"no CDD {table} files in {self.landing}")
        if table == "raw_funding":
            settled = funding_from_other_files(mine, venue)
            mine = [r if r.path not in settled else self._parse(r.path, settled[r.path]) for r in mine]
        off = level_outliers(mine) if table in LEVEL_TABLES else {}
        level_rejects = [_all_rows_rejected(r, off[r.path]) for r in mine if r.path in off]
        rejected = [r.rejected for r in mine] + level_rejects + [
            pl.DataFrame([dict(file=p.name, line=None, text=None, ts=None, asset=None, reason=f"file refused: {err}")],
                         schema=REJECT_SCHEMA)
            for p, err in refused.items()
        ]
        kept = [r for r in mine if r.path not in off]
        frame, merge_notes = merge_files(kept, table) if kept else (spec(table).empty(), {})
        wanted = {c.upper() for c in coins}
        other_coins = [
            {"file": r.path.name, "symbol": r.rows["instrument"][0] if "instrument" in r.rows.columns else a,
             "coin": a, "rows": r.rows.filter(pl.col("asset") == a).height,
             "fix": f"add {a} to the coins (--coins {','.join([*coins, a])}, or MarketResource.coins) and run again"}
            for r in kept for a in sorted(set(r.rows["asset"].to_list()) - wanted)
        ]
        notes = {
            "files": {r.path.name: {"rows": r.rows.height, **r.notes} for r in mine},
            "partial_rows_excluded": sum(r.partial_excluded for r in mine),
            "rows_rejected_by_parser": sum(r.rejected.height for r in mine),
            "files_refused": [p.name for p in refused],
            **({"files_refused_why": {p.name: str(e) for p, e in refused.items()}} if refused else {}),
            **({"files_off_price_level": {p.name: why for p, why in off.items()}} if off else {}),
            **({"files_not_in_coins": other_coins} if other_coins else {}),
            **({"files_ignored": ignored} if (ignored := ignored_files(self.landing)) else {}),
            **({"units": units} if (units := {r.path.name: r.units.note() for r in mine if r.units}) else {}),
            **{k: n for k in ("whitespace_trimmed", "funding_times_snapped", "future_dated_rows")
               if (n := sum(r.notes.get(k, 0) for r in mine))},
            **merge_notes,
        }
        return SourceBatch(
            frame=frame,
            source=self.name,
            files={str(r.path): r.sha256 for r in mine},
            notes=notes,
            rejected=pl.concat(rejected, how="vertical_relaxed"),
        )


def coverage(source: CddSource, first: date) -> tuple[date, date] | None:
    """The days the landing files cover, from `first` (the first partition) to yesterday (UTC)."""
    spans = table_coverage(source).values()
    if not spans:
        return None
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    start, end = max(min(a for a, _ in spans), first), min(max(b for _, b in spans), yesterday)
    return (start, end) if start <= end else None


def table_coverage(source: CddSource, coins: Sequence[str] | None = None) -> dict[str, tuple[date, date]]:
    """Per raw table, the first and last day its landing files have rows for `coins` (every coin
    when None; a table without such files is absent); what `run` decides the lanes from."""
    days: dict[str, list[date]] = {}
    for path in landing_files(source.landing):
        parsed = source._parse(path)
        if not isinstance(parsed, ParsedFile):
            continue
        rows = parsed.rows if coins is None else parsed.rows.filter(pl.col("asset").is_in(sorted({c.upper() for c in coins})))
        ts = rows["ts"]
        if ts.len():
            days.setdefault(parsed.table, []).extend([ts.min().date(), ts.max().date()])
    return {table: (min(d), max(d)) for table, d in sorted(days.items())}


@dataclass(frozen=True)
class LandingPlan:
    """A new or changed landing file, and the partitions (days) it asks to (re)ingest."""

    file: str
    sha256: str
    table: str
    start: date
    end: date


def plan_landing(source: CddSource, seen: dict[str, str], first: date) -> tuple[list[LandingPlan], dict[str, str]]:
    """Files whose content is new since `seen` (name -> sha256), each with the days it covers.

    Returns the plans and the updated `seen`. Refused or empty files are remembered too, so
    they are reported once, not on every tick.
    """
    plans, now_seen = [], dict(seen)
    for path in landing_files(source.landing):
        try:
            digest = sha256_file(path)
        except OSError:  # unreadable or a dangling link: the ingest run reports it
            continue
        name = str(path.relative_to(source.landing))
        if seen.get(name) == digest:
            continue
        now_seen[name] = digest
        parsed = source._parse(path)
        if not isinstance(parsed, ParsedFile) or parsed.rows.is_empty():
            continue
        yesterday = datetime.now(UTC).date() - timedelta(days=1)
        start = max(parsed.rows["ts"].min().date(), first)
        end = min(parsed.rows["ts"].max().date(), yesterday)
        if start <= end:
            plans.append(LandingPlan(name, digest, parsed.table, start, end))
    return plans, now_seen


def cdd_source(landing: str | None = None, funding_units: str = "auto", **_: object) -> CddSource:
    return CddSource(Path(landing) if landing else lake_root() / "landing", funding_units)


register_source("cdd", cdd_source)
