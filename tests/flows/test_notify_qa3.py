"""A notification reaches a webhook whose path goes beyond ASCII (`/hooks/zürich`), where every
one failed with "'ascii' codec can't encode character"; a cell of the feed holding a line
break is mailed on its issue's line, where it split the line and the rest of the value read as
the next issue. A webhook that sends its answer a byte at a time is given up on at the
timeout, where each byte in time kept the run waiting for as long as it kept sending."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote

import pytest

from rosterflow.flows.pipeline import Steps, run_steps
from rosterflow.schemas.settings import parse_settings
from tests.feeds import tiny_district, with_cell, write_feed
from tests.mailbox import Mailbox, serving_smtp
from tests.webhook import serving, stop

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on a free port, keeping every message it takes."""
    with serving_smtp(Mailbox()) as box:
        yield box


@pytest.fixture
def paths_posted():
    """A webhook on this machine answering 204 to each POST; yields its base URL and the list
    of the paths it was posted to, as they came on the wire."""
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            paths.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args) -> None:
            pass

    server = serving(Handler)
    yield f"http://127.0.0.1:{server.server_address[1]}", paths
    stop(server)


def _rejected_feed(tmp_path, value: str):
    """A feed rejected for one value: the role of users.csv line 2."""
    return write_feed(tmp_path / "north.zip", with_cell(tiny_district(), "users", 0, "role", value))


def test_a_webhook_whose_path_goes_beyond_ascii_is_sent_the_run(tmp_path, paths_posted, capsys):
    base, paths = paths_posted
    hook = "/hooks/zürich-東京?team=élèves&sig=a%2Fb"
    settings = parse_settings({"notify": {"webhook": base + hook}})

    rejected = run_steps(
        Steps(), _rejected_feed(tmp_path, "pupil"), tmp_path / "w.duckdb", settings
    )

    assert rejected.outcome == "rejected"
    assert capsys.readouterr().err == ""
    # as a browser sends it: UTF-8, percent-encoded, the escapes the URL had kept as they were
    [path] = paths
    assert path.isascii()
    assert path == "/hooks/z%C3%BCrich-%E6%9D%B1%E4%BA%AC?team=%C3%A9l%C3%A8ves&sig=a%2Fb"
    assert unquote(path.split("?")[0]) == "/hooks/zürich-東京"


def test_a_value_with_a_line_break_is_mailed_on_its_issue_s_line(tmp_path, smtp_server):
    settings = parse_settings(
        {"notify": {"email": "x@y", "smtp_host": "127.0.0.1", "smtp_port": smtp_server.port}}
    )

    feed = _rejected_feed(tmp_path, "stu\ndent")
    rejected = run_steps(Steps(), feed, tmp_path / "w.duckdb", settings)

    assert rejected.outcome == "rejected"
    [(_, message)] = smtp_server.messages
    text = message.get_payload(decode=True).decode()
    lines = text.splitlines()
    shown = lines[lines.index("The first issue:") + 1 :]
    assert shown == [r"  users.csv line 2 role: enum (stu\ndent) " + rejected.issues["message"][0]]


@contextmanager
def trickling(answer: bytes, reads_first: bool) -> Iterator[tuple[int, threading.Event]]:
    """A server on this machine that takes one connection, reads what comes first if
    `reads_first` (a request), then sends `answer` one byte every 0.1 s; yields its port and an
    event set once it has sent the whole answer."""
    listening = socket.create_server(("127.0.0.1", 0))
    answered, stopping = threading.Event(), threading.Event()

    def trickle() -> None:
        connection, _ = listening.accept()
        with connection:
            if reads_first:
                connection.recv(65_536)
            for byte in answer:
                if stopping.wait(0.1):
                    return
                connection.send(bytes([byte]))
            answered.set()

    threading.Thread(target=trickle, daemon=True).start()
    yield listening.getsockname()[1], answered
    stopping.set()
    listening.close()


@pytest.fixture
def trickling_webhook():
    """A webhook that reads the request, then sends `HTTP/1.1 200 OK` and its headers a byte
    at a time (some seconds in all); yields its URL and an event set once it has sent it all."""
    with trickling(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"." * 40 + b"\r\n\r\n", True) as (port, done):
        yield f"http://127.0.0.1:{port}/services/T0/SECRET", done


def test_a_webhook_sending_its_answer_a_byte_at_a_time_is_given_up_at_the_timeout(
    trickling_webhook, monkeypatch
):
    from rosterflow.flows import notify

    url, answered = trickling_webhook
    monkeypatch.setattr(notify, "TIMEOUT_SECONDS", 0.5)  # each byte comes well within it

    with pytest.raises(notify.WebhookError) as waited:
        notify.send_webhook(url, {"outcome": "held"})

    port = url.split(":")[2].split("/")[0]
    assert str(waited.value) == f"http://127.0.0.1:{port}/…: no answer within 0.5 s"
    assert not answered.is_set()  # given up on before the answer was whole


def test_an_error_quoting_a_path_beyond_ascii_as_sent_does_not_show_it(monkeypatch, capsys):
    """The path goes percent-encoded on the wire: an error quoting it so is kept from the
    warning as the path as written is."""
    from rosterflow.flows import notify

    settings = parse_settings({"notify": {"webhook": "https://hooks.example.org/T0/sécret"}})

    def refused(url, payload):
        raise ValueError(f"refused {url!r}; '/T0/s%C3%A9cret'")

    monkeypatch.setattr(notify, "_post", refused)
    notify.notify_run(settings, {"outcome": "held", "tenant": "north", "run_id": 2, "feed": "n"})
    stderr = capsys.readouterr().err
    assert "the webhook notification of rosterflow: n held (run 2, tenant north) failed" in stderr
    assert "cret" not in stderr


@pytest.fixture
def trickling_smtp():
    """A mail server that sends its greeting a byte at a time (some seconds in all); yields its
    port and an event set once it has sent the whole greeting."""
    with trickling(b"220 mail.district.example ESMTP " + b"." * 40 + b"\r\n", False) as found:
        yield found


def test_a_mail_server_sending_its_greeting_a_byte_at_a_time_is_given_up_in_time(
    trickling_smtp, monkeypatch
):
    """smtplib's timeout bounds each read alone: a server sending a byte within it each time
    kept the run, and an inbox behind it, waiting for as long as it kept sending."""
    from rosterflow.flows import notify

    port, greeted = trickling_smtp
    monkeypatch.setattr(notify, "MAIL_SECONDS", 0.5)  # each byte comes well within 10 s
    settings = parse_settings(
        {"notify": {"email": "data-team@district.example", "smtp_port": port}}
    )

    with pytest.raises(notify.SmtpError) as waited:
        notify.send_email(
            settings.notify,
            {
                "outcome": "failed",
                "tenant": "north",
                "run_id": 3,
                "changes": [],
                "issue_counts": [],
                "issues": [],
            },
        )

    assert str(waited.value) == f"localhost:{port}: the mail was not through within 0.5 s"
    assert not greeted.is_set()  # given up on before the greeting was whole
