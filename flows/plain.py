"""The sync and the inbox scan run in this process, without Prefect.

`rosterflow sync`, `demo` and `serve --once` take this path when no Prefect API is configured:
the same step functions the Prefect flows wrap in tasks (`flows.pipeline.run_steps`,
`flows.inbox.scan_inbox`), each announcing its name to the CLI's spinner (`flows.progress`) as
the tasks do. Opening and reading the feed are retried on an I/O error as the `load-feed` and
`read-feed` tasks are. The run is
recorded in the warehouse's audit tables as on the Prefect path; only the flow run and its
artifacts are missing. Nothing here imports Prefect.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import ParamSpec, TypeVar

from rosterflow.flows import steps as sync_steps
from rosterflow.flows.inbox import (
    SETTLE_SECONDS,
    Filed,
    ScanSteps,
    applied_run_of,
    check_settings,
    file_zip,
    open_warehouse_once,
    ready_zips,
    scan_inbox,
)
from rosterflow.flows.interrupts import ctrl_c_received
from rosterflow.flows.pipeline import Steps, run_steps
from rosterflow.flows.progress import announced
from rosterflow.schemas.runs import SyncResult
from rosterflow.schemas.settings import Settings, load_settings
from rosterflow.warehouse.runs import recall

P = ParamSpec("P")
R = TypeVar("R")

# reading the feed may meet a network share dropping out; the Prefect task retries the same way
LOAD_FEED_RETRIES = 2
LOAD_FEED_RETRY_DELAY_SECONDS = 1.0

log = logging.getLogger("rosterflow.inbox")


def run_settings(config: str | None, max_removal_share: float | None) -> Settings:
    """The settings file (or the defaults), with the command line's guard override on top."""
    return load_settings(config).with_max_removal_share(max_removal_share)


def retrying_io(step: Callable[P, R], retries: int, delay_seconds: float) -> Callable[P, R]:
    """`step`, called again up to `retries` times after an OSError. Any other error (a
    FeedError is the verdict on the feed itself) is final at once."""

    @functools.wraps(step)
    def again(*args: P.args, **kwargs: P.kwargs) -> R:
        for _ in range(retries):
            try:
                return step(*args, **kwargs)
            except OSError:
                time.sleep(delay_seconds)
        return step(*args, **kwargs)

    return again


load_settings_step = announced(run_settings, "load-settings")
STEPS = Steps(
    load_feed=retrying_io(
        announced(sync_steps.load_feed, "load-feed"),
        LOAD_FEED_RETRIES,
        LOAD_FEED_RETRY_DELAY_SECONDS,
    ),
    read_feed=retrying_io(
        announced(sync_steps.read_feed, "read-feed"),
        LOAD_FEED_RETRIES,
        LOAD_FEED_RETRY_DELAY_SECONDS,
    ),
    recall=announced(recall, "recall"),
    validate=announced(sync_steps.validate, "validate"),
    plan=announced(sync_steps.plan, "plan"),
    guard=announced(sync_steps.guard, "guard"),
    reject=announced(sync_steps.reject, "reject"),
    apply=announced(sync_steps.apply, "apply"),
    hold=announced(sync_steps.hold, "hold"),
)


def sync(
    feed: str,
    warehouse: str = "rosterflow.duckdb",
    tenant: str | None = None,
    config: str | None = None,
    dry_run: bool = False,
    max_removal_share: float | None = None,
    full: bool = False,
    feed_name: str | None = None,
    started_at: datetime | None = None,
) -> SyncResult:
    """What the `rosterflow-sync` flow does, less publishing to Prefect (same parameters)."""
    settings = load_settings_step(config, max_removal_share)
    return run_steps(
        STEPS,
        feed,
        warehouse,
        settings,
        tenant,
        dry_run,
        full,
        feed_name=feed_name,
        started_at=started_at,
    )


def sync_outcome(
    feed: str, warehouse: str, config: str | None, tenant: str | None = None
) -> SyncResult | BaseException:
    """One zip's sync for the scan: its result, or the error it failed with. A Ctrl-C is no
    failure of the zip's: DuckDB turns one that comes during a statement into an error, which
    the scan filed the zip under rejected/ for (and went on to the next zip); raised as the
    interrupt it was, it ends the scan with the zip left in the inbox."""
    try:
        return sync(feed, warehouse, tenant=tenant, config=config)
    except Exception as error:
        if ctrl_c_received():
            raise KeyboardInterrupt from error
        return error


SCAN_STEPS = ScanSteps(
    sync=sync_outcome,
    check_settings=announced(check_settings, "check-settings"),
    check_warehouse=announced(open_warehouse_once, "check-warehouse"),
    find_ready_zips=announced(ready_zips, "find-ready-zips"),
    look_up_ledger=announced(applied_run_of, "look-up-ledger"),
    file_zip=announced(file_zip, "file-zip"),
    log=log.info,
)


def scan(
    inbox: str,
    warehouse: str = "rosterflow.duckdb",
    config: str | None = None,
    settle_seconds: float = SETTLE_SECONDS,
) -> list[Filed]:
    """What the `rosterflow-inbox` flow does (same parameters), each zip synced in-process."""
    return scan_inbox(SCAN_STEPS, inbox, warehouse, config, settle_seconds)
