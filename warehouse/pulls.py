"""What audit says about a tenant's earlier pulls of a OneRoster API, for the next delta.

A run that synced a pull is recorded in `audit.sync_runs` with the URL as its feed name: the
base URL for a full pull, the URL with its `?filter=dateLastModified>'…'` for a delta. That is
the whole record of a pull; nothing else is stored. A delta may follow only where the tenant's
lms is what the pulls left, so the next pull reads here: the tenant's latest applied run (was it
a pull of this URL? did it apply a held run's plan, pulled earlier?) and its latest applied full
pull of the URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rosterflow.warehouse.layout import existing_tenant_warehouse
from rosterflow.warehouse.schema import WarehouseError, connect


@dataclass(frozen=True)
class PullHistory:
    latest_feed: str | None = None  # the feed name of the tenant's latest applied run
    latest_started_at: datetime | None = None  # when that run started (UTC)
    latest_approved: bool = False  # it applied a held run's plan, approved later
    full_started_at: datetime | None = None  # the latest applied run of the URL itself (UTC)


def pull_history(warehouse: str | Path, tenant: str, url: str) -> PullHistory:
    """The tenant's latest applied run and latest full pull of `url`; nothing for a warehouse
    (or a tenant file of a layout) not there yet, or one a sync has to migrate first."""
    path = existing_tenant_warehouse(warehouse, tenant)
    if path is None:
        return PullHistory()
    try:
        con = connect(path, read_only=True)
    except WarehouseError:
        return PullHistory()  # a full pull is always right
    with con:
        row = con.execute(
            """
            with applied as (
                select run_id, feed_name, started_at
                from audit.sync_runs
                where tenant = $tenant and outcome = 'applied'
            ),

            latest as (
                select * from applied order by run_id desc limit 1
            ),

            final as (
                select
                    latest.feed_name,
                    latest.started_at,
                    exists (
                        select 1 from audit.decisions as decisions
                        where decisions.result_run_id = latest.run_id
                            and decisions.decision = 'approved'
                    ) as approved,
                    (select max(started_at) from applied where feed_name = $url) as full_at,
                from latest
            )

            select * from final
            """,
            {"tenant": tenant, "url": url},
        ).fetchone()
    if row is None:
        return PullHistory()
    return PullHistory(*row)
