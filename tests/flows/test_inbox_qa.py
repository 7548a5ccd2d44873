"""`rosterflow serve` over a per-tenant layout (`wh/{tenant}.duckdb`): a zip whose tenant's file
the layout refuses as it stands is filed once under `rejected/`, not tried again every scan;
a tenant's file held by an analyst's session keeps that tenant's zip waiting, not the others'."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from rosterflow.flows.cli import app
from rosterflow.flows.inbox import (
    PROCESSED,
    REJECTED,
    ScanSteps,
    ZipsWaiting,
    scan_inbox,
    verdict,
)
from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.issues import issue_frame
from rosterflow.schemas.runs import SyncResult
from rosterflow.schemas.settings import Settings
from rosterflow.warehouse.layout import REGISTRY, Layout, TenantFileRefused
from rosterflow.warehouse.schema import WarehouseError
from tests.feeds import tiny_district, with_cell, write_feed
from tests.webhook import Receiver

runner = CliRunner()
TEMPLATE = "wh/{tenant}.duckdb"


def _aged(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def _files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def _once(inbox: Path, template: Path, *extra: str, prefect: str = "--no-prefect"):
    arguments = ["serve", "--inbox", str(inbox), "--warehouse", str(template), "--once"]
    return runner.invoke(app, [*arguments, "--settle", "0", prefect, *extra])


@pytest.fixture
def webhook():
    found = Receiver()
    yield found
    found.close()


# --- verdicts ----------------------------------------------------------------------------------


def test_a_refused_tenant_file_is_a_rejection_and_a_lock_still_waits():
    def wrapped(cause: Exception) -> Exception:
        try:
            raise RuntimeError("Flow run encountered an exception") from cause
        except RuntimeError as error:
            return error

    refused = verdict("n.zip", wrapped(TenantFileRefused("wh/north.duckdb: one-file", "north")))
    assert (refused.outcome, refused.folder, refused.tenant) == ("rejected", REJECTED, "north")
    assert refused.issues.select("rule", "severity", "message").rows() == [
        ("sync.rejected", "error", "wh/north.duckdb: one-file")
    ]
    locked = verdict("n.zip", WarehouseError("wh/north.duckdb: cannot open the warehouse"))
    assert (locked.outcome, locked.folder) == ("waiting", None)


def test_a_ledger_that_cannot_be_read_keeps_its_zip_waiting_and_the_others_go_on(tmp_path):
    """A tenant's file locked past the wait made the ledger's lookup raise, and the whole scan
    ended there: every other tenant's zip waited for that one tenant's lock."""
    inbox = tmp_path / "inbox"
    _aged(write_feed(inbox / "north.zip", tiny_district()), 20)
    _aged(write_feed(inbox / "south.zip", tiny_district()), 10)
    synced: list[str] = []

    def look_up_ledger(warehouse, zip_path, tenant=None):
        if tenant == "north":
            raise WarehouseError("wh/north.duckdb: cannot open the warehouse: it is locked")
        return None

    def sync(feed, warehouse, config, tenant=None) -> SyncResult | BaseException:
        synced.append(Path(feed).name)
        return run_sync(feed, warehouse, Settings(), tenant)

    steps = ScanSteps(sync=sync, look_up_ledger=look_up_ledger)
    with pytest.raises(ZipsWaiting) as waiting:
        scan_inbox(steps, str(inbox), str(tmp_path / TEMPLATE), settle_seconds=0)

    assert synced == ["south.zip"]
    assert {(f.name, f.outcome) for f in waiting.value.filed} == {
        ("north.zip", "waiting"),
        ("south.zip", "applied"),
    }
    assert _files_under(inbox) == {"north.zip", "processed/south.zip", "processed/south.issues.csv"}


def _applied(tenant: str) -> SyncResult:
    summary = pl.DataFrame(schema={"entity": pl.String, "action": pl.String, "count": pl.UInt32})
    return SyncResult(7, tenant, f"{tenant}.zip", "applied", None, summary, issue_frame([]))


@pytest.mark.parametrize("warehouse", ["w.duckdb", TEMPLATE], ids=["one-file", "layout"])
def test_a_tenant_s_later_zip_waits_behind_its_earlier_zip_that_waits(tmp_path, warehouse):
    """Monday's zip waited for a lock; Tuesday's, tried next in the same scan once the lock
    was gone, was applied, and Monday's, applied at the next scan, took the tenant back to
    Monday's roster (the students Tuesday's export added removed again)."""
    inbox = tmp_path / "inbox"
    for name, age in (("monday", 30), ("tuesday", 20)):
        feed = write_feed(
            inbox / f"{name}.zip", tiny_district(), properties={"source.systemCode": "north"}
        )
        _aged(feed, age)
    _aged(write_feed(inbox / "south.zip", tiny_district()), 10)
    synced: list[str] = []

    def sync(feed, warehouse, config, tenant=None) -> SyncResult | BaseException:
        synced.append(Path(feed).name)
        if Path(feed).name == "monday.zip":  # the tenant's file locked past the wait
            return WarehouseError("north.duckdb: cannot open the warehouse: it is locked")
        return _applied(tenant or Path(feed).stem)

    steps = ScanSteps(sync=sync, look_up_ledger=lambda *_: None)
    with pytest.raises(ZipsWaiting) as waiting:
        scan_inbox(steps, str(inbox), str(tmp_path / warehouse), settle_seconds=0)

    assert synced == ["monday.zip", "south.zip"]
    filed = {f.name: f for f in waiting.value.filed}
    assert (filed["tuesday.zip"].outcome, filed["tuesday.zip"].path) == (
        "waiting",
        inbox / "tuesday.zip",
    )
    assert "monday.zip, of the same tenant and older, stays in the inbox" in (
        filed["tuesday.zip"].message
    )
    assert filed["south.zip"].outcome == "applied"
    assert {"monday.zip", "tuesday.zip"} <= _files_under(inbox)


# --- serve --once, for real --------------------------------------------------------------------


@pytest.mark.parametrize(
    "prefect",
    ["--no-prefect", pytest.param("--prefect", marks=[pytest.mark.flow, pytest.mark.slow])],
)
def test_a_zip_of_a_tenant_whose_file_the_layout_refuses_is_filed_once_and_notified_once(
    tmp_path, webhook, prefect
):
    """A one-file warehouse copied in as a tenant's file is refused before anything is
    written; the inbox left the zip where it was, and every scan synced it again, failed
    alike, exited 2 and notified again, forever."""
    one_file = tmp_path / "north-one-file.duckdb"
    run_sync(write_feed(tmp_path / "north.zip", tiny_district()), one_file, Settings(), "north")
    (tmp_path / "wh").mkdir()
    copied = Path(shutil.copy(one_file, tmp_path / "wh" / "north.duckdb"))
    before = copied.read_bytes()
    config = tmp_path / "settings.toml"
    config.write_text(f'[notify]\nwebhook = "{webhook.url}"\n')
    inbox = tmp_path / "inbox"
    changed = with_cell(tiny_district(), "users", 0, "givenName", "Ann")
    write_feed(inbox / "nightly.zip", changed, properties={"source.systemCode": "north"})

    first = _once(inbox, tmp_path / TEMPLATE, "--config", str(config), prefect=prefect)

    assert first.exit_code == 1, first.output
    assert _files_under(inbox) == {"rejected/nightly.zip", "rejected/nightly.issues.csv"}
    report = (inbox / REJECTED / "nightly.issues.csv").read_text()
    assert "sync.rejected" in report and "holds 1 run(s) of a one-file warehouse" in report
    assert [post["outcome"] for post in webhook.posts] == ["rejected"]

    second = _once(inbox, tmp_path / TEMPLATE, "--config", str(config), prefect=prefect)

    assert second.exit_code == 0, second.output
    assert "no new complete zip" in second.output
    assert len(webhook.posts) == 1  # told once
    # nothing of the layout's written: the file as copied, no tenant registered
    assert copied.read_bytes() == before
    assert Layout(str(tmp_path / TEMPLATE)).tenants() == {}
    assert not list((tmp_path / "wh" / REGISTRY).iterdir())


HOLDER = """
import sys, time, duckdb
# a notebook's session left open (read-only), or another machine's sync of the tenant
con = duckdb.connect(sys.argv[1], read_only=sys.argv[3] == "read-only")
print("open", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _two_tenants_and_north_s_zips(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    """A layout of north and south, and an inbox of north's first zip again (a duplicate),
    then a changed zip of each."""
    template = tmp_path / TEMPLATE
    for tenant in ("north", "south"):
        run_sync(
            write_feed(tmp_path / f"{tenant}.zip", tiny_district()), template, Settings(), tenant
        )
    inbox = tmp_path / "inbox"
    changed = with_cell(tiny_district(), "users", 0, "givenName", "Ann")
    for tenant in ("north", "south"):
        write_feed(inbox / f"{tenant}-2.zip", changed, properties={"source.systemCode": tenant})
    # north's first zip again (the same bytes): a duplicate, told by a read-only lookup
    _aged(Path(shutil.copy(tmp_path / "north.zip", inbox / "north.zip")), 20)
    monkeypatch.setenv("ROSTERFLOW_LOCK_WAIT_SECONDS", "0.5")
    return template, inbox


@pytest.mark.slow
def test_a_tenant_file_an_analyst_holds_open_keeps_only_that_tenant_s_zip_waiting(
    tmp_path, monkeypatch
):
    """The ledger's lookup opened the tenant's file for writing: an analyst's read-only session
    on it stopped the whole scan (exit 2, one line), and no other tenant's zip was synced."""
    template, inbox = _two_tenants_and_north_s_zips(tmp_path, monkeypatch)
    analyst = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(_north_file(template)), "30", "read-only"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert analyst.stdout.readline() == "open\n"
        scanned = _once(inbox, template)
    finally:
        analyst.kill()
        analyst.wait(timeout=30)

    assert scanned.exit_code == 2, scanned.output
    assert _files_under(inbox) == {
        "north-2.zip",
        f"{PROCESSED}/north.zip",
        f"{PROCESSED}/north.issues.csv",
        f"{PROCESSED}/south-2.zip",
        f"{PROCESSED}/south-2.issues.csv",
    }
    assert "duplicate" in scanned.output
    assert "north-2.zip" in scanned.output and "locked by another process" in scanned.output

    # the analyst gone, the next scan syncs it
    again = _once(inbox, template)
    assert again.exit_code == 0, again.output
    assert "north-2.zip" not in _files_under(inbox)


def _north_file(template: Path) -> Path:
    return Layout(str(template)).path_for("north")


@pytest.mark.slow
@pytest.mark.flow
def test_a_tenant_file_a_writer_holds_keeps_that_tenant_s_zips_waiting_in_a_prefect_scan(
    tmp_path, monkeypatch
):
    """A writer's hold (another machine's sync of the tenant) keeps even the ledger's read-only
    lookup out: that zip waits, its tenant's later zip waits behind it untried, and the other
    tenant's zip is synced; the Prefect scan ends as the plain one does."""
    template, inbox = _two_tenants_and_north_s_zips(tmp_path, monkeypatch)
    writer = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(_north_file(template)), "60", "write"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline() == "open\n"
        scanned = _once(inbox, template, prefect="--prefect")
    finally:
        writer.kill()
        writer.wait(timeout=30)

    assert scanned.exit_code == 2, scanned.output
    assert _files_under(inbox) == {
        "north.zip",
        "north-2.zip",
        f"{PROCESSED}/south-2.zip",
        f"{PROCESSED}/south-2.issues.csv",
    }
    assert "of the same tenant and older, stays in the inbox" in scanned.output.replace("\n", " ")
