"""What a webhook answers and what a notification says of it: a webhook on this machine that
redirects or fails is reported on stderr, and never changes the run; a notification's text
says what was known, and never "None" for what was not."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import pytest

from rosterflow.flows import notify
from rosterflow.flows.notify import body, subject
from rosterflow.flows.pipeline import Steps, run_steps
from rosterflow.schemas.settings import parse_settings
from rosterflow.schemas.writer import write_feed
from tests.feeds import tiny_district, without_students
from tests.webhook import serving, stop


class Webhook:
    """An HTTP server on a free local port answering every request with `status` (and a
    Location to /moved for a redirect); `requests` holds each one's method, path and body."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.requests: list[tuple[str, str, bytes]] = []
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                requests.append((self.command, self.path, self.rfile.read(length)))
                moved = self.path == "/moved"
                self.send_response(200 if moved else status)
                if 300 <= status < 400 and not moved:
                    self.send_header("Location", "/moved")
                self.send_header("Content-Type", "text/html")  # not JSON: never read as such
                self.end_headers()
                self.wfile.write(b"<html>ok</html>")

            do_POST = do_GET = answer

            def log_message(self, *_args) -> None:
                pass

        self.server = serving(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T0/SECRET"

    def close(self) -> None:
        stop(self.server)


@pytest.fixture
def webhook(request):
    found = Webhook(request.param)
    yield found
    found.close()


def held_run(tmp_path, settings):
    warehouse = tmp_path / "w.duckdb"
    for frames in (tiny_district(), without_students(tiny_district())):
        result = run_steps(Steps(), write_feed(tmp_path / "north.zip", frames), warehouse, settings)
    return result


REASONS = {
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    404: "Not Found",
    500: "Internal Server Error",
}


@pytest.mark.slow
@pytest.mark.parametrize("webhook", [301, 302, 303, 307, 308], indirect=True)
def test_a_webhook_that_redirects_is_reported_and_not_followed(tmp_path, webhook, capsys):
    """urllib followed a 301, 302 or 303 with a GET without the summary: the notification was
    lost, and nothing said so."""
    held = held_run(tmp_path, parse_settings({"notify": {"webhook": webhook.url}}))

    assert held.outcome == "held" and held.exit_code == 1
    assert [(method, path) for method, path, _ in webhook.requests] == [
        ("POST", "/services/T0/SECRET")
    ]
    code = webhook.status
    port = webhook.server.server_address[1]
    stderr = capsys.readouterr().err
    assert (
        stderr.count(
            f"rosterflow: the webhook notification of rosterflow: north.zip held (run "
            f"{held.run_id}, tenant north) failed: HTTP {code} {REASONS[code]} to "
            f"http://127.0.0.1:{port}/…: the webhook redirects, and a redirect is not followed (the "
            "summary would not go with it); give [notify] webhook the URL it redirects to"
        )
        == 1
    ), stderr
    assert "SECRET" not in stderr


@pytest.mark.parametrize("webhook", [500, 404], indirect=True)
def test_a_webhook_that_fails_is_reported_and_the_run_stays_held(tmp_path, webhook, capsys):
    held = held_run(tmp_path, parse_settings({"notify": {"webhook": webhook.url}}))

    assert held.outcome == "held" and held.exit_code == 1
    [(method, _, sent)] = webhook.requests
    assert method == "POST" and json.loads(sent)["run_id"] == held.run_id
    stderr = capsys.readouterr().err
    assert (
        stderr.count(
            f"held (run {held.run_id}, tenant north) failed: HTTP {webhook.status} "
            f"{REASONS[webhook.status]}\n"
        )
        == 1
    ), stderr
    assert "SECRET" not in stderr


@pytest.mark.parametrize("webhook", [200], indirect=True)
def test_a_webhook_answering_with_no_json_has_taken_the_run(tmp_path, webhook, capsys):
    held = held_run(tmp_path, parse_settings({"notify": {"webhook": webhook.url}}))
    [(_, _, sent)] = webhook.requests
    assert json.loads(sent)["outcome"] == "held" and held.outcome == "held"
    assert "notification" not in capsys.readouterr().err


def test_an_error_quoting_the_webhook_s_path_does_not_show_it(monkeypatch, capsys):
    """A webhook's secret is its path: an error quoting it (http.client's, of a URL it
    refuses) reached stderr and the log."""
    settings = parse_settings({"notify": {"webhook": "https://hooks.example.org/T0/SECRET"}})

    def refused(url, payload):
        raise ValueError(f"URL can't contain control characters. {url!r}; '/T0/SECRET'")

    monkeypatch.setattr(notify, "send_webhook", refused)
    notify.notify_run(settings, {"outcome": "held", "tenant": "north", "run_id": 2, "feed": "n"})
    stderr = capsys.readouterr().err
    assert "the webhook notification of rosterflow: n held (run 2, tenant north) failed" in stderr
    assert "SECRET" not in stderr


def test_a_run_whose_tenant_was_never_known_is_not_called_tenant_none():
    # a feed that could not be read fails before its manifest names the tenant
    payload = {"outcome": "failed", "tenant": None, "run_id": None, "feed": "bad.zip"}
    assert subject(payload) == "rosterflow: bad.zip failed (a run)"
    assert subject(payload | {"tenant": "north", "run_id": 3}) == (
        "rosterflow: bad.zip failed (run 3, tenant north)"
    )


def test_an_issue_of_no_value_or_no_field_is_listed_without_none():
    issue = {"file": "users.csv", "line": 4, "rule": "required", "severity": "error"}
    payload = {
        "outcome": "rejected",
        "tenant": "north",
        "run_id": 3,
        "feed": "north.zip",
        "changes": [],
        "issue_counts": [],
        "issues": [
            issue | {"field": "username", "value": None, "message": "username is required"},
            issue | {"field": None, "value": None, "message": None, "rule": "file.quote"},
            issue | {"field": "role", "value": "pupil", "message": None, "rule": "enum"},
        ],
    }
    lines = body(payload).splitlines()
    assert lines[-3:] == [
        "  users.csv line 4 username: required username is required",
        "  users.csv line 4: file.quote",
        "  users.csv line 4 role: enum (pupil)",
    ]
    assert "None" not in body(payload)
