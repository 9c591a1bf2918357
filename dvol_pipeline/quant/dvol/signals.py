"""The end-of-day signal rule: forecasts of the promoted models -> direction and confidence.

Direction comes from the primary horizon alone: long DVOL when its forecast is at least
tau, short when at most -tau, flat otherwise (or when the forecast is missing). Confidence
is the past hit rate of that model's active signals, 0 when flat. A coin whose promotion
row lacks a value falls back to the `SignalConfig` defaults, which say so in one place.

Each row names the models that scored it twice: `model_version`, display text of every
horizon's family and fold, and `family`, the primary horizon's family as a column (what the
paper book's reconciliation joins the backtest on), null when no saved model scored it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl


@dataclass(frozen=True)
class SignalConfig:
    fallback_family: str = "har"
    """Family scored for a horizon the promotion table does not name (the baseline)."""
    fallback_confidence: float = 0.5
    """Confidence of a model with no past active signal: a coin flip, not a claim."""
    fallback_primary: int = 7
    """Primary horizon when no row is marked primary (the option book's horizon)."""
    fallback_tau: float = 0.0
    """Threshold of a horizon without one (any nonzero forecast trades)."""


@dataclass(frozen=True)
class Promotion:
    """What the signals need from `model_promotion` for one coin."""

    family: dict[int, str]  # horizon -> promoted family
    tau: dict[int, float]  # horizon -> threshold (vol points)
    confidence: dict[int, float]  # horizon -> past hit-rate of active signals
    primary: int  # horizon that sets the direction

    def family_for(self, horizon: int, config: SignalConfig = SignalConfig()) -> str:
        return self.family.get(horizon, config.fallback_family)


DIRECTION_NAMES = {1: "long DVOL", 0: "flat", -1: "short DVOL"}
"""A signal's direction in words: +1 the forecast expects DVOL up (long DVOL futures), -1 down."""


@dataclass(frozen=True)
class Decision:
    direction: int
    confidence: float
    primary_horizon: int
    tau: float


def promotions_from_table(table: pl.DataFrame, config: SignalConfig = SignalConfig()) -> dict[str, Promotion]:
    """`model_promotion` rows (asset, horizon, promoted_family, tau, hit_rate_active, primary) by coin."""
    out = {}
    for asset, rows in table.partition_by("asset", as_dict=True, maintain_order=True).items():
        rows = rows.sort("horizon")
        primary = rows.filter(pl.col("primary"))["horizon"]
        out[asset[0]] = Promotion(
            family=dict(zip(rows["horizon"], rows["promoted_family"], strict=True)),
            tau=dict(zip(rows["horizon"], rows["tau"].fill_null(config.fallback_tau), strict=True)),
            confidence=dict(zip(rows["horizon"], rows["hit_rate_active"].fill_null(config.fallback_confidence),
                                strict=True)),
            primary=int(primary[0]) if primary.len() else config.fallback_primary,
        )
    return out


def decide(yhat: Mapping[int, float], promotion: Promotion, config: SignalConfig = SignalConfig()) -> Decision:
    """The day's direction from the primary horizon's forecast against its threshold."""
    h0 = promotion.primary
    tau = promotion.tau.get(h0, config.fallback_tau)
    y0 = yhat.get(h0, float("nan"))
    direction = 0 if not np.isfinite(y0) else (1 if y0 >= tau else -1 if y0 <= -tau else 0)
    confidence = promotion.confidence.get(h0, config.fallback_confidence) if direction else 0.0
    return Decision(direction, confidence, h0, tau)


@dataclass(frozen=True)
class Scored:
    """The model that scored one horizon of a day: its family and the fold it was trained in
    (None: the store holds no fold of the family up to the day's month)."""

    family: str
    fold: str | None


def model_version(models: Mapping[int, Scored], day: date) -> str:
    """'1d=har@2024-06 7d=garch@2024-05(stale) 14d=none': family@fold per horizon, `(stale)`
    where the fold is older than the day's month (the month's fold has not run yet)."""
    parts = []
    for h, m in sorted(models.items()):
        if m.fold is None:
            parts.append(f"{h}d=none")
        else:
            parts.append(f"{h}d={m.family}@{m.fold}{'' if m.fold == f'{day:%Y-%m}' else '(stale)'}")
    return " ".join(parts)


def followed_family(models: Mapping[int, Scored], decision: Decision) -> str | None:
    """The family whose forecast set the direction: the primary horizon's, if a model scored it."""
    m = models.get(decision.primary_horizon)
    return None if m is None or m.fold is None else m.family
