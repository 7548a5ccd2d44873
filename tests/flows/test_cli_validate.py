import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from rosterflow.flows.cli import app
from rosterflow.schemas.writer import write_feed
from tests.feeds import feed_files, tiny_district, with_cell, write_zip

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
        assert result.output.splitlines()[-1] == f"1 issue written to {report}"


def test_the_report_line_counts_its_issues_in_their_number(tmp_path):
    """`0 issues`, `1 issue`, `2 issues`: never `all 1 issues`."""
    report = tmp_path / "issues.csv"
    for frames, written in [
        (tiny_district(), "0 issues"),
        (with_cell(tiny_district(), "users", 2, "role", "pupil"), "1 issue"),
        (with_cell(with_cell(tiny_district(), "users", 2, "role", "pupil"), "users", 3,
                   "role", "pupil"), "2 issues"),
    ]:  # fmt: skip
        feed = write_feed(tmp_path / "d.zip", frames)

        result = runner.invoke(app, ["validate", str(feed), "--report", str(report)])

        assert result.output.splitlines()[-1] == f"{written} written to {report}", result.output
        assert pl.read_csv(report).height == int(written.split()[0])


def test_a_feed_folder_named_dot_is_reported_under_its_own_name(tmp_path, monkeypatch):
    """`rosterflow validate .` in the feed's folder names the folder, not ''."""
    monkeypatch.chdir(write_feed(tmp_path / "north", tiny_district()))

    result = runner.invoke(app, ["validate", "."])

    assert result.exit_code == 0, result.output
    assert result.output == "north: valid — 0 errors, 0 warnings\n"


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


def test_a_report_that_cannot_be_written_exits_2_with_one_line_before_any_verdict(tmp_path):
    feed = str(write_feed(tmp_path / "d.zip", tiny_district()))
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "notes").write_text("a file, not a folder")

    for report, why in [
        (tmp_path / "folder.csv", "Is a directory"),
        (tmp_path / "notes" / "issues.csv", "Not a directory"),
    ]:
        result = runner.invoke(app, ["validate", feed, "--report", str(report)])

        assert result.exit_code == 2, result.output
        assert result.output == f"rosterflow: --report {report}: cannot be written ({why})\n"
    assert (tmp_path / "notes").read_text() == "a file, not a folder"


def test_checking_the_report_leaves_nothing_behind_when_the_feed_cannot_be_read(tmp_path):
    files = feed_files(tiny_district())
    unreadable = write_zip(tmp_path / "d.zip", files | {"users.csv": b"sourcedId\n\xe9\n"})
    kept = tmp_path / "kept.csv"
    kept.write_text("an earlier report\n")

    for report in (tmp_path / "new" / "folders" / "issues.csv", kept):
        result = runner.invoke(app, ["validate", str(unreadable), "--report", str(report)])
        assert result.exit_code == 2 and "not UTF-8" in result.output, result.output

    assert not (tmp_path / "new").exists()  # neither the report nor its folders
    assert kept.read_text() == "an earlier report\n"


def test_a_report_write_that_fails_after_the_check_exits_2_with_one_line(tmp_path, monkeypatch):
    from rosterflow.schemas import issues

    def disk_full(_issues, path):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(issues, "write_report", disk_full)
    feed = str(write_feed(tmp_path / "d.zip", tiny_district()))
    report = tmp_path / "issues.csv"

    result = runner.invoke(app, ["validate", feed, "--report", str(report)])

    assert result.exit_code == 2, result.output
    assert result.output.endswith(
        f"rosterflow: --report {report}: cannot be written (No space left on device)\n"
    )
    assert "Traceback" not in result.output


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


# --- damaged exports: every one gets an answer, never a traceback (issue 30) ------------------


def damaged(files: dict[str, bytes], damage: str) -> dict[str, bytes]:
    users = files["users.csv"]
    header, *lines = users.split(b"\n")
    return (
        files
        | {
            "cr only": {"users.csv": users.replace(b"\n", b"\r")},
            "nul": {"users.csv": users.replace(b",Ada,", b",A\x00da,", 1)},
            "repeated header": {"users.csv": b"\n".join([header, *lines[:2], header, *lines[2:]])},
            "tabs": {"users.csv": users.replace(b",", b"\t")},
            "manifest not utf-8": {
                "manifest.csv": files["manifest.csv"].replace(b"bulk", b"b\xfclk")
            },
            "utf-16": {name: data.decode().encode("utf-16") for name, data in files.items()},
        }[damage]
    )


@pytest.mark.parametrize(
    ("damage", "exit_code", "shown"),
    [
        ("cr only", 0, "file.line_endings"),
        ("nul", 1, "value.control"),
        ("repeated header", 1, "header.repeated"),
        ("tabs", 1, "file.separator"),
        ("manifest not utf-8", 2, "d.zip: manifest.csv line 4: not UTF-8"),
        ("utf-16", 2, 'set [feed] encoding = "utf-16"'),
    ],
)
def test_each_damaged_export_gets_its_answer(tmp_path, damage, exit_code, shown):
    files = damaged(feed_files(tiny_district()), damage)
    result = runner.invoke(app, ["validate", str(write_zip(tmp_path / "d.zip", files))])
    assert result.exit_code == exit_code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert shown in " ".join(result.output.split()), result.output  # as the table wraps it
    if exit_code == 2:
        assert result.output.startswith("rosterflow: ") and result.output.count("\n") == 1


def test_the_configured_encoding_reads_a_utf16_export(tmp_path):
    files = damaged(feed_files(tiny_district()), "utf-16")
    feed = str(write_zip(tmp_path / "d.zip", files))
    (tmp_path / "s.toml").write_text('[feed]\nencoding = "utf-16"\n')
    result = runner.invoke(app, ["validate", feed, "--config", str(tmp_path / "s.toml")])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output and "0 errors" in result.output


def test_validating_against_a_newer_or_foreign_warehouse_exits_2_saying_what_to_do(tmp_path):
    import duckdb

    from tests.syncing import Warehouse

    feed = write_feed(tmp_path / "d.zip", tiny_district())
    newer = Warehouse(tmp_path, tenant="d")
    newer.sync(tiny_district())
    newer.execute("insert into audit.schema_migrations values (99, 'future', now())")
    foreign = tmp_path / "foreign.duckdb"
    with duckdb.connect(str(foreign)) as con:
        con.execute("create table t (a integer)")
    before = foreign.read_bytes()

    for path, says in [
        (newer.path, "written by a newer rosterflow (this one knows up to "),
        (foreign, "not a rosterflow warehouse"),
    ]:
        result = runner.invoke(app, ["validate", str(feed), "--warehouse", str(path)])

        assert result.exit_code == 2, result.output
        (line,) = result.output.strip().splitlines()
        assert says in line and "run a sync" not in line, line
    assert foreign.read_bytes() == before


def test_validating_against_a_layout_without_the_tenants_file_reads_no_records(tmp_path):
    from tests.syncing import Warehouse

    layout = str(tmp_path / "wh" / "{tenant}.duckdb")
    other = Warehouse(tmp_path, tenant="other")
    other.path = Path(layout)
    other.sync(tiny_district())  # the layout exists, with another tenant's file only
    feed = write_feed(tmp_path / "d.zip", tiny_district())

    result = runner.invoke(app, ["validate", str(feed), "--warehouse", layout, "--tenant", "d"])

    assert result.exit_code == 0, result.output
    assert not (tmp_path / "wh" / "d.duckdb").exists()
