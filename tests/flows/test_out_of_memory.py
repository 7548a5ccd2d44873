"""A sync whose DuckDB runs short of memory while it applies: rolled back whole, recorded as
failed with what to do (not DuckDB's advice on tuning itself), and applied by the next sync that
has the memory. DuckDB is really refused: the run's connection is held to a memory limit its
writes exceed, for the apply's first try only (recording the failure has the memory)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

import rosterflow.warehouse.apply as apply_module
from rosterflow.flows.cli import app
from rosterflow.warehouse.schema import OUT_OF_MEMORY_ADVICE
from tests.feeds import tiny_district, write_feed

runner = CliRunner()


@pytest.fixture
def apply_short_of_memory(monkeypatch):
    """The next run's writes under a memory limit of 256 KiB, which they exceed."""
    real_record_run = apply_module.record_run
    tries: list[int] = []

    def record_run(con, *args, **kwargs):
        tries.append(1)
        if len(tries) > 1:  # the failure recorded, and any later run, with the memory
            return real_record_run(con, *args, **kwargs)
        con.execute("set memory_limit = '256KB'")
        try:
            return real_record_run(con, *args, **kwargs)
        finally:
            con.execute("reset memory_limit")

    monkeypatch.setattr(apply_module, "record_run", record_run)
    return tries


def _rows(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(sql).fetchall()


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
    ((outcome, message),) = _rows(warehouse, "select outcome, message from audit.sync_runs")
    assert outcome == "failed"
    assert message.startswith("OutOfMemoryException: Out of Memory Error")
    assert message.endswith(OUT_OF_MEMORY_ADVICE)
    assert _rows(warehouse, "select count(*) from lms.users") == [(0,)]

    again = runner.invoke(app, ["sync", str(feed), "--warehouse", str(warehouse)])

    assert again.exit_code == 0, again.output
    assert _rows(warehouse, "select run_id, outcome from audit.sync_runs order by run_id") == [
        (1, "failed"),
        (2, "applied"),
    ]
    users = tiny_district()["users"].height
    assert _rows(warehouse, "select count(*) from lms.users") == [(users,)]


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
