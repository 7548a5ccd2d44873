"""A notification of a feed whose cells run to hundreds of thousands of characters is as small
as any other: each issue's value shortened, saying how long it was, where the mail carried
every character of every value shown (megabytes, which a mail server refuses). A webhook's
status says it took the run, whatever its body does after it; an answer that is not HTTP is
reported naming the webhook's host."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from rosterflow.flows import notify
from rosterflow.flows.notify import VALUE_CHARACTERS, bounded
from rosterflow.flows.pipeline import Steps, run_steps
from rosterflow.schemas.settings import parse_settings
from tests.flows.test_notify_tls import TlsMailbox
from tests.flows.test_prefect_qa import _long_roles
from tests.mailbox import Mailbox, serving_smtp


@pytest.fixture
def smtp_server():
    with serving_smtp(Mailbox()) as box:
        yield box


def test_a_rejected_feed_of_huge_values_is_mailed_with_each_value_shortened(tmp_path, smtp_server):
    settings = parse_settings(
        {"notify": {"email": "x@y", "smtp_host": "127.0.0.1", "smtp_port": smtp_server.port}}
    )
    rejected = run_steps(Steps(), _long_roles(tmp_path), tmp_path / "w.duckdb", settings)

    assert rejected.outcome == "rejected"
    [(_, message)] = smtp_server.messages
    text = message.get_payload(decode=True).decode()
    assert len(text) < 20_000
    assert text.count(f"({'x' * VALUE_CHARACTERS}… (400,000 characters))") == 5


def test_a_payload_s_short_values_and_missing_ones_are_left_as_they_are():
    issue = {"file": "users.csv", "line": 2, "field": "role", "value": None, "message": "m"}
    payload = {"outcome": "failed", "message": None, "issues": [issue]}
    long_message = "y" * 5_000

    assert bounded(payload) == payload
    assert bounded(payload | {"message": long_message})["message"] == (
        f"{'y' * 2_000}… (5,000 characters)"
    )
    assert bounded({"outcome": "failed", "message": "m", "issues": []})["issues"] == []


PAYLOAD = {
    "outcome": "held",
    "tenant": "north",
    "run_id": 4,
    "feed": "north.zip",
    "message": "over the guard",
    "changes": [],
    "issue_counts": [],
    "issues": [],
}


def _ok_cut_short(connection: socket.socket) -> None:
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nok")


def _ok_then_stalled(connection: socket.socket) -> None:
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nok")
    connection.recv(1)  # the rest never comes: until the client hangs up (or 30 s)


def _not_http(connection: socket.socket) -> None:
    connection.sendall(b"<html>maintenance</html>\r\n\r\n")


@pytest.fixture
def raw_webhook(request) -> Iterator[str]:
    """A webhook on a free local port that answers one POST as `request.param` writes it; its
    URL, whose path is the secret."""
    answer: Callable[[socket.socket], None] = request.param
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.settimeout(30)
            connection.recv(65_536)  # the POST (its few hundred bytes come in one segment)
            answer(connection)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/hooks/SECRET"
    server.join(30)
    listener.close()


@pytest.mark.parametrize("raw_webhook", [_ok_cut_short, _ok_then_stalled], indirect=True)
def test_a_webhook_that_answered_200_has_taken_the_run_whatever_its_body_does(
    raw_webhook, monkeypatch, capsys
):
    """The body was read: one cut short was reported as a failure ("IncompleteRead(2 bytes
    read, 98 more expected)"), one that stalled kept the run waiting for it and was reported
    as "no answer", and one trickled slowly kept the run waiting as long as it trickled."""
    monkeypatch.setattr(notify, "TIMEOUT_SECONDS", 1)
    settings = parse_settings({"notify": {"webhook": raw_webhook}})

    notify.notify_run(settings, PAYLOAD)

    assert "notification" not in capsys.readouterr().err


@pytest.mark.parametrize("raw_webhook", [_not_http], indirect=True)
def test_an_answer_that_is_not_http_is_reported_with_the_webhook_s_host(raw_webhook, capsys):
    """The warning was http.client's words alone, the line itself with its line break:
    "failed: <html>maintenance</html>" on two lines, naming no server."""
    settings = parse_settings({"notify": {"webhook": raw_webhook}})

    notify.notify_run(settings, PAYLOAD)

    origin = raw_webhook.removesuffix("/hooks/SECRET")
    [warning] = capsys.readouterr().err.splitlines()
    assert warning == (
        "rosterflow: the webhook notification of rosterflow: north.zip held (run 4, tenant "
        f"north) failed: {origin}/…: its answer is not HTTP (BadStatusLine: "
        "<html>maintenance</html>\\r\\n)"
    )


@pytest.fixture
def strict_mailbox(tmp_path):
    """An SMTP server that wants STARTTLS, then a login, before it takes a mail."""
    box = TlsMailbox(tmp_path)
    box.controller.start()
    yield box
    box.controller.stop()


@pytest.mark.parametrize(
    ("starttls", "wanted"),
    [
        (
            False,
            "wants STARTTLS before it takes a mail (530 Must issue a STARTTLS command first): "
            "set [notify] smtp_starttls = true",
        ),
        (
            True,
            "wants a login before it takes a mail (530 5.7.0 Authentication required): set "
            "[notify] smtp_user, with the password in the environment variable "
            "ROSTERFLOW_SMTP_PASSWORD",
        ),
    ],
)
def test_a_server_that_wants_tls_or_a_login_first_says_so_not_the_sender(
    strict_mailbox, monkeypatch, starttls, wanted
):
    """A server answers MAIL FROM with 530 until the session is encrypted or logged in: the
    error said "refused the sender rosterflow@localhost ([notify] smtp_from)", sending the
    team to a setting that was right."""
    monkeypatch.setenv("SSL_CERT_FILE", str(strict_mailbox.authority))
    settings = parse_settings(
        {
            "notify": {
                "email": "data-team@district.example",
                "smtp_host": "127.0.0.1",
                "smtp_port": strict_mailbox.port,
                "smtp_starttls": starttls,
            }
        }
    )

    with pytest.raises(notify.SmtpError) as refused:
        notify.send_email(settings.notify, PAYLOAD)

    assert str(refused.value) == f"127.0.0.1:{strict_mailbox.port}: {wanted}"
    assert strict_mailbox.messages == []
