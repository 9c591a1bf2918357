"""Split a source batch into rows that honour the contract and rows to quarantine.

Nothing is dropped silently: every rejected row keeps its original values (as text, so
rows of any shape fit one quarantine schema) and a `reason` naming the column and rule.
A structural fault (missing or extra column, naive or non-UTC timestamps) rejects the
whole batch, because no row of it can be trusted to mean what the contract says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pandera.errors as pa_errors
import polars as pl

from dvol_pipeline.contracts.schemas import schema_for
from dvol_pipeline.contracts.tables import TableSpec

ROW_ID = "__row"
OUTLIER_FACTOR = 5.0
"""A price or DVOL level 5x above or below the median of its 11 neighbours is a bad print
(a misplaced decimal, a unit slip), not a market move."""
OUTLIER_WINDOW = 11
REASON = "reason"
COLUMN = "column"


@dataclass
class ContractReport:
    table: str
    valid: pl.DataFrame
    rejected: pl.DataFrame
    """Original columns as text + `column` + `reason`; one row per rejected input row."""
    batch_errors: list[str] = field(default_factory=list)
    n_rows: int = 0
    """Rows in the batch (valid + rejected)."""
    tolerated_reasons: tuple[str, ...] = ()
    max_tolerated_share: float = 0.0

    @property
    def tolerated(self) -> bool:
        """Rejects exist, but only of tolerated reasons and few enough (see TableSpec)."""
        return (
            not self.rejected.is_empty()
            and not self.batch_errors
            and set(self.rejected[REASON].unique()) <= set(self.tolerated_reasons)
            and self.rejected.height <= self.max_tolerated_share * self.n_rows
        )

    @property
    def passed(self) -> bool:
        return (self.rejected.is_empty() and not self.batch_errors) or self.tolerated

    def reason_counts(self) -> dict[str, int]:
        if self.rejected.is_empty():
            return {}
        counts = self.rejected.group_by(REASON).len().sort(["len", REASON], descending=[True, False])
        return dict(zip(counts[REASON].to_list(), counts["len"].to_list(), strict=True))

    def message(self, where: str = "") -> str:
        """The sentence a user reads in the UI or the terminal."""
        if self.tolerated:
            counts = "; ".join(f"{n} row(s): {r}" for r, n in self.reason_counts().items())
            return (
                f"{self.table}{where}: {self.valid.height} rows honour the contract; {self.rejected.height} "
                f"row(s) quarantined as tolerated venue glitches (at most {self.max_tolerated_share:.1%} of "
                f"the batch): {counts}"
            )
        if self.passed:
            return f"{self.table}{where}: all {self.valid.height} rows honour the contract"
        parts = list(self.batch_errors)
        parts += [f"{n} row(s): {r}" for r, n in self.reason_counts().items() if r not in parts]
        return f"{self.table}{where}: {self.rejected.height} row(s) quarantined; " + "; ".join(parts)


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(pl.all().cast(pl.Utf8, strict=False))


def _structure_errors(spec: TableSpec, frame: pl.DataFrame) -> list[str]:
    errors = []
    missing = [c for c in spec.names if c not in frame.columns]
    extra = [c for c in frame.columns if c not in spec.names]
    if missing:
        errors.append(f"missing column(s) {missing}; expected {spec.names}")
    if extra:
        errors.append(f"unexpected column(s) {extra}; expected {spec.names}")
    for col in spec.columns:
        if col.name not in frame.columns or not isinstance(col.dtype, pl.Datetime):
            continue
        dtype = frame.schema[col.name]
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
            errors.append(f"column {col.name} is timezone-naive; the contract requires UTC instants")
        elif isinstance(dtype, pl.Datetime) and dtype.time_zone != "UTC":
            errors.append(f"column {col.name} is in {dtype.time_zone}; convert it to UTC in the source")
        elif isinstance(dtype, pl.Datetime) and _finer(dtype.time_unit, col.dtype.time_unit) and _loses_precision(
            frame[col.name], col.dtype.time_unit
        ):
            errors.append(f"column {col.name} holds {dtype.time_unit} timestamps finer than the table's "
                          f"{col.dtype.time_unit}: declare the table's time unit as {dtype.time_unit}, or round them "
                          "in the source (never silently here)")
    return errors


_UNIT_NS = {"ms": 1_000_000, "us": 1_000, "ns": 1}


def _finer(unit: str, than: str) -> bool:
    return _UNIT_NS[unit] < _UNIT_NS[than]


def _loses_precision(values: pl.Series, unit: str) -> bool:
    """Whether casting `values` to `unit` would drop a non-zero remainder (a truncated timestamp)."""
    step = _UNIT_NS[unit] // _UNIT_NS[values.dtype.time_unit]
    return bool((values.drop_nulls().to_physical() % step != 0).any())


def _coerce(spec: TableSpec, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Cast to the contract's dtypes; return (typed frame, rows a cast could not read).

    ISO-8601 text timestamps are accepted row by row only with an explicit offset, so a
    naive value in an otherwise good file rejects that row, not the file.
    """
    exprs, bad = [], []
    for col in spec.columns:
        src = pl.col(col.name)
        if frame.schema[col.name] == col.dtype:
            exprs.append(src)
            continue
        if isinstance(col.dtype, pl.Datetime) and frame.schema[col.name] == pl.Utf8:
            unit = col.dtype.time_unit  # parsed at the contract's precision: ns text keeps its ns
            cast = src.str.to_datetime(format="%Y-%m-%dT%H:%M:%S%.f%z", strict=False,
                                       time_unit="ns" if unit == "ns" else None).dt.convert_time_zone(
                "UTC"
            ).dt.cast_time_unit(unit)
            why = "not an ISO-8601 timestamp with an explicit UTC offset (naive timestamps are rejected)"
        else:
            cast = src.cast(col.dtype, strict=False)
            why = f"cannot be read as {col.dtype}"
        exprs.append(cast.alias(col.name))
        bad.append(
            pl.when(src.is_not_null() & cast.is_null()).then(pl.lit(f"{col.name}: {why}")).alias(col.name)
        )
    typed = frame.select(ROW_ID, *exprs)
    if not bad:
        return typed, _no_failures()
    flags = frame.select(ROW_ID, *bad).unpivot(index=ROW_ID, variable_name=COLUMN, value_name=REASON)
    return typed, flags.drop_nulls(REASON)


