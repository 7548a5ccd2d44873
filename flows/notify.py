"""Tell someone when a run needs them: a failed, rejected or held run, by webhook or email.

`[notify]` in the settings names a webhook (an HTTP POST of the run as JSON) and/or email
recipients (sent through an SMTP server). Prefect users can also let an automation react to the
`rosterflow.run.*` events the flow emits (docs/how-to/held-runs.md). A notification that cannot be delivered is
reported on stderr and in the log, never fails the run: the run is recorded in audit anyway.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import shlex
import smtplib
import ssl
import string
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from typing import TypeVar
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from rosterflow.schemas.printable import one_line
from rosterflow.schemas.settings import Notify, Settings

log = logging.getLogger("rosterflow.notify")
T = TypeVar("T")
TIMEOUT_SECONDS = 10
# a mail's whole exchange with its server, at most: each reply within TIMEOUT_SECONDS, and
# the server's greeting, login and the message itself in all
MAIL_SECONDS = 60
SMTPS_PORT = 465  # SMTP over TLS from the first byte (RFC 8314)
# what a notification, a Prefect event or artifact shows of an issue's value or field (a cell
# or header of the feed, as long as the SIS made it) and of a message: a few cells of some
# hundred thousand characters made an event Prefect refuses to emit, failing a run already
# recorded, and a mail or a POST of megabytes
VALUE_CHARACTERS = 200
MESSAGE_CHARACTERS = 2_000


def shortened(text: str | None, limit: int) -> str | None:
    """`text` cut to `limit` characters, saying how long it was, when it is longer."""
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def bounded_issue(issue: dict) -> dict:
    """`issue` (a row of an issues frame) with its field, value and message shortened."""
    limits = {"field": VALUE_CHARACTERS, "value": VALUE_CHARACTERS, "message": MESSAGE_CHARACTERS}
    return issue | {
        name: shortened(issue[name], limit) for name, limit in limits.items() if name in issue
    }


def bounded(payload: dict) -> dict:
    """`payload` (a run, see `SyncResult.payload`) with its message and each issue shortened:
    what a webhook, a mail or a Prefect event carries stays small whatever the feed holds."""
    return payload | {
        "message": shortened(payload.get("message"), MESSAGE_CHARACTERS),
        "issues": [bounded_issue(issue) for issue in payload.get("issues") or []],
    }


def subject(payload: dict) -> str:
    run = f"run {payload['run_id']}" if payload.get("run_id") is not None else "a run"
    # a feed that failed before its tenant was known (its manifest unread) has none to name
    tenant = f", tenant {payload['tenant']}" if payload.get("tenant") is not None else ""
    line = f"rosterflow: {payload.get('feed') or 'a feed'} {payload['outcome']} ({run}{tenant})"
    # its control characters escaped: a zip's name is whatever the SIS or a person gave it, and
    # an email's Subject with a line feed in it is refused, so the run was never announced
    return one_line(line)


def decide_commands(run_id: int, warehouse: str | os.PathLike[str]) -> tuple[str, str]:
    """The commands that approve and discard held run `run_id` of `warehouse`, the warehouse
    named: `rosterflow approve 4` alone, typed anywhere but the sync's folder, reads another
    warehouse (always so for a per-tenant layout)."""
    where = f"--warehouse {shlex.quote(str(warehouse))}"
    return f"rosterflow approve {run_id} {where}", f"rosterflow discard {run_id} {where}"


def body(payload: dict) -> str:
    """The run as plain text: what happened, why, what to do, the changes and first issues."""
    lines = [subject(payload), ""]
    # (each on one line, as the issues' are: a message names the feed, a byte of whose name
    # that is not UTF-8 made the mail unsendable, and a failed feed unannounced)
    if payload.get("warehouse"):
        lines += [f"Warehouse: {one_line(str(payload['warehouse']))}", ""]
    if payload.get("message"):
        lines += [f"Why: {one_line(payload['message'])}", ""]
    if payload.get("outcome") == "held" and payload.get("warehouse"):
        approve, discard = decide_commands(payload["run_id"], payload["warehouse"])
        lines += [f"Decide: {approve}", f"    or: {discard}", ""]
    if payload["changes"]:
        lines.append("Changes planned:")
        lines += [f"  {c['entity']} {c['action']}: {c['count']:,}" for c in payload["changes"]]
        lines.append("")
    if payload["issue_counts"]:
        lines.append("Issues:")
        lines += [f"  {c['severity']} {c['rule']}: {c['count']:,}" for c in payload["issue_counts"]]
        lines.append("")
    if payload["issues"]:
        shown = len(payload["issues"])
        lines.append("The first issue:" if shown == 1 else f"The first {shown} issues:")
        lines += [_issue_line(issue) for issue in payload["issues"]]
    return "\n".join(lines) + "\n"


def _issue_line(issue: dict) -> str:
    """`users.csv line 4 role: enum (pupil) message`; an issue of no line (a whole file's: a
    feed without its manifest), no field or no value (a missing one) without them, rather
    than with "None" in their place."""
    where = issue["file"] if issue.get("line") is None else f"{issue['file']} line {issue['line']}"
    if issue.get("field"):
        where += f" {issue['field']}"
    value = f" ({issue['value']})" if issue.get("value") is not None else ""
    message = f" {issue['message']}" if issue.get("message") else ""
    # its control characters escaped: a quoted cell of the feed can hold a line break, which
    # split its issue over two lines and made the rest of the value read as the next issue
    line = f"{where}: {issue['rule']}{value}{message}"
    return f"  {one_line(line)}"


class WebhookError(Exception):
    """A webhook that did not take the run's summary."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not followed: urllib would follow a 301, 302 or 303 with a GET
    without the summary, and the notification would be lost without a word."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class _NotInTime(Exception):
    """What `_in_time` raises when its call has not returned by the deadline."""


