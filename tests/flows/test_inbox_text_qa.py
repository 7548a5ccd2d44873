"""File names that are not UTF-8: a zip copied into the inbox from a Windows share keeps its
name's bytes (`caf\\xe9.zip`, é in Windows-1252), which Python holds as a lone surrogate.
The zip is synced and filed with its issue report beside it, and the scan goes on to the next
zip; `validate --report` writes to such a name too."""

from __future__ import annotations

import os

import polars as pl
import pytest
from typer.testing import CliRunner

from rosterflow.flows.cli import app
from tests.feeds import tiny_district, with_cell, write_feed
from tests.flows.test_inbox import aged, files_under, once, runs

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

runner = CliRunner()
CAFE = os.fsdecode(b"caf\xe9")  # a name's byte that is not UTF-8


def test_a_zip_whose_name_is_not_utf8_is_filed_with_its_report_and_the_scan_goes_on(tmp_path):
    inbox, warehouse = tmp_path / "inbox", tmp_path / "w.duckdb"
    district = tiny_district()
    write_feed(inbox / f"{CAFE}.zip", with_cell(district, "users", 2, "role", "pupil"))
    aged(inbox / f"{CAFE}.zip", 20)  # filed first
    write_feed(inbox / "north.zip", district, properties={"source.systemCode": "north"})

    done = once(inbox, warehouse, "--no-prefect")

    assert done.exit_code == 1, done.output  # the first rejected, the second applied
    assert files_under(inbox) == {
        f"rejected/{CAFE}.zip",
        f"rejected/{CAFE}.issues.csv",
        "processed/north.zip",
        "processed/north.issues.csv",
    }
    assert [run[2] for run in runs(warehouse)] == ["rejected", "applied"]
    # (read here as bytes: Polars takes no name that is not UTF-8)
    report = pl.read_csv((inbox / "rejected" / f"{CAFE}.issues.csv").read_bytes())
    assert report.select("line", "field", "value", "rule").rows() == [(4, "role", "pupil", "enum")]


def test_validate_writes_its_report_to_a_name_that_is_not_utf8(tmp_path):
    feed = write_feed(tmp_path / "d.zip", with_cell(tiny_district(), "users", 2, "role", "pupil"))
    for suffix in (".csv", ".json"):
        report = tmp_path / f"{CAFE}{suffix}"

        result = runner.invoke(app, ["validate", str(feed), "--report", str(report)])

        assert result.exit_code == 1, result.output
        assert report.stat().st_size > 0