def _rule_failures(spec: TableSpec, typed: pl.DataFrame) -> pl.DataFrame:
    try:
        schema_for(spec).validate(typed.drop(ROW_ID), lazy=True)
    except pa_errors.SchemaErrors as err:
        cases = err.failure_cases.filter(pl.col("index").is_not_null())
        # pandera names a multi-column rule's "column" after the schema; show it as a row rule
        column = pl.when(pl.col("column").is_null() | (pl.col("column") == spec.name)).then(
            pl.lit("(row)")
        ).otherwise(pl.col("column"))
        return cases.select(
            typed[ROW_ID].gather(cases["index"].cast(pl.UInt32)).alias(ROW_ID),
            column.alias(COLUMN),
            pl.when(column == "(row)").then(pl.col("check")).otherwise(column + ": " + pl.col("check")).alias(REASON),
        )
    return _no_failures()


def _duplicate_failures(spec: TableSpec, typed: pl.DataFrame) -> pl.DataFrame:
    """Exact copies: keep the first, quarantine the rest. Same key, other values: all go."""
    key = list(spec.key)
    dup_key = typed.filter(pl.len().over(key) > 1)
    if dup_key.is_empty():
        return _no_failures()
    conflicting = dup_key.filter(pl.struct(spec.names).n_unique().over(key) > 1)
    exact = dup_key.join(conflicting.select(ROW_ID), on=ROW_ID, how="anti").filter(
        pl.col(ROW_ID).rank("ordinal").over(key) > 1
    )
    key_txt = ",".join(key)
    return pl.concat(
        [
            conflicting.select(ROW_ID, pl.lit(key_txt).alias(COLUMN),
                               pl.lit(f"duplicate key ({key_txt}) with conflicting values").alias(REASON)),
            exact.select(ROW_ID, pl.lit(key_txt).alias(COLUMN),
                         pl.lit(f"exact duplicate of an earlier row with key ({key_txt})").alias(REASON)),
        ]
    )


def _outlier_failures(spec: TableSpec, typed: pl.DataFrame) -> pl.DataFrame:
    if not spec.outlier_cols or typed.height < 3:
        return _no_failures()
    ordered = typed.sort([*spec.series, spec.time_col])
    parts = []
    for col in spec.outlier_cols:
        med = pl.col(col).rolling_median(OUTLIER_WINDOW, center=True, min_samples=3).over(list(spec.series))
        ratio = pl.col(col) / med
        bad = ordered.with_columns(ratio.alias("__ratio")).filter(
            (pl.col("__ratio") > OUTLIER_FACTOR) | (pl.col("__ratio") < 1 / OUTLIER_FACTOR)
        )
        parts.append(bad.select(
            ROW_ID,
            pl.lit(col).alias(COLUMN),
            pl.format(f"{col}: {{}} is {{}}x the median of its neighbours (absurd outlier)",
                      pl.col(col), pl.col("__ratio").round(2)).alias(REASON),
        ))
    return pl.concat(parts)


