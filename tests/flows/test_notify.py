"""A failed, rejected or held run is announced by webhook and by email, to real servers on this
machine: an HTTP server that keeps every POST, and an SMTP server (aiosmtpd) that keeps every
message. An applied run is not announced, and a notification that cannot be delivered never
fails the run."""

from __future__ import annotations

import io
import logging
import re
import shlex
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rosterflow.flows import notify, pipeline
from rosterflow.flows.cli import app
from rosterflow.flows.notify import body, subject
from rosterflow.flows.pipeline import Steps, run_steps
from rosterflow.schemas.settings import SettingsError, parse_settings
from rosterflow.schemas.writer import write_feed
from tests.feeds import tiny_district, with_cell, without_students
from tests.mailbox import Mailbox, serving_smtp
from tests.webhook import Receiver


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def mailbox():
    with serving_smtp(Mailbox()) as box:
        yield box


def notifying(receiver: Receiver, mailbox: Mailbox, **more):
    return parse_settings(
        {
            "notify": {
                "webhook": receiver.url,
                "email": "data-team@district.example, it@district.example",
                "smtp_host": "127.0.0.1",
                "smtp_port": mailbox.port,
                "smtp_from": "rosterflow@district.example",
            },
        }
        | more
    )


def failing_apply(con, planned, issues):
    raise OSError(28, "No space left on device")


def sync(tmp_path: Path, frames, settings, steps: Steps | None = None):
    feed = write_feed(tmp_path / "north.zip", frames)
    return run_steps(steps or Steps(), feed, tmp_path / "w.duckdb", settings, "north")


@pytest.mark.slow
@pytest.mark.parametrize("outcome", ["rejected", "held", "failed"])
def test_each_failing_outcome_is_announced_by_webhook_and_email(
    tmp_path, receiver, mailbox, outcome
):
    settings = notifying(receiver, mailbox)
    applied = sync(tmp_path, tiny_district(), settings)
    assert applied.outcome == "applied"
    assert receiver.posts == [] and mailbox.messages == []  # an applied run is not announced

    if outcome == "rejected":
        result = sync(tmp_path, with_cell(tiny_district(), "users", 2, "role", "pupil"), settings)
        run_id = result.run_id
    elif outcome == "held":
        result = sync(tmp_path, without_students(tiny_district()), settings)
        run_id = result.run_id
    else:
        with pytest.raises(OSError, match="No space left"):
            sync(
                tmp_path,
                tiny_district() | {},
                settings,
                Steps(apply=failing_apply, recall=lambda *_: None),
            )
        run_id = applied.run_id + 1

    [post] = receiver.posts
    assert (post["outcome"], post["tenant"], post["run_id"], post["feed"]) == (
        outcome,
        "north",
        run_id,
        "north.zip",
    )
    # where the run is: whoever reads this is rarely in the folder the sync ran in
    assert post["warehouse"] == str(tmp_path / "w.duckdb")
    [(recipients, message)] = mailbox.messages
    assert recipients == ["data-team@district.example", "it@district.example"]
    assert message["From"] == "rosterflow@district.example"
    assert f"north.zip {outcome} (run {run_id}, tenant north)" in message["Subject"]
    text = message.get_payload(decode=True).decode()
    if outcome == "rejected":
        assert "1 validation error" in post["message"]
        assert post["issue_counts"] == [{"severity": "error", "rule": "enum", "count": 1}]
        assert post["issues"][0] | {"message": None} == {
            "file": "users.csv",
            "line": 4,
            "field": "role",
            "value": "pupil",
            "rule": "enum",
            "severity": "error",
            "message": None,
        }
        assert "users.csv line 4 role: enum (pupil)" in text
    elif outcome == "held":
        assert f"rosterflow approve {run_id}" in post["message"]
        assert {"entity": "user", "action": "inactivate", "count": 2} in post["changes"]
        assert "user inactivate: 2" in text and "rosterflow approve" in text
        lines = text.splitlines()
        assert f"Warehouse: {tmp_path / 'w.duckdb'}" in lines
        assert f"Decide: rosterflow approve {run_id} --warehouse {tmp_path / 'w.duckdb'}" in lines
    else:
        assert post["message"] == "OSError: [Errno 28] No space left on device"
        assert "No space left on device" in text


