"""`source=cdd`: every CryptoDataDownload file in the landing folder, merged per table.

Overlapping downloads are the norm, so rows are merged deterministically: exact copies
collapse to one; where two files disagree on a bar, the file reaching further in time (a
later download) wins, then the file name decides. Both counts are reported. A file that is
not a known layout is refused: it becomes a quarantined row naming the file and the layouts
expected, and fails the contract check, so it cannot go unnoticed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from dvol_pipeline.contracts.tables import spec
from dvol_pipeline.settings import lake_root
from dvol_pipeline.sources.base import SourceBatch, TableNotProvided, register_source, sha256_file
from dvol_pipeline.sources.cdd.layouts import CddLayoutError
from dvol_pipeline.sources.cdd.reader import REJECT_SCHEMA, TABLE_OF, ParsedFile, read_cdd_file

PROVIDED = tuple(TABLE_OF.values())
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def landing_files(landing: Path) -> list[Path]:
    return sorted(p for p in landing.rglob("*") if p.is_file() and p.suffix.lower() in (".csv", ".txt"))


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
    _cache: dict[tuple, ParsedFile | CddLayoutError] = field(default_factory=dict, repr=False)

    def _parse(self, path: Path) -> ParsedFile | CddLayoutError:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns, self.funding_units)
        if key not in self._cache:
            try:
                self._cache[key] = read_cdd_file(path, self.funding_units)
            except CddLayoutError as err:
                self._cache[key] = err
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
        rejected = [r.rejected for r in mine] + [
            pl.DataFrame([dict(file=p.name, line=None, text=None, ts=None, asset=None, reason=f"file refused: {err}")],
                         schema=REJECT_SCHEMA)
            for p, err in refused.items()
        ]
        frame, merge_notes = merge_files(mine, table) if mine else (spec(table).empty(), {})
        notes = {
            "files": {r.path.name: {"rows": r.rows.height, **r.notes} for r in mine},
            "partial_rows_excluded": sum(r.partial_excluded for r in mine),
            "rows_rejected_by_parser": sum(r.rejected.height for r in mine),
            "files_refused": [p.name for p in refused],
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
    parsed = [r for p in landing_files(source.landing) if isinstance(r := source._parse(p), ParsedFile)]
    days = [d for r in parsed if r.rows.height for d in (r.rows["ts"].min().date(), r.rows["ts"].max().date())]
    if not days:
        return None
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    start, end = max(min(days), first), min(max(days), yesterday)
    return (start, end) if start <= end else None


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
        digest = sha256_file(path)
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
