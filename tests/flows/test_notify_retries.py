"""`serve --pool`: the tenant flow run is retried (twice, 15 s apart) on what a retry can mend, a
warehouse locked past the wait or a crash. A try whose failure a retry follows is nobody's
business yet: `[notify]` and the `rosterflow.run.failed` event tell of the last try alone, once
per flow run, while a run a try recorded (held, rejected) is told at once and never again."""

from __future__ import annotations

import socket

import pytest

from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import Settings
from tests.feeds import tiny_district, with_cell, without_students, write_feed
from tests.flows.test_fanout_qa import TEMPLATE, _hold, _released
from tests.mailbox import serving_smtp
from tests.webhook import Receiver


def _our_events(worker) -> list:
    from prefect.events.clients import AssertingEventsClient

    worker.drain()
    events = [event for client in AssertingEventsClient.all for event in client.events]
    return [event for event in events if event.event.startswith("rosterflow.run.")]


def _notify_config(tmp_path, receiver: Receiver):
    config = tmp_path / "settings.toml"
    config.write_text(f'[notify]\nwebhook = "{receiver.url}"\n')
    return config


@pytest.mark.flow
def test_a_lock_held_through_every_try_is_notified_once_after_the_last(
    tmp_path, monkeypatch, prefect_events
):
    """A lock timeout sent three `failed` notifications (and three events) per scan, one per
    try, while the zip then waited in the inbox for the next scan, which sent three more."""
    from prefect import get_client

    from rosterflow.flows.fanout import FLOW_RUN_RETRIES, tenant_sync_flow

    warehouse = str(tmp_path / TEMPLATE)
    run_sync(write_feed(tmp_path / "monday.zip", tiny_district()), warehouse, Settings(), "north")
    changed = write_feed(
        tmp_path / "tuesday.zip", with_cell(tiny_district(), "users", 0, "givenName", "Ann")
    )
    monkeypatch.setenv("ROSTERFLOW_LOCK_WAIT_SECONDS", "0.2")
    receiver = Receiver()
    config = _notify_config(tmp_path, receiver)
    holder = _hold(tmp_path / "wh" / "north.duckdb", 60)
    try:
        flow = tenant_sync_flow.with_options(retry_delay_seconds=0)
        state = flow(
            feed=str(changed),
            warehouse=warehouse,
            tenant="north",
            config=str(config),
            return_state=True,
        )
    finally:
        _released(holder)
        receiver.close()

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(state.state_details.flow_run_id)
    assert flow_run.state.is_failed() and flow_run.run_count == FLOW_RUN_RETRIES + 1
    assert [post["outcome"] for post in receiver.posts] == ["failed"]
    assert "locked by another process" in receiver.posts[0]["message"]
    assert [event.event for event in _our_events(prefect_events)] == ["rosterflow.run.failed"]


@pytest.mark.flow
def test_a_crash_a_retry_mends_is_not_notified_and_the_run_it_applies_is_told_once(
    tmp_path, monkeypatch, prefect_events
):
    """A try that broke (the API dropping out while validating) is retried and the retry holds
    the run: nobody hears of the broken try, and the held run is notified once."""
    from rosterflow.flows import steps as plain_steps
    from rosterflow.flows.fanout import tenant_sync_flow

    warehouse = str(tmp_path / TEMPLATE)
    run_sync(write_feed(tmp_path / "monday.zip", tiny_district()), warehouse, Settings(), "north")
    broken = {"left": 1}
    validate = plain_steps.validate

    def validate_once_broken(*args, **kwargs):
        if broken["left"]:
            broken["left"] -= 1
            raise ConnectionError("the Prefect API dropped out")
        return validate(*args, **kwargs)

    # the sync flow's task wraps the step it was given: the task's function is replaced
    from rosterflow.flows import sync as sync_module

    monkeypatch.setattr(sync_module.validate, "fn", validate_once_broken)
    receiver = Receiver()
    config = _notify_config(tmp_path, receiver)
    feed = write_feed(tmp_path / "tuesday.zip", without_students(tiny_district()))
    try:
        flow = tenant_sync_flow.with_options(retry_delay_seconds=0)
        result = flow(feed=str(feed), warehouse=warehouse, tenant="north", config=str(config))
    finally:
        receiver.close()

    assert broken["left"] == 0 and result.outcome == "held"
    assert [post["outcome"] for post in receiver.posts] == ["held"]
    assert [event.event for event in _our_events(prefect_events)] == ["rosterflow.run.held"]


