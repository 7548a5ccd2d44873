"""A warehouse whose path holds a byte that is not UTF-8 (a folder named on a Windows share,
`\\xc9l\\xe8ves`): DuckDB cannot open it, and says `std::bad_cast`. The sync refuses it as an
unusable warehouse (exit 2) naming the path, not as a run that failed in some step."""

from __future__ import annotations

import os

from typer.testing import CliRunner

from rosterflow.flows.cli import app
from tests.feeds import tiny_district, write_feed

runner = CliRunner()


def test_a_warehouse_path_that_is_not_utf8_is_refused_naming_it(tmp_path):
    feed = write_feed(tmp_path / "d.zip", tiny_district())
    warehouse = tmp_path / os.fsdecode(b"\xc9l\xe8ves") / "w.duckdb"

    result = runner.invoke(app, ["sync", str(feed), "--warehouse", str(warehouse), "--no-prefect"])

    assert result.exit_code == 2, result.output
    assert "\\xc9l\\xe8ves/w.duckdb: a name with a byte that is not UTF-8" in result.output
    assert "bad_cast" not in result.output
