"""What a notification says: of a run the inbox files as `rejected` because its tenant's file is
refused as it stands, `rejected` with the inbox report's message, not `failed`; of a zip whose
name holds a control character, a subject an email can carry."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from rosterflow.flows import pipeline
from rosterflow.flows.cli import app
from rosterflow.flows.inbox import REJECTED, report_path
from rosterflow.flows.notify import body, subject
from rosterflow.flows.pipeline import Steps, run_steps, run_sync
from rosterflow.schemas.settings import Settings, parse_settings
from rosterflow.warehouse.layout import TenantFileRefused
from tests.feeds import tiny_district, with_cell, without_students, write_feed
from tests.mailbox import Mailbox, serving_smtp
from tests.webhook import Receiver

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

TEMPLATE = "wh/{tenant}.duckdb"


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on a free port, keeping every message it takes."""
    with serving_smtp(Mailbox()) as box:
        yield box


def _raised_from(cause: Exception) -> Exception:
    """`cause` as a task's error reaches the pipeline: raised from in another error."""
    try:
        raise RuntimeError("the step failed") from cause
    except RuntimeError as error:
        return error


def test_a_refused_tenant_file_is_notified_as_rejected_with_the_refusal_alone():
    refused = TenantFileRefused("wh/north.duckdb: holds 1 run(s) of a one-file warehouse", "north")
    known = {"feed": "nightly.zip", "tenant": "north"}

    for error in (refused, _raised_from(refused)):
        payload = pipeline.failure_payload(known, error)
        assert (payload["outcome"], payload["tenant"], payload["message"]) == (
            "rejected",
            "north",
            "wh/north.duckdb: holds 1 run(s) of a one-file warehouse",
        )
    assert subject(payload) == "rosterflow: nightly.zip rejected (a run, tenant north)"
    assert "Why: wh/north.duckdb: holds 1 run(s) of a one-file warehouse\n" in body(payload)
    # a run that broke is still `failed`, named by its error's class
    broken = pipeline.failure_payload(known, ConnectionError("the API dropped out"))
    assert (broken["outcome"], broken["message"]) == (
        "failed",
        "ConnectionError: the API dropped out",
    )


def test_the_inbox_and_its_notification_agree_on_a_refused_tenant_file(tmp_path):
    """The inbox filed the zip as `rejected` (its table, its report: `sync.rejected`) while the
    webhook said `failed`, with the class name in front of the message."""
    one_file = tmp_path / "north-one-file.duckdb"
    run_sync(write_feed(tmp_path / "north.zip", tiny_district()), one_file, Settings(), "north")
    (tmp_path / "wh").mkdir()
    shutil.copy(one_file, tmp_path / "wh" / "north.duckdb")
    inbox = tmp_path / "inbox"
    changed = with_cell(tiny_district(), "users", 0, "givenName", "Ann")
    write_feed(inbox / "nightly.zip", changed, properties={"source.systemCode": "north"})
    webhook = Receiver()
    config = tmp_path / "settings.toml"
    config.write_text(f'[notify]\nwebhook = "{webhook.url}"\n')
    try:
        scanned = CliRunner().invoke(
            app,
            [
                "serve",
                "--inbox",
                str(inbox),
                "--warehouse",
                str(tmp_path / TEMPLATE),
                "--config",
                str(config),
                "--once",
                "--settle",
                "0",
                "--no-prefect",
            ],
        )
    finally:
        webhook.close()

    assert scanned.exit_code == 1, scanned.output
    report = pl.read_csv(report_path(inbox / REJECTED / "nightly.zip"))
    assert report.select("rule", "message").rows() == [
        ("sync.rejected", webhook.posts[0]["message"])
    ]
    assert [(post["outcome"], post["tenant"]) for post in webhook.posts] == [("rejected", "north")]
    assert "nightly.zip" in scanned.output and "rejected" in scanned.output
    assert "one-file warehouse" in webhook.posts[0]["message"]
    assert not Path(inbox / "nightly.zip").exists()


def test_a_held_run_of_a_zip_named_with_a_line_feed_is_still_emailed(tmp_path, smtp_server):
    """A zip's name is whatever the SIS or a person gave it: a line feed in it made the mail's
    Subject refused ("Header values may not contain linefeed"), and the held run was never
    announced, only a warning logged."""
    settings = parse_settings(
        {"notify": {"email": "x@y", "smtp_host": "127.0.0.1", "smtp_port": smtp_server.port}}
    )
    warehouse = tmp_path / "w.duckdb"
    for frames in (tiny_district(), without_students(tiny_district())):
        feed = write_feed(tmp_path / "north\n\x1b[2J.zip", frames)
        held = run_steps(Steps(), feed, warehouse, settings, "north")

    assert held.outcome == "held"
    [(_, message)] = smtp_server.messages
    assert message["Subject"] == (
        f"rosterflow: north\\n\\x1b[2J.zip held (run {held.run_id}, tenant north)"
    )


def test_an_issue_of_a_whole_file_is_emailed_without_line_none(tmp_path, smtp_server):
    """A zip without its manifest is rejected for an issue of no line: the mail listed it as
    `manifest.csv line None: manifest.missing ...`."""
    settings = parse_settings(
        {"notify": {"email": "x@y", "smtp_host": "127.0.0.1", "smtp_port": smtp_server.port}}
    )
    feed = tmp_path / "north.zip"
    with zipfile.ZipFile(feed, "w") as archive:  # the SIS exported the wrong folder
        archive.writestr("readme.txt", "exported 2026-12-06\n")

    rejected = run_steps(Steps(), feed, tmp_path / "w.duckdb", settings, "north")

    assert rejected.outcome == "rejected"
    [(_, message)] = smtp_server.messages
    text = message.get_payload(decode=True).decode().replace("\r\n", "\n")
    assert "\n  manifest.csv: manifest.missing the feed has no manifest.csv at its root\n" in text
    assert "None" not in text
