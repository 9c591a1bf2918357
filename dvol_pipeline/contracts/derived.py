"""The write-time contract of a derived table (features, surfaces, forecasts, backtests, signals).

Raw tables are validated row by row and bad rows quarantined (validate.py): their input is
the outside world. A derived table is our own computation, so a violation is a bug, not
bad data: the write is refused whole with an error that names the table, the column and
the offending rows, and the partition on disk stays as it was.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandera.errors as pa_errors
import pandera.polars as pa
import polars as pl

from dvol_pipeline.contracts.tables import Col


class DerivedContractError(ValueError):
    """A derived table's frame does not match its catalog entry."""


REGIME_LABELS: tuple[str, ...] = ("neutral", "low_vol", "high_vol", "iv_expansion", "iv_contraction")
"""vol_regimes' labels, in code order (`regime_code` is the index; quant/dvol/regimes.py decides them)."""
SMILE_MODELS: tuple[str, ...] = ("svi", "svi_repaired", "sabr")
SMILE_TESTS: tuple[str, ...] = ("in_sample", "strike_holdout", "next_day")
"""surface_model_comparison's models and tests (quant/pricing/surface/comparison.py computes them)."""
_UNIT = (pa.Check.in_range(0.0, 1.0),)
VALUE_CHECKS: dict[str, dict[str, tuple[pa.Check, ...]]] = {
    "vol_regimes": {
        "regime": (pa.Check.isin(REGIME_LABELS),),
        "regime_code": (pa.Check.in_range(0, len(REGIME_LABELS) - 1),),
        "dvol_rank": _UNIT, "dvol_pct": _UNIT, "iv30_pct": _UNIT,
        "rv_iv_ratio": (pa.Check.ge(0.0),), "dvol": (pa.Check.gt(0.0),),
    },
    "ivrank_gate_folds": {"auc": _UNIT, "threshold": _UNIT, "n": (pa.Check.gt(0),)},
    "ivrank_trades": {"prob": _UNIT, "exit_reason": (pa.Check.isin(("profit_target", "stop", "dte_floor",
                                                                     "end_of_data")),)},
    "ivrank_strategy_metrics": {"cost_mult": (pa.Check.ge(0.0),), "n_trades": (pa.Check.ge(0),)},
    "surface_model_comparison": {
        "model": (pa.Check.isin(SMILE_MODELS),), "test": (pa.Check.isin(SMILE_TESTS),),
        "inside_spread_share": _UNIT, "iv_rmse_vol": (pa.Check.ge(0.0),), "price_mae_spreads": (pa.Check.ge(0.0),),
    },
}
"""Value rules of a derived table's columns beyond type and nullability (name -> column -> checks)."""


def derived_schema(name: str, columns: Sequence[Col], key: Sequence[str], strict: bool) -> pa.DataFrameSchema:
    checks = VALUE_CHECKS.get(name, {})
    cols = {c.name: pa.Column(c.dtype, checks=list(checks.get(c.name, ())), nullable=c.nullable, description=c.doc)
            for c in columns}
    return pa.DataFrameSchema(cols, unique=list(key) or None, strict=strict, ordered=False, name=name,
                              report_duplicates="all")


def check_derived(schema: pa.DataFrameSchema, frame: pl.DataFrame) -> None:
    """Raise DerivedContractError (table, column, rows) unless `frame` honours `schema`."""
    try:
        schema.validate(frame, lazy=True)
    except pa_errors.SchemaErrors as err:
        cases = err.failure_cases
        lines = []
        for row in cases.head(10).iter_rows(named=True):
            where = f"row {row.get('index')}" if row.get("index") is not None else "table"
            what = str(row.get("check"))
            if what == "multiple_fields_uniqueness":
                lines.append(f"duplicate key {schema.unique} ({where}: {row.get('failure_case')})")
            elif what == "column_in_dataframe":
                lines.append(f"missing column {row.get('failure_case')}")
            else:
                lines.append(f"column {row.get('column')}: {what} ({where}, value {row.get('failure_case')})")
        more = f" (+{cases.height - 10} more)" if cases.height > 10 else ""
        raise DerivedContractError(f"{schema.name}: refusing to write {frame.height} rows: "
                                   + "; ".join(lines) + more) from None
