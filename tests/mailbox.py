"""An SMTP server on this machine for the tests of notifications (aiosmtpd): a handler served on
a free local port while the block lasts."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import Message
from typing import TypeVar

from aiosmtpd.controller import Controller

Handler = TypeVar("Handler")


class Mailbox:
    """aiosmtpd's handler protocol: every message the SMTP server accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, _server, _session, envelope) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


@contextmanager
def serving_smtp(handler: Handler) -> Iterator[Handler]:
    """`handler` served by an SMTP server on a free port of 127.0.0.1 (`handler.port`)."""
    with socket.socket() as probe:  # a free port (the controller checks it by connecting)
        probe.bind(("127.0.0.1", 0))
        handler.port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()
