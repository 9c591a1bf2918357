"""The signal row names its models: `model_version` as display text, `family` as a column."""

from __future__ import annotations

from datetime import date

from dvol_pipeline.quant.dvol.signals import Promotion, Scored, decide, followed_family, model_version

DAY = date(2024, 6, 12)
PROMO = Promotion(family={1: "har", 7: "garch", 14: "lightgbm"}, tau={1: 0.5, 7: 0.5, 14: 0.5},
                  confidence={1: 0.6, 7: 0.6, 14: 0.6}, primary=7)


def test_model_version_names_family_and_fold_per_horizon_stale_and_missing():
    models = {14: Scored("lightgbm", None), 1: Scored("har", "2024-06"), 7: Scored("garch", "2024-05")}
    assert model_version(models, DAY) == "1d=har@2024-06 7d=garch@2024-05(stale) 14d=none"


def test_the_family_is_the_primary_horizons_model_and_null_when_none_scored_it():
    scored = {1: Scored("har", "2024-06"), 7: Scored("garch", "2024-05"), 14: Scored("lightgbm", "2024-06")}
    decision = decide({1: 0.0, 7: 2.0, 14: -3.0}, PROMO)
    assert decision.primary_horizon == 7 and followed_family(scored, decision) == "garch"  # a stale fold still scores
    missing = {**scored, 7: Scored("garch", None)}
    assert followed_family(missing, decide({1: 0.0, 7: float("nan"), 14: -3.0}, PROMO)) is None
