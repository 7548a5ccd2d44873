"""The inbox over many districts, as a district's data team sees it: a zip with the bytes of
an earlier run is not synced again, and says which runs came after that one; a tenant registry
that cannot be written keeps the new tenant's zip waiting, not rejected; a zip its folder will
not take waits in the inbox while the other tenants' zips are filed."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from rosterflow.flows.cli import app
from rosterflow.flows.inbox import PROCESSED, REJECTED, report_path
from tests.feeds import tiny_district, with_cell, write_feed
from tests.flows.cli_without_prefect import rosterflow

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

runner = CliRunner()
TEMPLATE = "wh/{tenant}.duckdb"
NORTH = {"source.systemCode": "north"}


def _aged(path: Path, hours: float) -> Path:
    then = time.time() - hours * 3600
    os.utime(path, (then, then))
    return path


def _once(inbox: Path, warehouse: Path | str, *extra: str):
    arguments = ["serve", "--inbox", str(inbox), "--warehouse", str(warehouse), "--once"]
    return runner.invoke(app, [*arguments, "--settle", "0", "--no-prefect", *extra])


def _runs(path: Path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.sql("select feed_name, outcome from audit.sync_runs order by run_id").fetchall()


def _given_name(path: Path, external_id: str) -> str:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            "select given_name from lms.users where external_id = ?", [external_id]
        ).fetchone()[0]


def _report(filed: Path) -> str:
    return report_path(filed).read_text()


def test_an_export_taken_back_to_an_earlier_one_is_filed_naming_the_runs_since_it(tmp_path):
    """Monday's export, Tuesday's with a student renamed, Wednesday's with Monday's bytes: the
    zip's sha256 is the key, so Wednesday's is not synced again, but its report says that a
    run came after Monday's and how to apply it again, where it said only "applied in run 1"
    and the tenant stayed as Tuesday's export had it without a word."""
    inbox, north = tmp_path / "inbox", tmp_path / "w.duckdb"
    district = tiny_district()
    monday = _aged(write_feed(inbox / "monday.zip", district, properties=NORTH), 3)
    renamed = with_cell(district, "users", 2, "givenName", "Samuel")  # u-s1, Sam
    _aged(write_feed(inbox / "tuesday.zip", renamed, properties=NORTH), 2)
    _aged(shutil.copy(monday, inbox / "wednesday.zip"), 1)

    scan = _once(inbox, north)

    assert scan.exit_code == 0, scan.output
    assert _runs(north) == [("monday.zip", "applied"), ("tuesday.zip", "applied")]
    wednesday = inbox / PROCESSED / "wednesday.zip"
    assert (
        "the same content was applied in run 1; not synced again, though run(s) 2 of tenant "
        "north came after it (another export, an undo, a held run): if the SIS means these "
        "records again, sync the zip with `rosterflow sync`"
    ) in _report(wednesday)
    assert _given_name(north, "or--u-s1") == "Samuel"
    synced = runner.invoke(app, ["sync", str(wednesday), "--warehouse", str(north), "--no-prefect"])
    assert synced.exit_code == 0, synced.output
    assert _given_name(north, "or--u-s1") == "Sam"


def test_an_export_delivered_again_after_its_run_was_undone_leaves_the_undo_standing(tmp_path):
    """An operator undid Tuesday's run; the same export delivered again (a mirroring upload)
    is not synced over the undo, and its report names the undo run."""
    inbox, warehouse = tmp_path / "inbox", tmp_path / "w.duckdb"
    district = tiny_district()
    _aged(write_feed(inbox / "monday.zip", district, properties=NORTH), 2)
    renamed = with_cell(district, "users", 2, "givenName", "Samuel")
    tuesday = _aged(write_feed(inbox / "tuesday.zip", renamed, properties=NORTH), 1)
    kept = shutil.copy(tuesday, tmp_path / "tuesday.zip")
    assert _once(inbox, warehouse).exit_code == 0
    undone = runner.invoke(app, ["undo", "2", "--warehouse", str(warehouse)])
    assert undone.exit_code == 0, undone.output
    _aged(shutil.copy(kept, inbox / "tuesday-again.zip"), 0.5)

    scan = _once(inbox, warehouse)

    assert scan.exit_code == 0, scan.output
    assert _runs(warehouse)[-1] == ("undo of run 2", "applied")
    assert _given_name(warehouse, "or--u-s1") == "Sam"
    assert "applied in run 2; not synced again, though run(s) 3 of tenant north" in _report(
        inbox / PROCESSED / "tuesday-again.zip"
    )


