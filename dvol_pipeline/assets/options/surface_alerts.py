"""`atm_iv_spike` and `skew_inversion`: alert checks on `surface_features`, one event per (coin, day).

Severity WARN: a spike or a flipped skew is news for the desk, not a broken partition, so
nothing downstream is held back. Each failed check lists its events in the `events`
metadata; `alerts.surface_alert_sensor` posts each event to the webhook once.
"""

import dagster as dg
import polars as pl

from dvol_pipeline.quant.pricing.surface.alerts import AlertRules

SURFACE_FEATURES = "surface_features"
EVENTS_LISTED = 200
"""Events kept in a check's metadata (a long backfill lists its newest)."""
RULES = AlertRules()

ALERT_CHECK_SPECS = [
    dg.AssetCheckSpec("atm_iv_spike", asset=SURFACE_FEATURES,
                      description=f"30-day ATM vol more than {RULES.iv_spike_ratio - 1:.0%} above its mean over the "
                      f"{RULES.iv_mean_days} days before (WARN; each spike is posted once to the alert webhook)"),
    dg.AssetCheckSpec("skew_inversion", asset=SURFACE_FEATURES,
                      description="30-day 25-delta risk reversal changed sign from the day before (WARN; posted once)"),
]


def events(frame: pl.DataFrame) -> list[dict]:
    """JSON-ready events, newest first, at most EVENTS_LISTED."""
    newest = frame.sort(["date", "asset"], descending=[True, False]).head(EVENTS_LISTED)
    return [{k: (v.isoformat() if k == "date" else round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
            for r in newest.iter_rows(named=True)]


def _result(name: str, frame: pl.DataFrame, what: str) -> dg.AssetCheckResult:
    listed = events(frame)
    lines = [f"{e['asset']} {e['date']}" for e in listed[:10]]
    return dg.AssetCheckResult(
        asset_key=SURFACE_FEATURES, check_name=name, passed=frame.is_empty(), severity=dg.AssetCheckSeverity.WARN,
        description=f"no {what}" if frame.is_empty() else f"{frame.height} {what}: " + ", ".join(lines),
        metadata={"n_events": frame.height, "events": dg.MetadataValue.json({"events": listed})},
    )


def alert_check_results(spikes: pl.DataFrame, inversions: pl.DataFrame):
    yield _result("atm_iv_spike", spikes, "ATM IV spikes")
    yield _result("skew_inversion", inversions, "skew inversions")


def no_alerts(note: str):
    for spec in ALERT_CHECK_SPECS:
        yield dg.AssetCheckResult(asset_key=SURFACE_FEATURES, check_name=spec.name, passed=True,
                                  description=f"nothing to check: {note}")
