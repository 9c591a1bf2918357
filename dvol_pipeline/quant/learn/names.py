"""The model family names, in one place.

`registry.py` maps each name to its class (and checks the two agree) and re-exports these;
`ensemble.py` takes its default members from here, since it cannot import the registry
(the registry imports it). A leaf module: importing it loads no model library.
"""

from __future__ import annotations

FAMILIES: tuple[str, ...] = ("zero", "mean_reversion", "har", "garch", "lightgbm", "lstm", "ensemble")
"""Every family, in display order."""

ENSEMBLE = "ensemble"
ZERO = "zero"
"""The zero-change forecast: the benchmark of R²_oos, and a family with no directional call."""

BENCHMARK = "har"
"""The family others are compared with: Diebold-Mariano in the forecast metrics, promotion."""

MEMBER_FAMILIES: tuple[str, ...] = tuple(f for f in FAMILIES if f != ENSEMBLE)
"""The families a walk-forward fold fits on its training window (the ensemble only combines them)."""

ENSEMBLE_MEMBERS: tuple[str, ...] = tuple(f for f in MEMBER_FAMILIES if f != ZERO)
"""The ensemble's default members: a weighted mean gains nothing from the zero forecast."""

RESIDUAL_FAMILIES: tuple[str, ...] = ("lightgbm", "lstm")
"""The families that forecast HAR + λ · a learned residual (residual.py): their rows carry the raw
residual forecast (`residual_hat`), and their λ is gated on earlier folds' track record."""