@pytest.mark.flow
def test_a_run_held_before_the_try_broke_is_told_once_not_again_by_the_retry(
    tmp_path, monkeypatch, prefect_events
):
    """The try that held the run broke afterwards (publishing its artifacts): the retry finds
    the run recorded and returns it; the held run is announced by the try that recorded it,
    and the retry announces it neither by webhook nor by a second event."""
    from rosterflow.flows import sync as sync_module
    from rosterflow.flows.fanout import tenant_sync_flow

    warehouse = str(tmp_path / TEMPLATE)
    run_sync(write_feed(tmp_path / "monday.zip", tiny_district()), warehouse, Settings(), "north")
    broken = {"left": 1}
    publish = sync_module.publish

    def publish_once_broken(result):
        if broken["left"]:
            broken["left"] -= 1
            raise ConnectionError("the API dropped out after the run was held")
        return publish(result)

    monkeypatch.setattr(sync_module, "publish", publish_once_broken)
    receiver = Receiver()
    config = _notify_config(tmp_path, receiver)
    feed = write_feed(tmp_path / "tuesday.zip", without_students(tiny_district()))
    try:
        flow = tenant_sync_flow.with_options(retry_delay_seconds=0)
        result = flow(feed=str(feed), warehouse=warehouse, tenant="north", config=str(config))
    finally:
        receiver.close()

    assert result.outcome == "held" and result.planning == "retried"
    assert [post["outcome"] for post in receiver.posts] == ["held"]
    assert [event.event for event in _our_events(prefect_events)] == ["rosterflow.run.held"]


@pytest.mark.flow
def test_a_webhook_that_fails_is_reported_in_the_flow_run_s_log(tmp_path):
    """On a worker (`serve --pool`) the undelivered notification went to the worker's stderr
    and the `rosterflow.notify` logger alone: the flow run's log in the Prefect UI, where a
    data team looks, said nothing of it. The run stays held all the same."""
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    from rosterflow.flows.sync import sync_flow

    warehouse = str(tmp_path / TEMPLATE)
    run_sync(write_feed(tmp_path / "monday.zip", tiny_district()), warehouse, Settings(), "north")
    failing = Receiver(500, "/services/T0/SECRET")
    config = _notify_config(tmp_path, failing)
    feed = write_feed(tmp_path / "tuesday.zip", without_students(tiny_district()))
    try:
        state = sync_flow(
            feed=str(feed),
            warehouse=warehouse,
            tenant="north",
            config=str(config),
            return_state=True,
        )
    finally:
        failing.close()
    APILogWorker.drain_all(timeout=10)  # the run's logs, sent to the API

    held = state.result()
    assert held.outcome == "held" and state.is_completed()
    assert [post["outcome"] for post in failing.posts] == ["held"]
    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    warned = [entry.message for entry in logs if "notification" in entry.message]
    assert warned == [
        f"rosterflow: the webhook notification of rosterflow: tuesday.zip held (run "
        f"{held.run_id}, tenant north) failed: HTTP 500 Internal Server Error"
    ]
    assert not any("SECRET" in entry.message for entry in logs)


# --- what a webhook that takes nothing is reported as ---------------------------------------------


def test_a_webhook_that_does_not_answer_is_reported_with_its_host_and_the_wait(monkeypatch):
    """urllib's words alone: "timed out" named neither the webhook nor the wait, and a refused
    connection read "<urlopen error [Errno 111] Connection refused>"."""
    from rosterflow.flows import notify

    monkeypatch.setattr(notify, "TIMEOUT_SECONDS", 0.5)
    silent = socket.create_server(("127.0.0.1", 0))  # takes the connection, never answers
    port = silent.getsockname()[1]
    try:
        with pytest.raises(notify.WebhookError) as waited:
            notify.send_webhook(f"http://127.0.0.1:{port}/services/T0/SECRET", {})
    finally:
        silent.close()
    assert str(waited.value) == f"http://127.0.0.1:{port}/…: no answer within 0.5 s"

    with pytest.raises(notify.WebhookError) as refused:
        notify.send_webhook(f"http://127.0.0.1:{port}/services/T0/SECRET", {})
    assert str(refused.value) == f"http://127.0.0.1:{port}/…: Connection refused"


