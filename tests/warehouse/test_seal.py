"""The seal (`warehouse.seal`): a sync trusts the lms summaries it sealed exactly when nothing
wrote the file since, and a hand edit is found and reverted however it was made."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta

import duckdb
import pytest

from rosterflow.flows.operations import runs, undo_run
from rosterflow.flows.pipeline import Steps, run_steps
from rosterflow.schemas.feed import FeedError
from rosterflow.schemas.settings import Settings
from rosterflow.warehouse import apply
from rosterflow.warehouse.seal import fingerprint, seal_path
from tests.feeds import feed_files, tiny_district, with_cell, write_zip
from tests.syncing import Warehouse

ADA = "or--u-t1"


@pytest.fixture
def synced(tmp_path) -> Warehouse:
    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district())
    return warehouse


def seal(warehouse: Warehouse) -> dict:
    return json.loads(seal_path(warehouse.path).read_text())


def write_seal(warehouse: Warehouse, state: dict) -> None:
    seal_path(warehouse.path).write_text(json.dumps(state))


def corrupt_summary(warehouse: Warehouse, tenant: str = "district") -> None:
    """A seal whose fingerprint still holds but whose summary of `tenant` is not lms's: a run
    that trusts it finds a 'hand edit' no scan would find, which shows the seal was used."""
    state = seal(warehouse)
    rows, hash_sum, active = state["tenants"][tenant]["summary"]["user"]
    state["tenants"][tenant]["summary"]["user"] = [rows, hash_sum + 1, active]
    write_seal(warehouse, state)


def test_a_write_changes_the_fingerprint_and_a_pending_log_voids_it(tmp_path):
    path = tmp_path / "file.duckdb"
    assert fingerprint(path) is None  # no file
    with duckdb.connect(str(path)) as con:
        con.execute("create table t as select range as i from range(1000)")
    sealed = fingerprint(path)
    with duckdb.connect(str(path)) as con:  # read-write, reading only: nothing written
        con.execute("select count(*) from t").fetchall()
    assert fingerprint(path) == sealed
    con = duckdb.connect(str(path))
    con.execute("update t set i = -1 where i = 5")
    assert fingerprint(path) is None  # committed into the write-ahead log, not checkpointed
    con.close()
    assert fingerprint(path) not in (None, sealed)


def test_a_sync_seals_the_file_and_the_next_trusts_the_seal(synced):
    state = seal(synced)
    assert state["fingerprint"] == fingerprint(synced.path)
    assert list(state["tenants"]) == ["district"]
    renamed = with_cell(tiny_district(), "users", 0, "givenName", "Augusta")
    assert synced.sync(renamed).planning == "incremental"
    corrupt_summary(synced)

    trusted = synced.sync(tiny_district())

    # no scan would find a hand edit: the summary came from the seal
    assert trusted.planning == "full" and "hand edit" in trusted.planning_note
    assert seal(synced)["fingerprint"] == fingerprint(synced.path)  # sealed again


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600])
def test_the_seal_may_be_read_by_whoever_may_read_its_warehouse(synced, mode):
    """A temporary file is its owner's alone: a layout's files are shared by workers under
    other accounts, whose syncs could not read the seal and scanned every lms row again."""
    synced.path.chmod(mode)
    renamed = with_cell(tiny_district(), "users", 0, "givenName", "Augusta")

    synced.sync(renamed)

    assert seal_path(synced.path).stat().st_mode & 0o777 == mode


def test_a_seal_this_account_cannot_remove_or_replace_leaves_the_syncs_to_check_lms(synced):
    """Another account's seal in a folder with the sticky bit (here: a folder in its place,
    which no unlink or rename takes either) failed every sync, as if the feed could not be
    opened, and recorded no run."""
    seal_path(synced.path).unlink()
    seal_path(synced.path).mkdir()
    (seal_path(synced.path) / "kept").write_text("another account's")
    renamed = with_cell(tiny_district(), "users", 0, "givenName", "Augusta")

    changed = synced.sync(renamed)
    again = synced.sync(renamed)

    assert (changed.outcome, again.outcome) == ("applied", "applied")
    assert again.summary.height == 0  # (lms checked whole: nothing to change)
    assert sorted(p.name for p in synced.path.parent.iterdir() if ".seal" in p.name) == [
        seal_path(synced.path).name  # (no draft left beside it)
    ]


def test_a_hand_edit_made_with_another_connection_is_reverted(synced):
    synced.execute(f"update lms.users set email = 'typo@x' where external_id = '{ADA}'")

    reverted = synced.sync(with_cell(tiny_district(), "users", 0, "givenName", "Augusta"))

    assert reverted.planning == "full" and "hand edit" in reverted.planning_note
    assert synced.row("users", ADA)["email"] == "ada.lovelace@example.org"


def test_a_hand_edit_by_a_connection_held_open_during_the_sync_is_reverted(synced):
    """Another connection of the same process shares DuckDB's database: its commit sits in
    the write-ahead log, not in the headers, and the seal is not trusted."""
    held = duckdb.connect(str(synced.path))
    try:
        held.execute(f"update lms.users set email = 'typo@x' where external_id = '{ADA}'")
        reverted = synced.sync(with_cell(tiny_district(), "users", 0, "givenName", "Augusta"))
        assert reverted.planning == "full" and "hand edit" in reverted.planning_note
        email = held.execute(f"select email from lms.users where external_id = '{ADA}'").fetchone()
        assert email == ("ada.lovelace@example.org",)
    finally:
        held.close()


def test_another_command_that_writes_voids_the_seal(synced):
    renamed = synced.sync(with_cell(tiny_district(), "users", 0, "givenName", "Augusta"))
    corrupt_summary(synced)

    undo_run(synced.path, renamed.run_id)

    assert seal(synced)["fingerprint"] != fingerprint(synced.path)
    after = synced.sync(tiny_district())
    assert "hand edit" not in after.planning_note  # scanned: lms is as the undo left it
    assert seal(synced)["fingerprint"] == fingerprint(synced.path)


def test_a_command_that_only_reads_keeps_the_seal(synced):
    """The inbox looks its zips up, and `rosterflow runs` lists runs, on a connection that
    could write: reading alone changes nothing, and the next sync still trusts the seal."""
    listed = runs(synced.path)
    assert listed.height == 1
    corrupt_summary(synced)

    trusted = synced.sync(with_cell(tiny_district(), "users", 0, "givenName", "Augusta"))

    assert "hand edit" in trusted.planning_note  # the summary came from the seal


def test_a_run_that_fails_leaves_no_seal(synced, monkeypatch):
    def disk_full() -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(apply, "_pause_for_kill_test", disk_full)
    with pytest.raises(OSError):
        synced.sync(with_cell(tiny_district(), "users", 0, "givenName", "Augusta"))

    assert not seal_path(synced.path).exists()


def test_a_run_that_stops_before_writing_puts_the_seal_back_as_it_was(synced):
    """An unreadable feed ends the run before it writes: the file and its seal stay as they
    were, and the next sync still trusts the seal."""
    files = feed_files(tiny_district())
    unreadable = write_zip(synced.dir / "bad.zip", files | {"users.csv": b"sourcedId\n\xe9\n"})
    sealed = seal_path(synced.path).read_bytes()

    with pytest.raises(FeedError, match="not UTF-8"):
        run_steps(Steps(), unreadable, synced.path, Settings(), synced.tenant)

    assert seal_path(synced.path).read_bytes() == sealed
    corrupt_summary(synced)
    trusted = synced.sync(with_cell(tiny_district(), "users", 0, "givenName", "Augusta"))
    assert "hand edit" in trusted.planning_note  # the summary came from the seal


def test_a_summary_scanned_longer_ago_than_lms_check_days_is_read_again(synced):
    corrupt_summary(synced)
    state = seal(synced)
    old = datetime.fromisoformat(state["tenants"]["district"]["scanned_at"]) - timedelta(days=8)
    state["tenants"]["district"]["scanned_at"] = old.isoformat()
    write_seal(synced, state)

    checked = synced.sync(with_cell(tiny_district(), "users", 0, "givenName", "Augusta"))

    assert checked.planning == "incremental"  # scanned, so the corrupt summary went unused
    scanned = datetime.fromisoformat(seal(synced)["tenants"]["district"]["scanned_at"])
    assert scanned > old + timedelta(days=7)


def test_lms_check_days_0_scans_at_every_run_and_seals_nothing_new(synced):
    corrupt_summary(synced)

    checked = synced.sync(
        with_cell(tiny_district(), "users", 0, "givenName", "Augusta"),
        settings={"safety": {"lms_check_days": 0}},
    )

    assert checked.planning == "incremental"
    assert seal(synced)["fingerprint"] != fingerprint(synced.path)  # the old seal, void


def test_a_run_of_another_tenant_keeps_what_the_seal_vouches_for(synced):
    synced.sync(tiny_district(), tenant="other")
    assert sorted(seal(synced)["tenants"]) == ["district", "other"]
    corrupt_summary(synced, "district")
    synced.sync(with_cell(tiny_district(), "users", 0, "givenName", "Augusta"), tenant="other")

    trusted = synced.sync(with_cell(tiny_district(), "users", 0, "givenName", "Augusta"))

    assert "hand edit" in trusted.planning_note  # district's summary came through other's run


HOLDER = """
import sys, time
from rosterflow.warehouse.layout import open_warehouse
with open_warehouse(sys.argv[1], seal_days=7) as con:
    con.execute("select count(*) from lms.users").fetchall()
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_no_other_process_can_open_the_file_for_writing_while_a_sealed_session_holds_it(synced):
    """The seal's fingerprint was read by opening the file, and closing that descriptor released
    DuckDB's POSIX lock: two syncs of one tenant then ran side by side, both as run 2, and
    one of them was lost. Whatever the session reads of the file, the lock holds."""
    assert seal_path(synced.path).exists()  # the next session begins by reading a seal
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(synced.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(duckdb.IOException, match="lock"):
            duckdb.connect(str(synced.path)).close()
    finally:
        holder.communicate("done\n", timeout=30)
    assert holder.returncode == 0
    assert seal(synced)["fingerprint"] == fingerprint(synced.path)  # and sealed again
