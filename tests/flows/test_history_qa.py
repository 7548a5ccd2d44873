"""docs/how-to/query.md on a warehouse with a dry run, a held run discarded and one approved:
audit.changes holds the changes those runs planned, and the page's query of what happened
over several runs counts the applied runs' changes only, through `rosterflow query`."""

from __future__ import annotations

import csv
import io
import re
import shlex
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from rosterflow.flows.cli import app
from rosterflow.flows.operations import approve_run, discard_run
from tests.feeds import tiny_district
from tests.syncing import Warehouse

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs/how-to/query.md"
GUARDED = {"safety": {"max_removal_share": 0.1}}


def applied_changes_command() -> list[str]:
    """The arguments of the page's `rosterflow query` that keeps the applied runs' changes."""
    (command,) = [
        block
        for block in re.findall(r"```bash\n(.*?)```", PAGE.read_text(), re.DOTALL)
        if "outcome = 'applied'" in block
    ]
    program, *arguments = shlex.split(command)
    assert program == "rosterflow"
    return arguments


def test_the_applied_changes_query_counts_what_happened_once(tmp_path: Path):
    warehouse = Warehouse(tmp_path)
    district = tiny_district()
    printed: list[pl.DataFrame] = []
    first = warehouse.sync(district)
    printed.append(first.summary)
    moved = {
        **district,
        "users": district["users"].with_columns(
            pl.when(pl.col("sourcedId") == "u-s1")
            .then(pl.lit("s2"))
            .otherwise(pl.col("orgSourcedIds"))
            .alias("orgSourcedIds")
        ),
    }
    dry_run = warehouse.sync(moved, dry_run=True)
    assert dry_run.outcome == "planned"
    without_students = {
        **moved,
        "enrollments": moved["enrollments"].filter(pl.col("role") != "student"),
    }
    discarded = warehouse.sync(without_students, settings=GUARDED)
    assert discarded.outcome == "held"
    discard_run(warehouse.path, discarded.run_id)
    held = warehouse.sync(without_students, settings=GUARDED)
    assert held.outcome == "held"
    approval = approve_run(warehouse.path, held.run_id)
    assert approval.outcome == "applied"
    printed.append(approval.summary)

    # what the page says: the planned runs' changes are in audit.changes, the approved twice
    planned = warehouse.query(
        "select run_id, count(*) as changes from audit.changes where run_id in (?, ?, ?) "
        "group by all order by all",
        [dry_run.run_id, discarded.run_id, held.run_id],
    )
    assert planned.height == 3
    assert (
        warehouse.changes(held.run_id)
        .drop("detail")
        .equals(warehouse.changes(approval.run_id).drop("detail"))
    )

    arguments = applied_changes_command()
    arguments[arguments.index("--warehouse") + 1] = str(warehouse.path)
    done = CliRunner().invoke(app, [*arguments, "--csv"])
    assert done.exit_code == 0, done.output
    counted = sorted(
        (row["entity"], row["action"], int(row["changes"]))
        for row in csv.DictReader(io.StringIO(done.output))
    )
    happened = (
        pl.concat(printed)
        .group_by("entity", "action")
        .agg(pl.col("count").sum())
        .sort("entity", "action")
    )
    assert counted == sorted(happened.rows())
