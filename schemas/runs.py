"""A sync run as audit records it, and as a sync returns it.

`RunRecord` is one row of `audit.sync_runs` in the making: a run is started, then ends as
`applied`, `planned` (a dry run), `held` (over a safety guard), `rejected` or `failed`.
`SyncResult` is what the caller gets back: the outcome, the change summary (a group-by of the
change set), the issues, and the accounts made by hand the run adopts (its report lists them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from rosterflow.schemas.changes import ADOPTION_SCHEMA, Plan
from rosterflow.schemas.issues import ISSUE_SCHEMA


@dataclass(frozen=True)
class RunRecord:
    run_id: int
    tenant: str
    feed_name: str | None
    feed_sha256: str | None
    started_at: datetime
    outcome: str  # applied | planned | held | rejected | failed
    message: str | None = None
    content_sha256: str | None = None
    settings_key: str | None = None
    planning: str | None = None  # incremental | full | recalled
    planning_note: str | None = None
    full: bool = False  # planning in full was asked for (sync --full)
    attempt_key: str | None = None  # the Prefect flow run that ran it


@dataclass
class SyncResult:
    run_id: int
    tenant: str
    feed_name: str
    outcome: str  # applied | planned | held | rejected | failed
    message: str | None
    summary: pl.DataFrame  # entity, action, count
    issues: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ISSUE_SCHEMA))
    planning: str | None = None  # incremental | full | recalled (None: rejected before planning)
    planning_note: str | None = None
    # the accounts the plan adopts (`Plan.adoptions`): a dry run shows which before they are
    adoptions: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ADOPTION_SCHEMA))

    @classmethod
    def of(cls, run: RunRecord, plan: Plan | None, issues: pl.DataFrame) -> SyncResult:
        """The result of `run`: the summary of its plan (none when it planned nothing)."""
        summary = (plan if plan is not None else Plan(run.tenant)).summary()
        return cls(
            run.run_id,
            run.tenant,
            run.feed_name or "",
            run.outcome,
            run.message,
            summary,
            issues,
            run.planning,
            run.planning_note,
            plan.adoptions() if plan is not None else pl.DataFrame(schema=ADOPTION_SCHEMA),
        )

    @property
    def exit_code(self) -> int:
        return 0 if self.outcome in ("applied", "planned") else 1

    def payload(self, limit: int = 20) -> dict:
        """The run as JSON for a notification: outcome, why, changes, the first issues."""
        counts = self.issues.group_by("severity", "rule").len("count").sort("severity", "rule")
        return {
            "outcome": self.outcome,
            "tenant": self.tenant,
            "run_id": self.run_id,
            "feed": self.feed_name,
            "message": self.message,
            "planning": self.planning,
            "changes": self.summary.to_dicts(),
            "issue_counts": counts.to_dicts(),
            "issues": self.issues.head(limit).to_dicts(),
        }
