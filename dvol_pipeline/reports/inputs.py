"""What a tear sheet is made from, and how its frames are checked, labelled and ranked.

A strategy name alone is not a series: the backtests name the strategy after the horizon
(`dvol_futures_7d`) and run it once per forecast family and coin. So every frame gets a
`SERIES` label made of the strategy plus whichever of family, horizon and asset vary within
it, and charts, rankings and colours all work on that label.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

MAX_SERIES = 8
SERIES = "__series"
SERIES_KEYS = ("strategy", "family", "horizon", "asset")

REQUIRED: dict[str, tuple[str, ...]] = {
    "key_numbers": ("strategy", "net_usd", "sharpe"),
    "daily": ("date", "strategy", "equity_usd", "drawdown_usd"),
    "predictions": ("date", "horizon", "family", "y_hat", "y"),
    "shap": ("feature", "mean_abs_shap"),
    "cost_sensitivity": ("strategy", "cost_mult", "net_usd"),
    "by_regime": ("strategy", "regime"),
    "by_year": ("strategy", "year"),
    "in_vs_out_of_sample": ("strategy", "sample", "sharpe"),
    "sweep": ("strategy", "tau", "cost_mult", "sharpe"),
    "robustness": ("strategy",),  # long (metric, mean, p5, p95) or wide (sharpe_p5, ...): shown as given
    "risk_effects": ("strategy",),  # the control is named `control` or `variant`
    "options_daily": ("date", "strategy", "equity_usd"),
    "options_cost_sensitivity": ("cost_mult", "net_usd"),
    "promotion": ("horizon", "promoted_family"),
    "ivrank_folds": ("fold", "n", "auc", "threshold"),
    "ivrank_metrics": ("strategy", "regime", "asset", "cost_mult", "net_usd", "sharpe"),
    "ivrank_daily": ("strategy", "asset", "date", "net_usd"),
    "smile_models": ("test", "model", "slices"),
}


@dataclass
class TearSheetData:
    """Inputs of one tear sheet; `generated_at` is passed in so the output has no clock in it."""

    title: str = "DVOL tear sheet"
    asset: str = ""
    run_id: str = ""
    generated_at: str = ""
    notes: list[str] = field(default_factory=list)
    key_numbers: pl.DataFrame | None = None
    daily: pl.DataFrame | None = None
    predictions: pl.DataFrame | None = None
    shap: pl.DataFrame | None = None
    cost_sensitivity: pl.DataFrame | None = None
    by_regime: pl.DataFrame | None = None
    by_year: pl.DataFrame | None = None
    in_vs_out_of_sample: pl.DataFrame | None = None
    sweep: pl.DataFrame | None = None
    robustness: pl.DataFrame | None = None
    risk_effects: pl.DataFrame | None = None
    options_daily: pl.DataFrame | None = None
    options_cost_sensitivity: pl.DataFrame | None = None
    promotion: pl.DataFrame | None = None
    ivrank_folds: pl.DataFrame | None = None
    ivrank_metrics: pl.DataFrame | None = None
    ivrank_daily: pl.DataFrame | None = None
    smile_models: pl.DataFrame | None = None
    """surface_model_comparison summarised per (test, model): SVI, repaired SVI and SABR errors."""
    mlflow_run: str | None = None


class Unavailable(Exception):
    """A section cannot be drawn; the message is shown to the reader."""


def frame_of(data: TearSheetData, name: str) -> pl.DataFrame:
    """The input restricted to this sheet's asset (when it has rows of it), or Unavailable saying why not."""
    frame = getattr(data, name)
    if frame is None:
        raise Unavailable(f"no {name} input")
    missing = [c for c in REQUIRED[name] if c not in frame.columns]
    if missing:
        raise Unavailable(f"missing columns {missing} in {name}")
    if data.asset and "asset" in frame.columns and frame.schema["asset"] == pl.String:
        if (frame["asset"] == data.asset).any():
            frame = frame.filter(pl.col("asset") == data.asset)
    return rows(frame, f"{name} has no rows")