def test_a_held_run_s_mail_says_how_to_decide_from_any_folder(tmp_path, monkeypatch, mailbox):
    """The run's message names the run alone: `rosterflow approve N` where the mail is read
    looked for ./rosterflow.duckdb (exit 2), or acted on another warehouse that was there."""
    monkeypatch.chdir(tmp_path)
    settings = parse_settings(
        {"notify": {"email": "x@y", "smtp_host": "127.0.0.1", "smtp_port": mailbox.port}}
    )
    warehouse = "sis/wh/{tenant}.duckdb"  # relative, and a layout: quoted in the mail
    for frames in (tiny_district(), without_students(tiny_district())):
        held = run_steps(Steps(), write_feed(tmp_path / "n.zip", frames), warehouse, settings)
    assert held.outcome == "held"
    [(_, message)] = mailbox.messages
    text = message.get_payload(decode=True).decode().replace("\r\n", "\n")
    decide = re.search(r"^Decide: rosterflow (approve .+)$", text, re.MULTILINE)
    assert decide[1] == f"approve {held.run_id} --warehouse '{tmp_path}/sis/wh/{{tenant}}.duckdb'"

    monkeypatch.chdir(tmp_path / "sis")
    approved = CliRunner().invoke(app, shlex.split(decide[1]))
    assert approved.exit_code == 0, approved.output


def test_a_notification_that_cannot_be_delivered_does_not_fail_the_run(tmp_path, capsys):
    settings = parse_settings(
        {"notify": {"webhook": "http://127.0.0.1:9/nobody-listens", "smtp_port": 9, "email": "x@y"}}
    )
    sync(tmp_path, tiny_district(), settings)
    held = sync(tmp_path, without_students(tiny_district()), settings)
    assert held.outcome == "held"
    stderr = capsys.readouterr().err
    assert "the webhook notification of" in stderr and "the email notification of" in stderr


def test_an_email_that_cannot_be_sent_names_the_server_and_a_missing_password(mailbox, monkeypatch):
    """A password variable left unset logged in with an empty password, and the server's
    answer ("SMTP AUTH extension not supported") said nothing of why; a delivery failure did
    not say which server it tried (`email` alone means localhost:25)."""
    settings = {"email": "x@y", "smtp_host": "127.0.0.1", "smtp_port": mailbox.port}
    run = PAYLOAD | {"changes": [], "issue_counts": [], "issues": []}
    monkeypatch.delenv("ROSTERFLOW_SMTP_PASSWORD", raising=False)
    with pytest.raises(notify.SmtpError) as unset:
        notify.send_email(parse_settings({"notify": settings | {"smtp_user": "u"}}).notify, run)
    assert str(unset.value) == (
        f"127.0.0.1:{mailbox.port}: ROSTERFLOW_SMTP_PASSWORD is not set, so there is no "
        "password to log in as 'u' ([notify] smtp_user)"
    )
    with pytest.raises(notify.SmtpError, match=r"^127\.0\.0\.1:9: "):
        notify.send_email(parse_settings({"notify": settings | {"smtp_port": 9}}).notify, run)
    assert mailbox.messages == []


UNREACHABLE = parse_settings({"notify": {"webhook": "http://127.0.0.1:9/nobody-listens"}})
PAYLOAD = {"outcome": "held", "tenant": "north", "run_id": 2, "feed": "north.zip"}
FAILED = "rosterflow: the webhook notification of rosterflow: north.zip held (run 2, tenant north)"


