"""A sync whose DuckDB runs short of memory while it applies: rolled back whole, recorded as
failed with what to do (not DuckDB's advice on tuning itself), and applied by the next sync that
has the memory.

The error is DuckDB's own (`tests.out_of_memory`), raised in the run's apply once its first
entity's rows are written. Holding the run's own
database to a limit was tried: where DuckDB is refused depends on its threads (a cursor, the
rollback, lifting the limit again may be refused too), which made the test flaky."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import rosterflow.warehouse.apply as apply_module
from rosterflow.flows.cli import app
from rosterflow.warehouse.schema import OUT_OF_MEMORY_ADVICE
from tests.feeds import tiny_district, write_feed
from tests.out_of_memory import duckdb_out_of_memory
from tests.syncing import query

runner = CliRunner()


@pytest.fixture
def apply_short_of_memory(monkeypatch):
    """The next run's apply refused memory once the rows of its first entity are written."""
    real_apply_entity = apply_module._apply_entity
    tries: list[int] = []

    def apply_entity(con, *args, **kwargs):
        written = real_apply_entity(con, *args, **kwargs)
        tries.append(1)
        if len(tries) == 1:
            raise duckdb_out_of_memory()
        return written

    monkeypatch.setattr(apply_module, "_apply_entity", apply_entity)
    return tries


def test_a_sync_short_of_memory_is_rolled_back_recorded_with_advice_and_applied_next(
    tmp_path, apply_short_of_memory
):
    feed = write_feed(tmp_path / "district.zip", tiny_district())
    warehouse = tmp_path / "wh.duckdb"

    short = runner.invoke(app, ["sync", str(feed), "--warehouse", str(warehouse)])

    assert short.exit_code == 1, short.output
    said = " ".join(short.output.split())
    assert "the sync failed while applying and was rolled back (OutOfMemoryException:" in said
    assert OUT_OF_MEMORY_ADVICE in said
    assert "Possible solutions" not in said and "SET threads" not in said
    ((outcome, message),) = query(warehouse, "select outcome, message from audit.sync_runs")
    assert outcome == "failed"
    assert message.startswith("OutOfMemoryException: Out of Memory Error")
    assert message.endswith(OUT_OF_MEMORY_ADVICE)
    assert query(warehouse, "select count(*) from lms.users") == [(0,)]

    again = runner.invoke(app, ["sync", str(feed), "--warehouse", str(warehouse)])

    assert again.exit_code == 0, again.output
    assert query(warehouse, "select run_id, outcome from audit.sync_runs order by run_id") == [
        (1, "failed"),
        (2, "applied"),
    ]
    users = tiny_district()["users"].height
    assert query(warehouse, "select count(*) from lms.users") == [(users,)]


def test_the_inbox_files_a_zip_short_of_memory_with_the_advice_in_its_report(
    tmp_path, apply_short_of_memory
):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_feed(inbox / "district.zip", tiny_district())
    warehouse = tmp_path / "wh.duckdb"

    scanned = runner.invoke(
        app,
        [
            "serve",
            "--inbox",
            str(inbox),
            "--warehouse",
            str(warehouse),
            "--once",
            "--settle",
            "0",
            "--no-prefect",
        ],
    )

    assert scanned.exit_code == 1, scanned.output
    report = (inbox / "rejected" / "district.issues.csv").read_text()
    assert OUT_OF_MEMORY_ADVICE in report and "Possible solutions" not in report