def maybe(build: Callable[[], pl.DataFrame]) -> pl.DataFrame | None:
    try:
        return build()
    except Unavailable:
        return None


def rows(frame: pl.DataFrame, reason: str) -> pl.DataFrame:
    if frame.height == 0:
        raise Unavailable(reason)
    return frame


def floats(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    return frame.with_columns(pl.col(c).cast(pl.Float64, strict=False) for c in columns if c in frame.columns)


def dates(frame: pl.DataFrame, column: str = "date") -> pl.DataFrame:
    if frame.schema[column] == pl.String:
        frame = frame.with_columns(pl.col(column).str.to_date(strict=False))
    return rows(frame.drop_nulls(column), f"no rows with a valid {column}")


def key_columns(frame: pl.DataFrame) -> list[str]:
    return [c for c in SERIES_KEYS if c in frame.columns]


def labelled(frame: pl.DataFrame) -> pl.DataFrame:
    """Add SERIES: the strategy, plus each key column that takes several values within it."""
    extra = [c for c in SERIES_KEYS[1:] if c in frame.columns]
    if extra:
        spread = frame.group_by("strategy").agg(pl.col(extra).n_unique()).select(pl.col(extra).max()).row(0)
        extra = [c for c, n in zip(extra, spread) if n > 1]
    parts = [pl.col(c).cast(pl.String).fill_null("–") for c in ("strategy", *extra)]
    return frame.with_columns(pl.concat_str(parts, separator=" · ").alias(SERIES))


_PROFILE = {
    SERIES: pl.String, "family": pl.String, "horizon": pl.Int64, "sharpe": pl.Float64, "final_equity": pl.Float64,
}  # fmt: skip


def _profile(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        pl.col(c).cast(t, strict=False) if c in frame.columns else pl.lit(None, t).alias(c)
        for c, t in _PROFILE.items()
    )


def ranked_series(data: TearSheetData) -> list[str]:
    """Promoted (family, horizon) first, then by Sharpe, then by final equity, then by label."""
    profiles = []
    keys = maybe(lambda: frame_of(data, "key_numbers"))
    if keys is not None:
        profiles.append(_profile(labelled(keys)))
    daily = maybe(lambda: floats(dates(frame_of(data, "daily")), "equity_usd"))
    if daily is not None:
        last = labelled(daily).sort("date").group_by(SERIES).agg(pl.all().last())
        profiles.append(_profile(last.rename({"equity_usd": "final_equity"})))
    if not profiles:
        return []
    ranking = pl.concat(profiles).group_by(SERIES).agg(pl.all().drop_nulls().first())
    promoted = pl.DataFrame(schema={"horizon": pl.Int64, "family": pl.String})
    promotion = maybe(lambda: frame_of(data, "promotion"))
    if promotion is not None:
        promoted = promotion.select(
            pl.col("horizon").cast(pl.Int64, strict=False), pl.col("promoted_family").cast(pl.String).alias("family")
        )
    flags = promoted.unique().with_columns(promoted=pl.lit(True))
    ranking = ranking.join(flags, on=["horizon", "family"], how="left")
    ranking = ranking.with_columns(pl.col("promoted").fill_null(False))
    order = ["promoted", "sharpe", "final_equity", SERIES]
    return ranking.sort(order, descending=[True, True, True, False], nulls_last=True)[SERIES].to_list()


@dataclass(frozen=True)
class Context:
    """The ranking shared by every chart, so a series keeps its place (and so its colour) across the sheet."""

    ranked: list[str]

    def pick(self, labels: list[str], limit: int = MAX_SERIES) -> list[str]:
        """Ranked labels present in `labels` first, the rest by name."""
        present = set(labels)
        ordered = [s for s in self.ranked if s in present] + sorted(present - set(self.ranked))
        return ordered[:limit]


def selection_caption(shown: int, total: int, what: str = "series") -> str:
    if shown >= total:
        return f"all {total} {what}"
    return f"{shown} of {total} {what}: promoted first, then by Sharpe"