@pytest.fixture
def picky_mailbox():
    """An SMTP server on this machine that refuses the recipients at `nobody@` and keeps the
    envelope of each message it takes."""

    class Picky:
        def __init__(self) -> None:
            self.delivered: list[list[str]] = []

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address.startswith("nobody@"):
                return "550 5.1.1 <nobody@district.example>: no such user here"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            self.delivered.append(list(envelope.rcpt_tos))
            return "250 OK"

    with serving_smtp(Picky()) as handler:
        yield handler


def _email_settings(port: int, to: str):
    from rosterflow.schemas.settings import parse_settings

    return parse_settings({"notify": {"email": to, "smtp_host": "127.0.0.1", "smtp_port": port}})


HELD = {"outcome": "held", "tenant": "north", "run_id": 2, "feed": "n.zip", "changes": []}
HELD |= {"issue_counts": [], "issues": []}


def test_a_recipient_the_server_refuses_is_reported_though_the_others_got_it(picky_mailbox, capsys):
    """smtplib raises only when every recipient is refused: one refused of two went unsaid,
    and that person never heard of the held run."""
    from rosterflow.flows import notify

    settings = _email_settings(picky_mailbox.port, "dt@district.example, nobody@district.example")
    notify.notify_run(settings, HELD)

    assert picky_mailbox.delivered == [["dt@district.example"]]
    assert capsys.readouterr().err == (
        "rosterflow: the email notification of rosterflow: n.zip held (run 2, tenant north) "
        f"failed: 127.0.0.1:{picky_mailbox.port}: sent to the other recipients, but refused "
        "nobody@district.example (550 5.1.1 <nobody@district.example>: no such user here) "
        "([notify] email)\n"
    )


def test_every_recipient_refused_reads_as_the_server_s_reply_not_a_dict_of_bytes(picky_mailbox):
    from rosterflow.flows import notify

    with pytest.raises(notify.SmtpError) as refused:
        notify.send_email(
            _email_settings(picky_mailbox.port, "nobody@district.example").notify, HELD
        )
    assert str(refused.value) == (
        f"127.0.0.1:{picky_mailbox.port}: refused every recipient, so nobody was sent it: "
        "nobody@district.example (550 5.1.1 <nobody@district.example>: no such user here) "
        "([notify] email)"
    )
    assert picky_mailbox.delivered == []


def test_an_https_webhook_of_an_untrusted_certificate_says_how_to_trust_it(tmp_path, monkeypatch):
    """urllib's words were "<urlopen error [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify
    failed: self-signed certificate (_ssl.c:1000)>", naming no webhook and no remedy; a
    district's webhook behind its own authority is trusted through SSL_CERT_FILE."""
    import ssl

    from rosterflow.flows import notify
    from tests.flows.test_notify_tls import TlsMailbox

    authority = TlsMailbox(tmp_path).authority  # a certificate for 127.0.0.1, its key beside
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(authority, tmp_path / "key.pem")
    receiver = Receiver(path="/services/T0/SECRET", tls=context)
    url = receiver.url
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(authority.with_name("none.pem")))
        with pytest.raises(notify.WebhookError) as untrusted:
            notify.send_webhook(url, {"outcome": "held"})
        monkeypatch.setenv("SSL_CERT_FILE", str(authority))
        notify.send_webhook(url, {"outcome": "held"})
    finally:
        receiver.close()

    assert str(untrusted.value) == (
        f"{url.removesuffix('services/T0/SECRET')}…: its certificate cannot be trusted "
        "(self-signed certificate), so nothing was sent; a certificate of the district's own "
        "authority is trusted when the file SSL_CERT_FILE names holds that authority's "
        "certificate"
    )
    assert receiver.posts == [{"outcome": "held"}]
