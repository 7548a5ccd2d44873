"""QA of the product contract's outside, clause by clause: what each command prints and exits
with where the contract, the CLI reference or the exit codes page say what it does."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rosterflow.flows.cli import app
from tests.feeds import tiny_district
from tests.syncing import Warehouse

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

runner = CliRunner()

LEFT_OUT = "older runs left out"


def test_runs_says_when_its_limit_left_older_runs_out(tmp_path, wide):
    """`rosterflow runs` lists the 20 newest runs unless told otherwise: a district's first
    sync, looked for after twenty later runs, was left out without a word, as if never
    recorded. A last line says that older runs are left out, and only then."""
    warehouse = Warehouse(tmp_path)
    first, second = (warehouse.sync(tiny_district(), recall=False).run_id for _ in range(2))
    path = str(warehouse.path)

    cut = runner.invoke(app, ["runs", "--warehouse", path, "--limit", "1"])

    assert cut.exit_code == 0, cut.output
    assert [line.split()[0] for line in cut.output.splitlines()[2:3]] == [str(second)]
    assert f" {first} " not in cut.output
    assert cut.output.splitlines()[-1] == (
        "older runs left out, the newest run shown (--limit 0 lists every run)"
    )
    # (a limit past any count DuckDB or Polars holds lists every run, as before)
    for whole in (["--limit", "2"], ["--limit", "0"], [], ["--limit", str(2**64)]):
        done = runner.invoke(app, ["runs", "--warehouse", path, *whole])

        assert done.exit_code == 0, done.output
        assert f" {first} " in done.output
        assert LEFT_OUT not in done.output


def test_runs_of_a_layout_say_when_the_limit_left_older_runs_out(tmp_path, wide):
    """The same in a per-tenant layout, whose runs come from a file per tenant: the runs of
    every file, newest first across the tenants, cut to --limit."""
    layout = str(tmp_path / "wh" / "{tenant}.duckdb")
    from rosterflow.flows.pipeline import Steps, run_steps
    from rosterflow.schemas.settings import Settings
    from rosterflow.schemas.writer import write_feed

    feed = write_feed(tmp_path / "feed.zip", tiny_district())
    for tenant in ("north", "south", "west"):
        run_steps(Steps(), feed, layout, Settings(), tenant, False, False)

    cut = runner.invoke(app, ["runs", "--warehouse", layout, "--limit", "2"])
    whole = runner.invoke(app, ["runs", "--warehouse", layout, "--limit", "3"])

    assert cut.exit_code == 0, cut.output
    assert " west " in cut.output and " south " in cut.output and " north " not in cut.output
    assert cut.output.splitlines()[-1] == (
        "older runs left out, the 2 newest runs shown (--limit 0 lists every run)"
    )
    assert whole.exit_code == 0, whole.output
    assert " north " in whole.output
    assert LEFT_OUT not in whole.output


def test_version_names_the_rosterflow_that_runs_as_the_warehouse_records_it(tmp_path):
    """A warehouse written by a newer rosterflow is refused with "upgrade rosterflow", and
    audit.sync_runs records the version that wrote each run; `rosterflow --version` was a
    usage mistake (exit 2), so the version running could not be told from the command."""
    from importlib.metadata import version

    done = runner.invoke(app, ["--version"])

    assert done.exit_code == 0, done.output
    assert done.output == f"rosterflow {version('rosterflow')}\n"
    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district())
    recorded = warehouse.query("select distinct rosterflow_version from audit.sync_runs")
    assert done.output.split() == ["rosterflow", *recorded["rosterflow_version"]]


def test_a_report_named_as_a_file_of_the_folder_feed_is_refused_and_the_feed_kept(
    tmp_path, monkeypatch
):
    """`validate` checks a feed and writes the issues to --report: typed in a district's
    export folder, `rosterflow validate . --report users.csv` replaced the export's users.csv
    by the issue report, the roster lost to a command that only checks it. A report named as
    one of the feed's files, in its folder, is refused (exit 2) before anything is read or
    written, whatever its letter case; under another name, or elsewhere, it is written."""
    from rosterflow.schemas.writer import write_feed

    feed = write_feed(tmp_path / "north", tiny_district())
    before = {path.name: path.read_bytes() for path in feed.iterdir()}
    monkeypatch.chdir(feed)

    (tmp_path / "link.csv").symlink_to(feed / "users.csv")
    for report, named in [
        ("users.csv", "users.csv"),
        ("Manifest.CSV", "Manifest.CSV"),
        ("demographics.csv", "demographics.csv"),
        (str(tmp_path / "link.csv"), "users.csv"),  # (a link to a file of the feed)
    ]:
        done = runner.invoke(app, ["validate", ".", "--report", report])

        assert done.exit_code == 2, done.output
        assert f"--report {report}: names {named} in the feed's folder" in done.output
        assert {path.name: path.read_bytes() for path in feed.iterdir()} == before

    for report in ("issues.csv", str(tmp_path / "users.csv")):
        done = runner.invoke(app, ["validate", ".", "--report", report])

        assert done.exit_code == 0, done.output
        assert Path(report).read_text().startswith("file,line,field,value,rule,severity")
    assert (feed / "users.csv").read_bytes() == before["users.csv"]


def test_a_grades_export_over_a_roster_zip_is_refused_and_the_roster_kept(tmp_path, wide):
    """`grades export OUT` refused a folder holding a roster's files, but a roster's zip was
    written anew: `rosterflow grades export north.zip --tenant north`, the name of the
    district's roster export, replaced users.csv, classes.csv and the rest by the gradebook.
    Such a zip, its files at its root or in its one folder, is refused (exit 2) as the
    folder is; an earlier export's zip is still written anew."""
    from rosterflow.schemas.writer import write_feed

    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district())
    roster = write_feed(tmp_path / "north.zip", tiny_district())
    nested = tmp_path / "nested.zip"
    with zipfile.ZipFile(roster) as source, zipfile.ZipFile(nested, "w") as target:
        for name in source.namelist():
            target.writestr(f"north/{name}", source.read(name))
    export = ["grades", "export", "--tenant", "district", "--warehouse", str(warehouse.path)]

    for zipped in (roster, nested):
        kept = zipped.read_bytes()
        done = runner.invoke(app, [*export, str(zipped)])

        assert done.exit_code == 2, done.output
        assert f"{zipped}: holds a roster's files (academicSessions.csv, " in done.output
        assert zipped.read_bytes() == kept

    grades = tmp_path / "grades.zip"
    for _ in range(2):  # (the second over the first's zip, a gradebook's files alone)
        done = runner.invoke(app, [*export, str(grades)])

        assert done.exit_code == 0, done.output
        assert "manifest.csv" in zipfile.ZipFile(grades).namelist()