def _in_time(call: Callable[[], T], seconds: float, name: str) -> T:
    """`call()`'s result, or what it raised, once it returns within `seconds` in all; else
    `_NotInTime`. urllib's and smtplib's timeouts bound each read alone: a server sending its
    answer a byte at a time kept the run (and an inbox behind it) waiting for as long as it
    kept sending. The call goes on in a thread of its own (`name`), left behind at the
    deadline: it ends with the process, or once the server has answered or stops sending."""
    outcome: list[tuple[bool, object]] = []

    def run() -> None:
        try:
            outcome.append((True, call()))
        except Exception as error:
            outcome.append((False, error))

    running = threading.Thread(target=run, name=name, daemon=True)
    running.start()
    running.join(seconds)
    if not outcome:
        raise _NotInTime
    returned, value = outcome[0]
    if not returned:
        raise value
    return value


def send_webhook(url: str, payload: dict) -> None:
    """POST `payload` to `url`; a WebhookError unless its status came within TIMEOUT_SECONDS
    in all (`_in_time`)."""
    try:
        _in_time(lambda: _post(url, payload), TIMEOUT_SECONDS, "rosterflow-webhook")
    except _NotInTime:
        raise WebhookError(f"{_origin(url)}/…: {_why_not(TimeoutError())}") from None


