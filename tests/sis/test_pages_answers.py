"""Pages as real SIS answer them, against a local OneRoster server: Link headers as RFC 8288
allows them (several rels, any case, quoted commas), a server paging by a cursor alone, an
X-Total-Count far from the records, bodies that are no JSON or not UTF-8, and
dateLastModified in the ISO 8601 forms SIS send."""

from __future__ import annotations

import json

import polars as pl
import pytest

from rosterflow.demo.api import RosterApi
from rosterflow.schemas.settings import Source
from rosterflow.sis import pages
from rosterflow.sis.errors import InconsistentPull, SisError
from rosterflow.sis.pull import pull
from tests.sis.conftest import QUICK

BASE = "/ims/oneroster/v1p1"


def body(app: RosterApi, name: str, start: int = 0, stop: int | None = None) -> bytes:
    lines = app.collections[name].lines[start:stop]
    return b'{"' + name.encode() + b'":[' + b",".join(lines) + b"]}"


def first_page(path_end: str, status: int, headers: dict, answer: bytes):
    """A fault answering the first page of a collection with `answer`, and the pages after it
    (asked for when the first is shorter than the limit) with no records."""

    def fault(method, path, query):
        if not path.endswith(path_end):
            return None
        if query.get("offset", "0") != "0":
            return 200, {}, b'{"' + path_end.strip("/").encode() + b'":[]}'
        return status, headers, answer

    return fault


class OwnContentType:
    """`app` with the Content-Type a fault gives in place of the app's own (RosterApi sends
    application/json first, whatever the fault adds)."""

    def __init__(self, app: RosterApi) -> None:
        self.app, self.base_path = app, app.base_path

    async def __call__(self, scope, receive, send) -> None:
        async def sending(message):
            if message["type"] == "http.response.start":
                headers = message["headers"]
                types = [h for h in headers if h[0].lower() == b"content-type"]
                kept = [h for h in headers if h[0].lower() != b"content-type"]
                message = message | {"headers": [*kept, types[-1]]}
            await send(message)

        await self.app(scope, receive, sending)


@pytest.mark.parametrize(
    ("header", "target"),
    [
        (
            '<a?offset=0>;rel=first ,  <b?offset=10> ;  REL = "prev next" ,  <c>; rel="last"',
            "b?offset=10",
        ),
        ('<b?offset=10>; title="pages, 2; of 9"; rel="NEXT"', "b?offset=10"),
        ("<b?offset=10>; rel='next'", "b?offset=10"),
        ("<b?x=1,2&offset=10>; rel=next", "b?x=1,2&offset=10"),
        ('<a>; rel="nextpage"', None),
        ("not a link", None),
    ],
)
def test_the_next_link_is_found_as_rfc_8288_writes_it(header, target):
    assert pages.next_link_of([header]) == target


def test_a_next_link_in_a_second_link_header_is_found():
    assert pages.next_link_of(['<a>; rel="first"', '<b>; rel="next"']) == "b"


def test_a_server_paging_by_a_cursor_behind_odd_links_is_read_whole(district, serve):
    """Offset means nothing to it: only the next link (uppercase, among other rels, with
    spaces) moves on, and a collection of one page has links but no next. httpx's own link
    parsing missed such a next, and the pull asked by offset for the first page again."""
    app = RosterApi(district)

    def cursor(method, path, query):
        name = path.removeprefix(BASE).strip("/")
        if name not in app.collections:
            return None
        at, size = int(query.get("cursor", 0)), 10
        links = [f"<{path}?cursor=0>;rel=first"]
        if at + size < len(app.collections[name].lines):
            links.append(f'<{name}?cursor={at + size}> ;  REL = "prev NEXT"')
        return 200, {"Link": " ,  ".join(links)}, body(app, name, at, at + size)

    app.fault = cursor
    pulled = pull(serve(app), Source(page_size=10), policy=QUICK)
    for name, frame in district.items():
        assert pulled.frames[name]["sourcedId"].to_list() == frame["sourcedId"].to_list()


def test_an_x_total_count_far_above_the_records_is_read_a_window_at_a_time(district, serve):
    """A total of 20,000 for 4 pages of users: every page up to it was asked for at once (and
    a total of billions took all the memory there was)."""
    app = RosterApi(district, link=False)
    count = len(app.collections["users"].lines)

    def inflated(method, path, query):
        if not path.endswith("/users"):
            return None
        offset, limit = int(query["offset"]), int(query["limit"])
        return 200, {"X-Total-Count": "20000"}, body(app, "users", offset, offset + limit)

    app.fault = inflated
    with pytest.raises(
        InconsistentPull, match=f"X-Total-Count said 20,000 records, the pages held {count}"
    ):
        pull(serve(app), Source(page_size=10), policy=QUICK)
    assert len([r for r in app.requests if "/users" in r]) <= 1 + pages.TOTAL_WINDOW