def test_an_export_again_after_a_held_one_names_the_held_run(tmp_path):
    """Tuesday's export, one enrollment short, is held; Wednesday's has Monday's bytes again:
    filed as applied before, its report names the held run, for a person to discard it (the
    SIS took the removal back) or approve it."""
    inbox, warehouse = tmp_path / "inbox", tmp_path / "w.duckdb"
    settings = tmp_path / "strict.toml"
    settings.write_text("[safety]\nmax_removal_share = 0.0\n")
    district = tiny_district()
    monday = _aged(write_feed(inbox / "monday.zip", district, properties=NORTH), 3)
    kept = shutil.copy(monday, tmp_path / "monday.zip")
    short = district | {"enrollments": district["enrollments"].slice(1)}
    _aged(write_feed(inbox / "tuesday.zip", short, properties=NORTH), 2)
    held = _once(inbox, warehouse, "--config", str(settings))
    assert held.exit_code == 1, held.output
    assert _runs(warehouse) == [("monday.zip", "applied"), ("tuesday.zip", "held")]
    _aged(shutil.copy(kept, inbox / "wednesday.zip"), 1)

    scan = _once(inbox, warehouse, "--config", str(settings))

    assert scan.exit_code == 0, scan.output
    assert len(_runs(warehouse)) == 2
    assert "applied in run 1; not synced again, though run(s) 2 of tenant north" in _report(
        inbox / PROCESSED / "wednesday.zip"
    )


def test_a_new_tenant_s_zip_waits_while_the_registry_may_not_be_written(tmp_path):
    """The tenant registry made by another account: the new tenant's zip was filed under
    rejected/ as a failed sync (exit 1), as if the feed were at fault; it waits in the inbox
    now, as for a warehouse that cannot be opened, and the known tenant's zip is synced."""
    inbox, layout = tmp_path / "inbox", tmp_path / TEMPLATE
    district = tiny_district()
    _aged(write_feed(inbox / "north.zip", district, properties=NORTH), 2)
    assert _once(inbox, layout).exit_code == 0
    renamed = with_cell(district, "users", 2, "givenName", "Samuel")
    _aged(write_feed(inbox / "north-2.zip", renamed, properties=NORTH), 1)
    _aged(write_feed(inbox / "south.zip", district, properties={"source.systemCode": "south"}), 1)
    registry = tmp_path / "wh" / ".rosterflow-tenants"
    registry.chmod(0o555)
    try:
        scan = rosterflow(
            tmp_path,
            "serve", "--inbox", str(inbox), "--warehouse", str(layout), "--once",
            "--settle", "0", "--no-prefect",
            unprivileged=True,
        )  # fmt: skip
    finally:
        registry.chmod(0o755)

    assert scan.code == 2, scan.output
    assert "south.zip: " in scan.stderr and "cannot register tenant 'south'" in scan.stderr
    assert "Traceback" not in scan.output
    assert sorted(p.name for p in inbox.glob("*.zip")) == ["south.zip"]
    assert not (inbox / "rejected").exists()
    assert _given_name(tmp_path / "wh" / "north.duckdb", "or--u-s1") == "Samuel"
    assert not (tmp_path / "wh" / "south.duckdb").exists()


def test_a_zip_its_folder_will_not_take_waits_in_the_inbox_and_the_other_tenants_go_on(
    tmp_path,
):
    """`processed/` that will not take a zip (here a file of that name; made by another
    account, more often): the error of the move ended the scan after the zip's run was
    applied, saying "nothing was written to the warehouse", and every scan after it alike,
    the other tenants' zips never tried. The zip waits now, its tenant's later zip behind it,
    the others are filed, and the next scan files it without syncing it again."""
    inbox, layout = tmp_path / "inbox", tmp_path / TEMPLATE
    district = tiny_district()
    _aged(write_feed(inbox / "monday.zip", district, properties=NORTH), 3)
    renamed = with_cell(district, "users", 2, "givenName", "Samuel")
    _aged(write_feed(inbox / "tuesday.zip", renamed, properties=NORTH), 2)
    broken = with_cell(district, "users", 2, "role", "studnet")
    _aged(write_feed(inbox / "south.zip", broken, properties={"source.systemCode": "south"}), 1)
    (inbox / PROCESSED).write_text("")
    north = tmp_path / "wh" / "north.duckdb"

    scan = _once(inbox, layout)

    assert scan.exit_code == 2, scan.output
    assert _runs(north) == [("monday.zip", "applied")]
    assert sorted(p.name for p in inbox.glob("*.zip")) == ["monday.zip", "tuesday.zip"]
    assert (inbox / REJECTED / "south.zip").exists()
    said = " ".join(scan.output.split())
    assert "monday.zip: applied (run " in said and "cannot be moved to processed/" in said
    assert "the next scan files it without syncing it again" in said
    assert "nothing was written" not in said
    (inbox / PROCESSED).unlink()
    again = _once(inbox, layout)
    assert again.exit_code == 0, again.output
    assert _runs(north) == [("monday.zip", "applied"), ("tuesday.zip", "applied")]
    assert sorted(p.name for p in (inbox / PROCESSED).glob("*.zip")) == [
        "monday.zip",
        "tuesday.zip",
    ]