@pytest.fixture
def unlogged(monkeypatch):
    """rosterflow's loggers as in a command without --verbose: no handler takes their records
    (logging's last resort writes a warning to stderr then)."""
    monkeypatch.setattr(notify.log, "propagate", False)
    monkeypatch.setattr(notify.log, "handlers", [])
    monkeypatch.setattr(logging.getLogger("rosterflow"), "handlers", [])


def test_an_undelivered_notification_is_reported_once_without_a_log_handler(unlogged, capsys):
    notify.notify_run(UNREACHABLE, PAYLOAD)
    stderr = capsys.readouterr().err
    assert stderr.count(FAILED) == 1, stderr


def test_an_undelivered_notification_is_reported_once_by_a_log_handler_on_stderr(
    unlogged, capsys, monkeypatch
):
    handler = logging.StreamHandler(sys.stderr)  # as --verbose or Prefect's console
    monkeypatch.setattr(notify.log, "handlers", [handler])
    notify.notify_run(UNREACHABLE, PAYLOAD)
    stderr = capsys.readouterr().err
    assert stderr.count(FAILED) == 1, stderr


def test_an_undelivered_notification_logged_elsewhere_is_reported_on_stderr_too(
    unlogged, capsys, monkeypatch
):
    log = io.StringIO()
    monkeypatch.setattr(notify.log, "handlers", [logging.StreamHandler(log)])  # a log file
    notify.notify_run(UNREACHABLE, PAYLOAD)
    assert capsys.readouterr().err.count(FAILED) == 1
    assert log.getvalue().count(FAILED) == 1


def test_without_notify_settings_nothing_is_sent(tmp_path, receiver):
    sync(tmp_path, tiny_district(), parse_settings({}))
    held = sync(tmp_path, without_students(tiny_district()), parse_settings({}))
    assert held.outcome == "held" and receiver.posts == []


@pytest.mark.parametrize(
    ("notify", "message"),
    [
        ({"webhook": "ftp://x"}, "give an http:// or https:// URL"),
        ({"smtp_port": "25"}, "smtp_port = '25'; give a whole number"),
        ({"smtp_starttls": "yes"}, "smtp_starttls = 'yes'; give true or false"),
        ({"email": ["a@b"]}, "email = \\['a@b'\\]; give text"),
        ({"webhok": "http://x"}, "webhok"),
    ],
)
def test_bad_notify_settings_are_refused(notify, message):
    with pytest.raises(SettingsError, match=message):
        parse_settings({"notify": notify})


def test_the_mail_says_what_happened_why_and_the_first_issues():
    payload = {
        "outcome": "held",
        "tenant": "north",
        "run_id": 7,
        "feed": "north.zip",
        "message": "this feed would remove 9 of 10 users",
        "planning": "incremental",
        "changes": [{"entity": "user", "action": "inactivate", "count": 9}],
        "issue_counts": [{"severity": "warning", "rule": "teacher.email", "count": 1}],
        "issues": [
            {
                "file": "users.csv",
                "line": 3,
                "field": "email",
                "value": None,
                "rule": "teacher.email",
                "severity": "warning",
                "message": "a teacher without an email",
            }
        ],
    }
    assert subject(payload) == "rosterflow: north.zip held (run 7, tenant north)"
    text = body(payload)
    assert "Why: this feed would remove 9 of 10 users" in text
    assert "  user inactivate: 9" in text
    assert "  warning teacher.email: 1" in text
    assert "users.csv line 3 email: teacher.email" in text
    assert "The first issue:\n" in text  # (not "The first 1 issues")
    assert "The first 2 issues:\n" in body(payload | {"issues": payload["issues"] * 2})


def test_the_failure_payload_names_what_was_known_when_the_run_broke():
    payload = pipeline.failure_payload(
        {"feed": "north.zip", "tenant": "north", "run_id": 4}, RuntimeError("boom")
    )
    assert (payload["outcome"], payload["run_id"], payload["message"]) == (
        "failed",
        4,
        "RuntimeError: boom",
    )
