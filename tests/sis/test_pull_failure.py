"""A pull that fails stops whole: the collections and pages still in flight are cancelled
before the client closes, so none of them is retried or logged after the failure, and the
line says what the server said of the refusal."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from rosterflow.demo.api import RosterApi
from rosterflow.schemas.settings import Source
from rosterflow.sis.errors import StatusError
from rosterflow.sis.pull import pull
from tests.sis.conftest import QUICK

SINCE = datetime(2026, 3, 9, 7, 0, tzinfo=UTC)


class SlowApi(RosterApi):
    """Answers the requests `slow(path, query string)` picks after `delay` seconds, without
    holding up the others (the server's loop keeps serving); `arrived` lists every request's
    path as it arrives, before any wait."""

    def __init__(self, *args, slow: Callable[[str, str], bool], delay: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.slow, self.delay = slow, delay
        self.arrived: list[str] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            self.arrived.append(scope["path"])
            if self.slow(scope["path"], scope["query_string"].decode()):
                await asyncio.sleep(self.delay)
        await super().__call__(scope, receive, send)


def refused(status: int, body: bytes, path_end: str = "/users"):
    return lambda method, path, query: (status, {}, body) if path.endswith(path_end) else None


def test_a_failed_collection_cancels_the_others_unretried(district, serve, caplog):
    """A 403 on users while enrollments is still being answered: enrollments' request was
    cut when the client closed, retried as a dropped connection, and logged as a retry
    caused by nothing ('; try 2 in 0.7 s') after the pull had already failed."""
    caplog.set_level(logging.INFO, logger="rosterflow")
    app = SlowApi(district, slow=lambda path, query: path.endswith("/enrollments"), delay=0.5)
    app.fault = refused(403, b"{}")

    with pytest.raises(StatusError, match=r"/users\?limit=1000&offset=0: HTTP 403 Forbidden$"):
        pull(serve(app), Source(), policy=QUICK)

    assert [r.getMessage() for r in caplog.records if "try" in r.getMessage()] == []
    assert sum(path.endswith("/enrollments") for path in app.arrived) == 1


def test_a_failed_page_cancels_the_pages_asked_with_it(district, serve, caplog):
    """With X-Total-Count the pages are asked for at once: one refused, the others of its
    window are cancelled too, and none is retried once the pull has failed."""
    caplog.set_level(logging.INFO, logger="rosterflow")
    app = SlowApi(
        district,
        slow=lambda path, query: path.endswith("/users") and "offset=10&" not in query + "&",
        delay=0.5,
        link=False,
    )
    app.fault = lambda method, path, query: (
        (403, {}, b"{}") if path.endswith("/users") and query.get("offset") == "10" else None
    )

    with pytest.raises(StatusError, match=r"offset=10: HTTP 403 Forbidden$"):
        pull(serve(app), Source(page_size=10, concurrency=8), policy=QUICK)

    assert [r.getMessage() for r in caplog.records if "try" in r.getMessage()] == []


def test_a_retried_timeout_is_logged_naming_the_request(district, serve, caplog):
    """httpx's ReadTimeout has no text and names no URL: the line was '; try 2 in 0.0 s'."""
    caplog.set_level(logging.INFO, logger="rosterflow")
    first = iter([True])
    app = SlowApi(
        district,
        slow=lambda path, query: path.endswith("/users") and next(first, False),
        delay=0.5,
    )
    url = serve(app)
    policy = replace(QUICK, timeout=0.2)

    pulled = pull(url, Source(), policy=policy)

    assert pulled.frames["users"].height == district["users"].height
    assert [r.getMessage() for r in caplog.records if "try" in r.getMessage()] == [
        f"{url}/users?limit=1000&offset=0: no answer in time (ReadTimeout); try 2 in 0.0 s"
    ]


@pytest.mark.parametrize(
    ("status", "body", "since", "ends"),
    [
        (
            403,
            b'{"imsx_codeMajor":"failure","imsx_description":"scope roster-core.readonly not granted"}',
            None,
            "HTTP 403 Forbidden (the server said: scope roster-core.readonly not granted)",
        ),
        (
            400,
            b'{"imsx_codeMajor":"failure","imsx_description":"Unsupported filter field"}',
            SINCE,
            "HTTP 400 Bad Request (the server said: Unsupported filter field); does the server "
            "take no filter=dateLastModified>…? Then pull in full ([source] delta = false, or no "
            "--since)",
        ),
        # what repeats the status's name, or nothing at all, adds nothing
        (404, b'{"imsx_codeMajor":"failure","imsx_description":"Not found"}', None, "Not Found"),
        (403, b"{}", None, "HTTP 403 Forbidden"),
    ],
)
def test_a_refused_collection_says_what_the_server_said(district, serve, status, body, since, ends):
    """What the server said of a refusal (its imsx_description) was dropped: a 403 for a
    scope not granted, or a delta's filter the server does not take, read 'HTTP 403
    Forbidden' alone."""
    app = RosterApi(district)
    app.fault = refused(status, body)

    with pytest.raises(StatusError) as error:
        pull(serve(app), Source(), since=since, policy=QUICK)

    assert str(error.value).endswith(ends), str(error.value)
    assert error.value.status == status
