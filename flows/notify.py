"""Tell someone when a run needs them: a failed, rejected or held run, by webhook or email.

`[notify]` in the settings names a webhook (an HTTP POST of the run as JSON) and/or email
recipients (sent through an SMTP server). Prefect users can also let an automation react to the
`rosterflow.run.*` events the flow emits (docs/how-to/held-runs.md). A notification that cannot be delivered is
reported on stderr and in the log, never fails the run: the run is recorded in audit anyway.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import smtplib
import sys
import urllib.request
from email.message import EmailMessage

from rosterflow.schemas.settings import Notify, Settings

log = logging.getLogger("rosterflow.notify")
TIMEOUT_SECONDS = 10


def subject(payload: dict) -> str:
    run = f"run {payload['run_id']}" if payload.get("run_id") is not None else "a run"
    return f"rosterflow: {payload.get('feed') or 'a feed'} {payload['outcome']} ({run}, tenant {payload.get('tenant')})"


def body(payload: dict) -> str:
    """The run as plain text: what happened, why, what to do, the changes and first issues."""
    lines = [subject(payload), ""]
    if payload.get("warehouse"):
        lines += [f"Warehouse: {payload['warehouse']}", ""]
    if payload.get("message"):
        lines += [f"Why: {payload['message']}", ""]
    if payload.get("outcome") == "held" and payload.get("warehouse"):
        # the message's commands name the run alone: here with the warehouse it is in
        where = f"--warehouse {shlex.quote(payload['warehouse'])}"
        run = payload["run_id"]
        lines += [
            f"Decide: rosterflow approve {run} {where}",
            f"    or: rosterflow discard {run} {where}",
            "",
        ]
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
        lines += [
            f"  {i['file']} line {i['line']} {i['field'] or ''}: {i['rule']} ({i['value']}) {i['message']}"
            for i in payload["issues"]
        ]
    return "\n".join(lines) + "\n"


def send_webhook(url: str, payload: dict) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload, default=str).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "rosterflow"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        response.read()


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
    try:
        with smtplib.SMTP(notify.smtp_host, notify.smtp_port, timeout=TIMEOUT_SECONDS) as smtp:
            if notify.smtp_starttls:
                smtp.starttls()
            if notify.smtp_user:
                smtp.login(notify.smtp_user, password)
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        # which server: `email` without `smtp_host` means localhost:25, which says nothing
        raise SmtpError(f"{server}: {error}") from error


class SmtpError(Exception):
    """An email notification the SMTP server named in it did not take."""


def notify_run(settings: Settings, payload: dict) -> None:
    """Send `payload` (a run, see `SyncResult.payload`) where `[notify]` says; report, never
    raise, a delivery that fails."""
    notify = settings.notify
    channels = []
    if notify.webhook:
        channels.append(("webhook", lambda: send_webhook(notify.webhook, payload)))
    if notify.email:
        channels.append(("email", lambda: send_email(notify, payload)))
    for name, send in channels:
        try:
            send()
        except Exception as error:
            warning = f"rosterflow: the {name} notification of {subject(payload)} failed: {error}"
            log.warning(warning)
            if not shown_on_stderr(log, logging.WARNING):  # (else it would be there twice)
                print(warning, file=sys.stderr)


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