@pytest.mark.parametrize("total", ["²", "12.0", "many", "-3"])
def test_an_x_total_count_that_is_no_count_is_one_line(district, serve, total):
    """'²' passed str.isdigit(), and int() raised a ValueError: a traceback."""
    app = RosterApi(district)
    app.fault = lambda method, path, query: (
        (200, {"X-Total-Count": total}, body(app, "users")) if path.endswith("/users") else None
    )
    with pytest.raises(
        SisError, match=r"/users\?limit=10&offset=0: X-Total-Count .* is not a count"
    ):
        pull(serve(app), Source(page_size=10), policy=QUICK)


@pytest.mark.parametrize(
    ("content_type", "answer", "said"),
    [
        (
            "text/html",
            b"<html><h1>Down for maintenance</h1></html>",
            "(text/html) answered an HTML page",
        ),
        ("application/json", b"", "(application/json) answered an empty body"),
        ("application/json", b"[1, 2]", "(application/json) answered a body starting with '['"),
    ],
)
def test_a_200_that_is_no_json_object_says_so_with_its_status(
    district, serve, content_type, answer, said
):
    app = RosterApi(district)
    app.fault = first_page("/classes", 200, {"Content-Type": content_type}, answer)
    base = serve(OwnContentType(app))
    with pytest.raises(SisError) as raised:
        pull(base, Source(page_size=10), policy=QUICK)
    assert str(raised.value) == (
        f"{base}/classes?limit=10&offset=0: HTTP 200 OK {said}, not a OneRoster JSON object"
    )


def renamed_first_user(app: RosterApi) -> dict:
    page = json.loads(body(app, "users"))
    page["users"][0]["givenName"] = "José"
    return page


@pytest.mark.parametrize(
    ("content_type", "encode"),
    [
        ("application/json; charset=ISO-8859-1", lambda text: text.encode("latin-1")),
        ("application/json; charset=windows-1252", lambda text: text.encode("cp1252")),
        ("application/json", lambda text: text.encode("utf-16")),  # with its byte-order mark
        ("application/json", lambda text: b"\xef\xbb\xbf" + text.encode()),
    ],
)
def test_json_in_the_charset_its_answer_names_is_read(district, serve, content_type, encode):
    app = RosterApi(district)
    text = json.dumps(renamed_first_user(app), ensure_ascii=False)
    app.fault = first_page("/users", 200, {"Content-Type": content_type}, encode(text))
    pulled = pull(serve(OwnContentType(app)), Source(page_size=1000), policy=QUICK)
    assert pulled.frames["users"]["givenName"][0] == "José"
    assert pulled.frames["users"].height == district["users"].height


def test_json_not_in_utf_8_naming_no_charset_says_so(district, serve):
    app = RosterApi(district)
    text = json.dumps(renamed_first_user(app), ensure_ascii=False)
    app.fault = first_page("/users", 200, {}, text.encode("latin-1"))
    with pytest.raises(
        SisError,
        match=r"the JSON body is not UTF-8 \(byte 0xe9 at [\d,]+\) and its Content-Type names no charset$",
    ):
        pull(serve(app), Source(page_size=1000), policy=QUICK)


def test_date_last_modified_in_other_iso_forms_is_written_in_utc_to_the_millisecond(
    district, serve
):
    sent = [
        "2026-01-05T08:00:00",  # no zone: UTC
        "2026-01-05T08:00:00+00:00",
        "2026-01-05T08:00:00.1234567Z",  # seven digits, as .NET writes them
        "2026-01-05T09:00:00.5-01:00",
        "2026-01-05",  # a date alone: its midnight
        "last tuesday",  # kept, for validation to name
    ]
    app = RosterApi(district)
    page = json.loads(body(app, "users"))
    for user, moment in zip(page["users"], sent, strict=False):
        user["dateLastModified"] = moment
    app.fault = first_page("/users", 200, {}, json.dumps(page).encode())
    pulled = pull(serve(app), Source(page_size=1000), policy=QUICK)
    assert pulled.frames["users"]["dateLastModified"].head(len(sent)).to_list() == [
        "2026-01-05T08:00:00.000Z",
        "2026-01-05T08:00:00.000Z",
        "2026-01-05T08:00:00.123Z",
        "2026-01-05T10:00:00.500Z",
        "2026-01-05T00:00:00.000Z",
        "last tuesday",
    ]
    assert pulled.frames["users"].schema["dateLastModified"] == pl.String
