import json

import polars as pl
from typer.testing import CliRunner

from rosterflow.flows.cli import app
from rosterflow.schemas.writer import write_feed
from tests.feeds import tiny_district, with_cell

runner = CliRunner()


def test_valid_feed_exits_0(tmp_path):
    result = runner.invoke(app, ["validate", str(write_feed(tmp_path / "d.zip", tiny_district()))])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output and "0 errors" in result.output


def test_errors_exit_1_and_report_every_issue(tmp_path):
    frames = with_cell(tiny_district(), "users", 2, "role", "pupil")
    feed = write_feed(tmp_path / "d.zip", frames)
    for suffix in ("csv", "json"):
        report = tmp_path / f"issues.{suffix}"
        result = runner.invoke(app, ["validate", str(feed), "--report", str(report)])
        assert result.exit_code == 1, result.output
        rows = (
            pl.read_csv(report) if suffix == "csv" else pl.DataFrame(json.loads(report.read_text()))
        )
        assert rows.columns[:6] == ["file", "line", "field", "value", "rule", "severity"]
        assert ("users.csv", 4, "role", "pupil", "enum", "error") in rows.select(
            "file", "line", "field", "value", "rule", "severity"
        ).iter_rows()


def test_unreadable_feed_exits_2_with_one_line(tmp_path):
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    for path in (tmp_path / "broken.zip", tmp_path / "missing.zip"):
        result = runner.invoke(app, ["validate", str(path)])
        assert result.exit_code == 2
        assert "Traceback" not in result.output
        assert result.output.count("\n") <= 2, result.output


def test_bad_report_suffix_and_bad_settings_are_usage_errors(tmp_path):
    feed = str(write_feed(tmp_path / "d.zip", tiny_district()))
    assert runner.invoke(app, ["validate", feed, "--report", "x.txt"]).exit_code == 2
    (tmp_path / "s.toml").write_text('[policy]\nusers = "vanish"\n')
    result = runner.invoke(app, ["validate", feed, "--config", str(tmp_path / "s.toml")])
    assert result.exit_code == 2 and "vanish" in result.output


def test_delta_references_resolve_against_the_warehouse(tmp_path):
    from tests.feeds import frame
    from tests.syncing import Warehouse

    warehouse = Warehouse(tmp_path, tenant="north")
    warehouse.sync(tiny_district())

    def delta(user):
        row = {
            "sourcedId": "e9",
            "status": "active",
            "dateLastModified": "2027-01-02T00:00:00Z",
            "classSourcedId": "k3",
            "schoolSourcedId": "s2",
            "userSourcedId": user,
            "role": "student",
        }
        return str(
            write_feed(
                tmp_path / f"delta-{user}.zip",
                {"enrollments": frame("enrollments", row)},
                modes={"enrollments": "delta"},
            )
        )

    alone = runner.invoke(app, ["validate", delta("u-s1")])
    assert alone.exit_code == 0 and "reference.unverified" in alone.output
    checked = ["--warehouse", str(warehouse.path), "--tenant", "north"]
    resolved = runner.invoke(app, ["validate", delta("u-s1"), *checked])
    assert resolved.exit_code == 0 and "reference" not in resolved.output, resolved.output
    ghost = runner.invoke(app, ["validate", delta("u-ghost"), *checked])
    assert ghost.exit_code == 1 and "userSourcedId" in ghost.output
    other_tenant = runner.invoke(
        app, ["validate", delta("u-s1"), "--warehouse", str(warehouse.path), "--tenant", "south"]
    )
    assert other_tenant.exit_code == 1  # another tenant's records never resolve a reference


def test_an_unusable_warehouse_to_resolve_against_exits_2_with_one_line(tmp_path):
    feed = str(write_feed(tmp_path / "d.zip", tiny_district()))
    (tmp_path / "notes.duckdb").write_text("these are my notes")

    result = runner.invoke(app, ["validate", feed, "--warehouse", str(tmp_path / "notes.duckdb")])

    assert result.exit_code == 2, result.output
    assert "cannot open the warehouse" in result.output and "Traceback" not in result.output
    assert result.output.count("\n") <= 2, result.output
