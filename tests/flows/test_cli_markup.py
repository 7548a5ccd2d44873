"""What comes from data and settings prints as written: rich reads `[identity]` or `[bold]` as
markup, so every message, value and name is escaped before it reaches the terminal; and its
control characters print as escapes (`\\x1b`), so that a value cannot colour or clear the
terminal, nor a character vanish from it."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from rosterflow.flows.cli import app
from rosterflow.schemas.printable import printable
from tests.feeds import feed_files, tiny_district, with_cell, write_feed, write_zip

runner = CliRunner()


def test_an_unknown_setting_names_its_table(tmp_path):
    feed = write_feed(tmp_path / "d.zip", tiny_district())
    config = tmp_path / "s.toml"
    config.write_text('[identity]\nadopt_bye = "email"\n')  # a misspelt setting

    result = runner.invoke(app, ["validate", str(feed), "--config", str(config)])

    assert result.exit_code == 2, result.output
    assert "unknown setting [identity] adopt_bye" in result.output


def test_an_issue_message_keeps_the_settings_table_it_names(tmp_path, wide):
    feed = write_feed(
        tmp_path / "d.zip", with_cell(tiny_district(), "courses", 0, "courseCode", None)
    )
    config = tmp_path / "s.toml"
    config.write_text('[validation]\nrequired = { courses = ["courseCode"] }\n')

    result = runner.invoke(app, ["validate", str(feed), "--config", str(config)])

    assert result.exit_code == 1, result.output
    assert "courseCode is required by this platform ([validation] required)" in result.output


def test_a_value_and_a_feed_name_print_as_written_in_the_issue_table(tmp_path, wide):
    district = with_cell(tiny_district(), "users", 2, "role", "[bold]pupil[/bold]")
    feed = write_feed(tmp_path / "north [district].zip", district)

    result = runner.invoke(app, ["validate", str(feed)])

    assert result.exit_code == 1, result.output
    assert "role = '[bold]pupil[/bold]'" in result.output
    assert "north [district].zip: invalid" in result.output


def test_a_value_that_reads_as_an_emoji_code_prints_as_written(tmp_path):
    # rich would print `:x:` as an emoji, `urn:id:12` as `urn` and an ID sign and `12`; the
    # command's own console (no `wide`, which stands in another)
    district = with_cell(tiny_district(), "users", 2, "role", "st:x:udent")
    feed = write_feed(tmp_path / "urn:id:12.zip", district)

    result = runner.invoke(app, ["validate", str(feed)])

    assert result.exit_code == 1, result.output
    assert "urn:id:12.zip: invalid" in result.output
    assert "st:x:udent" in result.output.replace("\n", "").replace(" ", "")
    assert not {"\u274c", "\U0001f194"} & set(result.output), result.output


def test_a_tenant_prints_as_written_in_the_verdict_and_the_runs(tmp_path, wide):
    feed = write_feed(tmp_path / "d.zip", tiny_district())
    warehouse = str(tmp_path / "w.duckdb")

    synced = runner.invoke(
        app, ["sync", str(feed), "--warehouse", warehouse, "--tenant", "[red]north", "--no-prefect"]
    )
    listed = runner.invoke(app, ["runs", "--warehouse", warehouse])

    assert synced.exit_code == 0, synced.output
    assert "d.zip: applied — run 1, tenant [red]north" in synced.output
    assert listed.exit_code == 0, listed.output
    assert "[red]north" in listed.output


# --- control characters: printed as escapes, never obeyed (issue 30) ---------------------------

ESC = "\x1b[41mteacher\x1b[0m"  # a value that would colour the terminal red


def raw_controls(text: str) -> list[str]:
    """The control characters (C0 but LF, DEL, C1) in `text`: none may reach a terminal."""
    return sorted({c for c in text if (ord(c) < 32 and c != "\n") or 0x7F <= ord(c) < 0xA0})


def test_printable_shows_every_control_character_and_nothing_else():
    assert printable("a\x1b[31mb\x00c\x0bd\re\nf\tg\x7fh\x9bi") == (
        "a\\x1b[31mb\\x00c\\x0bd\\re\\nf\\tg\\x7fh\\x9bi"
    )
    assert printable("Zoë [bold] \\x1b 学校") == "Zoë [bold] \\x1b 学校"  # as written
    assert printable("\udcff.zip") == "\\xff.zip"  # a name's byte that is not UTF-8
    everything = "".join(map(chr, range(0xA0)))
    assert raw_controls(printable(everything)) == []
    assert printable(printable(everything)) == printable(everything)


def test_control_characters_in_values_and_messages_print_as_escapes(tmp_path, wide):
    files = feed_files(with_cell(tiny_district(), "users", 2, "role", ESC))
    files["manifest.csv"] = files["manifest.csv"].replace(b"file.orgs,bulk", b"file.orgs,bulk\x0b")
    feed = write_zip(tmp_path / "north\x1b[31m.zip", files)
    version = feed_files(tiny_district())
    version["manifest.csv"] = version["manifest.csv"].replace(
        b"oneroster.version,1.1", b"oneroster.version,1.2\x00"
    )
    report = tmp_path / "issues.csv"

    result = runner.invoke(app, ["validate", str(feed), "--report", str(report)])
    stated = runner.invoke(app, ["validate", str(write_zip(tmp_path / "v.zip", version))])

    assert result.exit_code == 1, result.output
    assert raw_controls(result.output) == [], result.output
    assert "role = '\\x1b[41mteacher\\x1b[0m'" in result.output
    assert "value = 'bulk\\x0b'" in result.output  # not 'bulk': what makes it wrong shows
    assert "north\\x1b[31m.zip: invalid" in result.output
    assert stated.exit_code == 1, stated.output
    assert raw_controls(stated.output) == [], stated.output
    assert "the manifest says 1.2\\x00" in stated.output  # a message built from a value
    written = report.read_text(encoding="utf-8")
    assert raw_controls(written) == [], written
    assert "\\x1b[41mteacher\\x1b[0m" in written


def test_the_json_report_keeps_values_exactly(tmp_path):
    district = with_cell(tiny_district(), "users", 2, "role", ESC)
    report = tmp_path / "issues.json"

    result = runner.invoke(
        app, ["validate", str(write_feed(tmp_path / "d.zip", district)), "--report", str(report)]
    )

    assert result.exit_code == 1, result.output
    assert ESC in {row["value"] for row in json.loads(report.read_text(encoding="utf-8"))}


def test_a_tenant_and_a_path_print_their_control_characters_as_escapes(tmp_path, wide):
    feed = write_feed(tmp_path / "d.zip", tiny_district())
    warehouse = str(tmp_path / "w.duckdb")
    tenant = "north\x1b[2J\x07"  # would clear the screen and ring the bell

    synced = runner.invoke(
        app, ["sync", str(feed), "--warehouse", warehouse, "--tenant", tenant, "--no-prefect"]
    )
    listed = runner.invoke(app, ["runs", "--warehouse", warehouse])
    missing = runner.invoke(app, ["validate", str(tmp_path / "gone\x1b[31m.zip")])

    assert synced.exit_code == 0, synced.output
    assert "d.zip: applied — run 1, tenant north\\x1b[2J\\x07" in synced.output
    assert "north\\x1b[2J\\x07" in listed.output
    assert missing.exit_code == 2
    assert missing.output == f"rosterflow: {tmp_path}/gone\\x1b[31m.zip: no such file or folder\n"
    for output in (synced.output, listed.output, missing.output):
        assert raw_controls(output) == [], output