def _post(url: str, payload: dict) -> None:
    request = urllib.request.Request(
        _on_the_wire(url),
        data=json.dumps(payload, default=str).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "rosterflow"},
        method="POST",
    )
    try:
        # its status says the webhook took the summary: a body is not read, as one sent slowly
        # kept the run waiting past the timeout (which bounds each read, not all of them), and
        # one cut short made a notification delivered read as failed
        with _OPENER.open(request, timeout=TIMEOUT_SECONDS):
            pass
    except urllib.error.HTTPError as error:
        if 300 <= error.code < 400:
            # where to: its scheme and host alone, as a webhook's secret is in its path
            moved = urljoin(url, error.headers.get("Location") or "")
            to = f" to {_origin(moved)}/…" if urlsplit(moved).netloc else ""
            raise WebhookError(
                f"HTTP {error.code} {error.reason}{to}: the webhook redirects, and a redirect is "
                "not followed (the summary would not go with it); give [notify] webhook the "
                "URL it redirects to"
            ) from None
        raise WebhookError(f"HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        # urllib's own words ("<urlopen error [Errno 111] Connection refused>", "timed out")
        # named neither the server nor how long it was waited for; its scheme and host alone,
        # as a webhook's secret is in its path
        cause = error.reason if isinstance(error, urllib.error.URLError) else error
        raise WebhookError(f"{_origin(url)}/…: {_why_not(cause)}") from None
    except http.client.HTTPException as error:
        # a status line or headers that are not HTTP: http.client's words were the line
        # alone, naming no server, with its line break in the log line
        said = one_line(shortened(str(error), VALUE_CHARACTERS) or "")
        raise WebhookError(
            f"{_origin(url)}/…: its answer is not HTTP ({type(error).__name__}: {said})"
        ) from None


def _on_the_wire(url: str) -> str:
    """`url` with each character of its path and query beyond ASCII percent-encoded as UTF-8,
    as a browser sends it: http.client sends ASCII alone, and a path such as `/hooks/zürich`
    failed every notification with "'ascii' codec can't encode character". Its host is left
    to http.client, which sends a name beyond ASCII as IDNA."""
    if url.isascii():
        return url
    parts = urlsplit(url)
    # (every ASCII character kept as it is: a `%2F` or `?` the webhook service wrote stays)
    return urlunsplit(
        parts._replace(
            path=quote(parts.path, safe=string.punctuation),
            query=quote(parts.query, safe=string.punctuation),
        )
    )


def _origin(url: str) -> str:
    """`scheme://host:port` of `url`, without its path (a webhook's secret) nor a `user:pass@`."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host  # an IPv6 address, bracketed as in a URL
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"


def _why_not(cause: object) -> str:
    """Why a webhook took nothing, in words: no answer in time, a certificate not trusted, the
    operating system's reason (connection refused, no such host)."""
    if isinstance(cause, TimeoutError) or str(cause) == "timed out":
        return f"no answer within {TIMEOUT_SECONDS} s"
    if isinstance(cause, ssl.SSLCertVerificationError):
        return (
            f"its certificate cannot be trusted ({cause.verify_message}), so nothing was sent; "
            "a certificate of the district's own authority is trusted when the file "
            "SSL_CERT_FILE names holds that authority's certificate"
        )
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return str(cause) or type(cause).__name__


def send_email(notify: Notify, payload: dict) -> None:
    message = EmailMessage()
    message["Subject"] = subject(payload)
    message["From"] = notify.smtp_from
    message["To"] = notify.email
    message.set_content(body(payload))
    server = f"{notify.smtp_host}:{notify.smtp_port}"
    password = os.environ.get(notify.smtp_password_env) if notify.smtp_user else None
    if notify.smtp_user and not password:
        # (logging in with no password fails at the server for a reason it words otherwise)
        raise SmtpError(
            f"{server}: {notify.smtp_password_env} is not set, so there is no password to log "
            f"in as {notify.smtp_user!r} ([notify] smtp_user)"
        )
    if notify.logs_in_without_tls():  # (the settings refuse it: settings made otherwise)
        raise SmtpError(
            f"{server}: not logging in as {notify.smtp_user!r} without STARTTLS, the password "
            "would cross the network in clear text ([notify] smtp_starttls)"
        )
    try:
        refused = _in_time(
            lambda: _deliver(notify, message, password, server), MAIL_SECONDS, "rosterflow-mail"
        )
    except _NotInTime:
        raise SmtpError(f"{server}: the mail was not through within {MAIL_SECONDS} s") from None
    if refused:
        # smtplib raises only when every recipient is refused: the others were sent it, and
        # the ones refused would never hear of the run without a word
        raise SmtpError(
            f"{server}: sent to the other recipients, but refused {_refusals(refused)} "
            "([notify] email)"
        )


def _deliver(notify: Notify, message: EmailMessage, password: str | None, server: str) -> dict:
    """The mail sent through the server: the recipients it refused (a SmtpError when it
    refused them all, or the exchange failed)."""
    try:
        with smtplib.SMTP(notify.smtp_host, notify.smtp_port, timeout=TIMEOUT_SECONDS) as smtp:
            if notify.smtp_starttls:
                # a context that checks the server's certificate and name: smtplib's own
                # checks neither, and the password would go to whoever answers in between
                smtp.starttls(context=ssl.create_default_context())
            if notify.smtp_user:
                smtp.login(notify.smtp_user, password)
            refused = smtp.send_message(message)
    except ssl.SSLCertVerificationError as error:
        raise SmtpError(
            f"{server}: its certificate cannot be trusted ({error.verify_message}), so nothing "
            "was sent; a certificate of the district's own authority is trusted when the file "
            "SSL_CERT_FILE names holds that authority's certificate"
        ) from error
    except smtplib.SMTPRecipientsRefused as error:
        raise SmtpError(
            f"{server}: refused every recipient, so nobody was sent it: "
            f"{_refusals(error.recipients)} ([notify] email)"
        ) from error
    except smtplib.SMTPSenderRefused as error:
        raise SmtpError(f"{server}: {_sender_refused(notify, error)}") from error
    except smtplib.SMTPResponseException as error:  # a login refused, a message refused
        raise SmtpError(f"{server}: {_reply(error.smtp_code, error.smtp_error)}") from error
    except (OSError, smtplib.SMTPException) as error:
        # which server: `email` without `smtp_host` means localhost:25, which says nothing
        hint = ""
        # (smtplib words a greeting that timed out as a connection closed, from the timeout)
        timed_out = any(isinstance(e, TimeoutError) for e in (error, error.__context__))
        if notify.smtp_port == SMTPS_PORT and timed_out:
            # the server waits for a TLS handshake, smtplib for the server's greeting
            hint = (
                f"; port {SMTPS_PORT} speaks TLS from the first byte (SMTPS), which rosterflow "
                "does not: give the server's STARTTLS port ([notify] smtp_port, 587 usually) "
                "with smtp_starttls = true"
            )
        raise SmtpError(f"{server}: {error or type(error).__name__}{hint}") from error
    return refused


def _sender_refused(notify: Notify, error: smtplib.SMTPSenderRefused) -> str:
    """Why the server refused the mail at its sender, and which setting mends it: a 530 refuses
    the session, not the sender (RFC 3207, RFC 4954), so it names STARTTLS or the login the
    server wants rather than `smtp_from`."""
    reply = _reply(error.smtp_code, error.smtp_error)
    if error.smtp_code == 530 and "starttls" in reply.lower() and not notify.smtp_starttls:
        return f"wants STARTTLS before it takes a mail ({reply}): set [notify] smtp_starttls = true"
    if error.smtp_code == 530 and not notify.smtp_user:
        return (
            f"wants a login before it takes a mail ({reply}): set [notify] smtp_user, with the "
            f"password in the environment variable {notify.smtp_password_env}"
        )
    return f"refused the sender {error.sender} ([notify] smtp_from): {reply}"


def _refusals(recipients: dict[str, tuple[int, bytes]]) -> str:
    """`a@x (550 5.1.1 no such user), b@x (...)`: each recipient refused with the server's
    reply, rather than smtplib's dict of bytes."""
    return ", ".join(
        f"{address} ({_reply(code, reply)})" for address, (code, reply) in recipients.items()
    )


def _reply(code: int, reply: bytes | str) -> str:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    return f"{code} {' '.join(text.split())}"  # a reply of several lines, as one


class SmtpError(Exception):
    """An email notification the SMTP server named in it did not take."""


def notify_run(
    settings: Settings,
    payload: dict,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
) -> None:
    """Send `payload` (a run, see `SyncResult.payload`) where `[notify]` says; report, never
    raise, a delivery that fails: on `logger` (rosterflow.notify without; a Prefect flow run's
    logger puts it in the run's log, in the UI), and on stderr unless a handler of `logger`
    writes it there."""
    logger = logger or log
    notify = settings.notify
    payload = bounded(payload)
    channels = []
    if notify.webhook:
        channels.append(("webhook", lambda: send_webhook(notify.webhook, payload)))
    if notify.email:
        channels.append(("email", lambda: send_email(notify, payload)))
    for name, send in channels:
        try:
            send()
        except Exception as error:
            why = _unquoted(str(error), notify.webhook)
            warning = f"rosterflow: the {name} notification of {subject(payload)} failed: {why}"
            logger.warning(warning)
            # (else it would be there twice; a LoggerAdapter's handlers are its logger's)
            if not shown_on_stderr(getattr(logger, "logger", logger), logging.WARNING):
                print(warning, file=sys.stderr)


def _unquoted(text: str, webhook: str) -> str:
    """`text` without the webhook's path, should an error quote it (http.client's does, of a
    URL it refuses): a webhook's secret is in its path, and the warning reaches a log."""
    if not webhook:
        return text
    # as written, and as sent (a path beyond ASCII percent-encoded)
    for url in dict.fromkeys((webhook, _on_the_wire(webhook))):
        for secret in (url, urlsplit(url).path):
            if len(secret) > 1:
                text = text.replace(secret, "…")
    return text


def shown_on_stderr(logger: logging.Logger, level: int) -> bool:
    """Whether logging writes a record of `level` from `logger` to stderr by itself: through a
    handler writing there (Prefect's console, --verbose), or through logging's last resort
    when no handler would take it at all (a command without either)."""
    if not logger.isEnabledFor(level):
        return False
    handled = False
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            handled = True
            if level >= handler.level and _writes_to_stderr(handler):
                return True
        current = current.parent if current.propagate else None
    last_resort = logging.lastResort
    return not handled and last_resort is not None and level >= last_resort.level


def _writes_to_stderr(handler: logging.Handler) -> bool:
    console = getattr(handler, "console", None)  # rich's handler
    streams = (getattr(handler, "stream", None), getattr(console, "file", None))
    return _unproxied(sys.stderr) in (_unproxied(stream) for stream in streams if stream)


def _unproxied(stream: object) -> object:
    """The stream itself, where rich's live display (the spinner) stands in for it."""
    return getattr(stream, "rich_proxied_file", stream)
