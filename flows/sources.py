"""The districts `rosterflow serve --sources FILE` pulls from their OneRoster APIs, each on every
scan, and one pull-and-sync of a district (`pull_and_sync`, also `sync URL`'s).

The sources file lists them, each with its tenant, base URL and, optionally, a settings file of
its own (its `[source]` table says how to reach that API; a relative path is read beside the
sources file):

```toml
[[source]]
tenant = "north"
url = "https://sis.north.example/ims/oneroster/v1p1"
config = "north.toml"
```

A district whose API fails is reported with its line and the next one is pulled all the same.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rosterflow.flows.progress import announce
from rosterflow.flows.pulling import PullChoice, feed_name, pull_since
from rosterflow.schemas.printable import one_line
from rosterflow.schemas.runs import SyncResult
from rosterflow.schemas.settings import Settings, SettingsError, load_settings
from rosterflow.schemas.sources import PullSource
from rosterflow.sis.errors import SisError
from rosterflow.sis.pull import Pulled, pull
from rosterflow.warehouse.pulls import PullHistory, pull_history
from rosterflow.warehouse.schema import WarehouseError, error_text


@dataclass(frozen=True)
class PulledRun:
    """A district's pull and the sync of it."""

    pulled: Pulled
    why: str  # a full pull or a delta, and why
    result: SyncResult


def pull_choice(
    url: str, tenant: str, warehouse: str, settings: Settings, full: bool = False
) -> PullChoice:
    """A full pull, or a delta from when (`flows.pulling.pull_since`, after the tenant's runs
    in the warehouse); `full` (sync --full) always pulls in full."""
    if full and settings.source.delta:
        return PullChoice(None, "a full pull (--full)")
    history = PullHistory()
    if settings.source.delta:
        history = pull_history(warehouse, tenant, url.rstrip("/"))
    return pull_since(history, url, settings.source, datetime.now(UTC))


def sync_pulled(
    pulled: Pulled,
    since: datetime | None,
    sync: Callable[..., SyncResult],
    **parameters: object,
) -> SyncResult:
    """`sync` the pulled feed from a temporary folder, named in audit by the URL (and the
    delta's filter), its run started when the pull began reading the API."""
    with tempfile.TemporaryDirectory(prefix="rosterflow-pull-") as folder:
        feed = pulled.write(Path(folder) / "feed")
        pulled.release_records()  # (the sync reads the feed written)
        return sync(
            feed=str(feed),
            feed_name=feed_name(pulled.url, since),
            started_at=pulled.started_at,
            **parameters,
        )


class NotPulled(Exception):
    """A district that broke before its sync began (reading its settings, its secret, its
    API) with an error other than the SisError or SettingsError these word themselves: nothing
    was written, and no run records it."""


def pull_and_sync(
    url: str, tenant: str, warehouse: str, config: str | None, sync: Callable[..., SyncResult]
) -> PulledRun:
    """One district's pull, then its sync; a SisError, SettingsError or NotPulled when nothing
    could be synced."""
    try:
        settings = load_settings(config)
        choice = pull_choice(url, tenant, warehouse, settings)
        announce("pull")
        pulled = pull(url, settings.source, since=choice.since)
    except (SisError, SettingsError, WarehouseError):
        raise
    except Exception as error:
        # (a secret file that is no UTF-8 text, say): the district could not be read, which
        # is not a sync that failed (exit 1, recorded in audit) but exit 2, as an API's error
        raise NotPulled(error_text(error)) from error
    result = sync_pulled(
        pulled, choice.since, sync, warehouse=warehouse, tenant=tenant, config=config
    )
    return PulledRun(pulled, choice.why, result)


@dataclass(frozen=True)
class SourceOutcome:
    """What one scan did for one district: its run, or why there was none."""

    source: PullSource
    run: PulledRun | None = None
    error: str | None = None  # why there is no run, in one line
    unreadable: bool = False  # the API or the district's settings, not the sync, failed

    @property
    def outcome(self) -> str:
        if self.run is not None:
            return self.run.result.outcome
        return "unreadable" if self.unreadable else "failed"

    def line(self) -> str:
        """The district's line of the scan, its control characters escaped: a sources file's
        tenant is any TOML string, and a line feed in it forged a second line of the flow
        run's log (`pulls_flow` logs the line as it is), as a zip's name did the inbox's."""
        if self.run is None:
            return one_line(f"{self.source.tenant}: {self.outcome}: {self.error}")
        result = self.run.result
        changes = int(result.summary["count"].sum()) if result.summary.height else 0
        return one_line(
            f"{self.source.tenant}: {result.outcome} — run {result.run_id}, {changes:,} changes "
            f"({self.run.pulled.records:,} records pulled from {self.source.url}: "
            f"{self.run.why})"
        )


def pull_sources(
    sources: list[PullSource], warehouse: str, sync: Callable[..., SyncResult]
) -> list[SourceOutcome]:
    """Each district pulled and synced in turn; one whose API, settings or sync fails is
    reported, and the next one is pulled all the same."""
    outcomes = []
    for source in sources:
        try:
            run = pull_and_sync(source.url, source.tenant, warehouse, source.config, sync)
        except (SisError, SettingsError, WarehouseError, NotPulled) as error:
            message = f"{error}; nothing was written"
            outcomes.append(SourceOutcome(source, error=message, unreadable=True))
        except Exception as error:  # the sync itself broke: recorded as failed in audit
            outcomes.append(SourceOutcome(source, error=error_text(error)))
        else:
            outcomes.append(SourceOutcome(source, run))
    return outcomes


def scan_exit_code(outcomes: list[SourceOutcome]) -> int:
    """2 when a district could not be pulled, else 1 when a run was not applied, else 0."""
    if any(o.unreadable for o in outcomes):
        return 2
    return 1 if any(o.outcome not in ("applied", "planned") for o in outcomes) else 0
