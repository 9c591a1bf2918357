"""`fresh`: one check per raw table that fails when its newest partition is too old.

It runs on its own (`freshness_check_job`, `freshness_schedule`) so a lake that stopped
filling is noticed even when no run happens. Severity ERROR, because signals computed on a
stale lake are wrong, but not blocking: it must never stop the ingestion that would cure it.
The age limit is one setting, `max_age_days` of the check's config (default 2: just after
the 00:30 end-of-day run the newest day is 1 day old, so 2 tolerates one late run and
catches a missed one); set it in the launchpad or in the freshness schedule's run config.
"""

from datetime import UTC, date, datetime

import dagster as dg
from pydantic import Field

from dvol_pipeline.assets.metadata import markdown
from dvol_pipeline.contracts.tables import RAW_TABLES
from dvol_pipeline.lake.freshness import freshness_report, staleness_message
from dvol_pipeline.resources import LakeResource, MarketResource
from dvol_pipeline.settings import FRESHNESS_MAX_AGE_DAYS

DEFAULT_MAX_AGE_DAYS = FRESHNESS_MAX_AGE_DAYS
FRESH_CHECK = "fresh"


class FreshnessConfig(dg.Config):
    max_age_days: int = Field(
        default=DEFAULT_MAX_AGE_DAYS, ge=0, description="oldest acceptable age of the newest partition, in days"
    )
    today: str | None = Field(
        default=None, description="ISO day the lake is judged at (the schedule sets its tick's day; default now, UTC)"
    )


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(FRESH_CHECK, asset=t, description="newest raw partition is at most max_age_days old")
        for t in RAW_TABLES
    ],
    can_subset=True,
    description="Reads folder names only (no data), so it is cheap enough to run every hour.",
)
def raw_freshness_checks(context: dg.AssetCheckExecutionContext, config: FreshnessConfig, lake: LakeResource,
                         market: MarketResource):
    today = date.fromisoformat(config.today) if config.today else datetime.now(UTC).date()
    max_age = config.max_age_days
    tables = sorted(k.asset_key.path[-1] for k in context.selected_asset_check_keys)
    report = freshness_report(lake.path, tables, today, max_age, coins=market.coins)
    for table, rows in report.group_by("table", maintain_order=True):
        yield dg.AssetCheckResult(
            asset_key=table[0],
            check_name=FRESH_CHECK,
            passed=not rows["stale"].any(),
            severity=dg.AssetCheckSeverity.ERROR,
            description=staleness_message(rows, lake.path, today, max_age),
            metadata={
                "today": today.isoformat(),
                "max_age_days": max_age,
                "newest_by_coin": dg.MetadataValue.json(
                    {a: (None if n is None else n.isoformat()) for a, n in rows.select("asset", "newest").iter_rows()}
                ),
                "oldest_age_days": rows["age_days"].max(),
                "coins": markdown(rows.drop("table")),
            },
        )


freshness_checks = [raw_freshness_checks]
