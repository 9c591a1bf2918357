"""IV-rank option strategies and the LightGBM gate that filters them (pure functions, no IO).

Sell defined-risk premium (iron condor, or the put / call credit spread the skew makes
rich) when IV rank is high, buy the straddle when it is low; every (day, structure)
candidate is simulated with profit target, stop and DTE-floor exits at Deribit quotes and
fees; a walk-forward classifier gates the rule's trades, and a regime table chooses a
structure per regime from past months. Modules: config (settings and why), candidates
(legs per day and structure), trades (vectorised paths, exits, costs, attribution),
gate (features, walk-forward, thresholds), strategies (rule, schedule, regime choice),
metrics (per strategy x regime x cost), run (all of it).
"""

from .config import GATED, REGIME_SELECTION, RULE, STRATEGIES, STRUCTURES, IVRankConfig
from .gate import choose_thresholds, walk_forward
from .run import IVRankResult, run_ivrank
from .strategies import regime_choices, rule_structure, schedule

__all__ = [
    "GATED", "REGIME_SELECTION", "RULE", "STRATEGIES", "STRUCTURES", "IVRankConfig", "IVRankResult",
    "choose_thresholds", "regime_choices", "rule_structure", "run_ivrank", "schedule", "walk_forward",
]