def _no_failures() -> pl.DataFrame:
    return pl.DataFrame(schema={ROW_ID: pl.UInt32, COLUMN: pl.Utf8, REASON: pl.Utf8})


def validate(spec: TableSpec, frame: pl.DataFrame, keep: tuple[str, ...] = ()) -> ContractReport:
    """`keep`: provenance columns (e.g. a source's `__line`) passed through to the valid and
    rejected rows unvalidated, so a rejected row can still name its file and line."""
    kept = [c for c in keep if c in frame.columns]
    numbered = frame.with_row_index(ROW_ID)
    frame = frame.drop(kept)
    batch_errors = _structure_errors(spec, frame)
    if batch_errors:
        rejected = _as_text(frame).with_columns(
            pl.lit(None, pl.Utf8).alias(COLUMN), pl.lit("; ".join(batch_errors)).alias(REASON)
        )
        return ContractReport(spec.name, spec.empty(), rejected, batch_errors)

    typed, cast_failures = _coerce(spec, numbered.drop(kept))
    # an unreadable value also shows up as a null; report it once, as unreadable
    rule_failures = _rule_failures(spec, typed).join(cast_failures, on=[ROW_ID, COLUMN], how="anti")
    failures = pl.concat([cast_failures, rule_failures])
    clean_so_far = typed.join(failures.select(ROW_ID), on=ROW_ID, how="anti")
    failures = pl.concat([failures, _duplicate_failures(spec, clean_so_far)])
    clean_so_far = clean_so_far.join(failures.select(ROW_ID), on=ROW_ID, how="anti")
    failures = pl.concat([failures, _outlier_failures(spec, clean_so_far)])

    per_row = failures.group_by(ROW_ID).agg(
        pl.col(COLUMN).unique(maintain_order=True).str.join(","),
        pl.col(REASON).unique(maintain_order=True).str.join("; "),
    )
    valid = typed.join(per_row.select(ROW_ID), on=ROW_ID, how="anti")
    if kept:
        valid = valid.join(numbered.select(ROW_ID, *kept), on=ROW_ID, how="left", maintain_order="left")
    valid = valid.drop(ROW_ID).select(*spec.names, *kept).sort(spec.sort_by, maintain_order=True)
    rejected = (
        _as_text(numbered.join(per_row, on=ROW_ID, how="semi"))
        .with_columns(pl.col(ROW_ID).cast(pl.UInt32))
        .join(per_row, on=ROW_ID)
        .sort(ROW_ID)
        .drop(ROW_ID)
    )
    return ContractReport(
        spec.name, valid, rejected, n_rows=frame.height, tolerated_reasons=spec.tolerated_reasons,
        max_tolerated_share=spec.max_tolerated_share,
    )


def find_gaps(spec: TableSpec, valid: pl.DataFrame) -> pl.DataFrame:
    """Holes longer than the table's `max_gap` inside each series (valid rows only)."""
    empty = pl.DataFrame(
        schema={**{s: pl.Utf8 for s in spec.series}, "gap_after": valid.schema.get(spec.time_col, pl.Date),
                "gap_before": valid.schema.get(spec.time_col, pl.Date), "gap_hours": pl.Float64}
    )
    if spec.max_gap is None or valid.height < 2:
        return empty
    t = pl.col(spec.time_col)
    step = (t - t.shift(1).over(list(spec.series))).alias("step")
    limit = pl.lit(spec.max_gap)
    if "interval" in spec.series:  # bar tables: the expected step is the bar length
        limit = pl.when(pl.col("interval") == "1d").then(pl.lit(timedelta(days=1))).otherwise(limit)
    gaps = (
        valid.sort(spec.sort_by)
        .with_columns(step, t.shift(1).over(list(spec.series)).alias("gap_after"))
        .filter(pl.col("step") > limit)
    )
    return gaps.select(
        *spec.series,
        "gap_after",
        t.alias("gap_before"),
        (pl.col("step").dt.total_seconds() / 3600.0).alias("gap_hours"),
    )
