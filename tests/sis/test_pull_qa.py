"""What a refused pull names, against a real local OneRoster server: the page (its offset),
and the record at fault by its place in the page and its sourcedId, so that the district's
team finds it in its SIS; a dateLastModified whose zone is of hours alone (`+00`, as
PostgreSQL writes one), which ISO 8601 allows, read as any other; and a delta's collection
where nothing changed answered as 1EdTech has it, 200 with no content."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl
import pytest

from rosterflow.demo.api import RosterApi
from rosterflow.schemas.settings import Source
from rosterflow.schemas.v12 import as_v12
from rosterflow.sis.errors import InconsistentPull, SisError
from rosterflow.sis.pull import pull
from tests.sis.conftest import QUICK


def edited_page(app: RosterApi, name: str, offset: int, edit):
    """A fault answering the page of collection `name` at `offset` with its records as the
    app serves them, `edit(records)` changing them first; every other request as served."""

    def fault(method, path, query):
        if not path.endswith(f"/{name}") or query.get("offset") != str(offset):
            return None
        status, headers, body = app._page(name, path, query)
        records = json.loads(body)[name]
        edit(records)
        return status, headers, json.dumps({name: records}).encode()

    return fault


def refusal(base: str) -> str:
    """The line of the pull of `base` that the server makes fail."""
    with pytest.raises(SisError) as refused:
        pull(base, Source(page_size=10), policy=QUICK)
    return str(refused.value)


def test_a_field_of_another_shape_names_the_record_at_fault(district, serve):
    """The line named the page and the field, never which of its records: 'a record's course
    holds "crs-3"', a thousand records to look through in the SIS."""
    app = RosterApi(district)
    at_fault = district["classes"]["sourcedId"][13]
    course = district["classes"]["courseSourcedId"][13]

    def bare_course(records):
        records[3]["course"] = records[3]["course"]["sourcedId"]

    app.fault = edited_page(app, "classes", 10, bare_course)
    base = serve(app)

    assert refusal(base) == (
        f'{base}/classes?limit=10&offset=10: a record\'s course holds "{course}", where the '
        'OneRoster JSON binding has {"sourcedId": …} '
        f"(record 4 of the page, sourcedId '{at_fault}')"
    )


def test_a_field_inside_a_12_users_roles_names_the_user(district, serve):
    frames = as_v12(district)
    app = RosterApi(frames, "1.2")
    users = frames["users"]["sourcedId"]

    def org_as_text(records):
        role = records[7]["roles"][0]
        role["org"] = role["org"]["sourcedId"]

    app.fault = edited_page(app, "users", 20, org_as_text)
    message = refusal(serve(app))

    assert "/users?limit=10&offset=20: a record's roles[].org holds " in message
    assert message.endswith(f"(record 8 of the page, sourcedId '{users[27]}')")


def test_a_record_without_a_sourced_id_is_named_by_its_place(district, serve):
    app = RosterApi(district)

    def unnamed(records):
        del records[5]["sourcedId"]

    app.fault = edited_page(app, "enrollments", 30, unnamed)
    base = serve(app)

    assert refusal(base) == (
        f"{base}/enrollments?limit=10&offset=30: a record without a sourcedId (record 6 of the "
        "page)"
    )


def test_a_sourced_id_twice_names_the_pages_it_came_in(district, serve):
    """A server counting offsets from 1 repeats the last record of each page at the top of the
    next; the line named the collection alone."""
    app = RosterApi(district, link=False)

    def from_one(method, path, query):
        offset = int(query.get("offset", "0"))
        if not path.endswith("/users") or offset == 0:
            return None
        return app._page("users", path, query | {"offset": str(offset - 1)})

    app.fault = from_one
    base = serve(app)
    with pytest.raises(InconsistentPull) as refused:
        pull(base, Source(page_size=10, concurrency=1), policy=QUICK)

    repeated = district["users"]["sourcedId"][9]
    assert str(refused.value).startswith(
        f"{base}/users: sourcedId '{repeated}' comes twice, in the pages "
        f"{base}/users?limit=10&offset=0 and {base}/users?limit=10&offset=10 (the roster "
        "changed while it was read"
    )


@pytest.mark.parametrize(
    ("sent", "written"),
    [
        ("2026-01-05 08:00:00.123+00", "2026-01-05T08:00:00.123Z"),
        ("2026-01-05T09:30:00+01", "2026-01-05T08:30:00.000Z"),
        ("2026-01-05T03:00-05", "2026-01-05T08:00:00.000Z"),
        ("2026-01-05T08:00:00,5+00", "2026-01-05T08:00:00.500Z"),
    ],
)
def test_a_date_last_modified_whose_zone_is_hours_alone_is_read(district, serve, sent, written):
    """`+00` was kept as sent, which validation refuses: a SIS on PostgreSQL made every record
    an error, and every sync of the district was rejected."""
    orgs = district["orgs"].with_columns(pl.lit(sent).alias("dateLastModified"))
    app = RosterApi(district | {"orgs": orgs})
    pulled = pull(serve(app), Source(page_size=50), policy=QUICK)
    assert set(pulled.frames["orgs"]["dateLastModified"]) == {written}


@pytest.mark.parametrize("status", [200, 204])
def test_a_filter_no_record_matches_answered_with_no_content_is_no_records(district, serve, status):
    """1EdTech has a collection read whose filter no record matches answered 200 with no
    content: every delta over a collection where nothing changed (orgs, most nights) was
    refused as 'answered an empty body, not a OneRoster JSON object', and the sync with it."""
    changed = district["users"]["sourcedId"][4]
    users = district["users"].with_columns(
        pl.when(pl.col("sourcedId") == changed)
        .then(pl.lit("2026-03-01T08:00:00.000Z"))
        .otherwise(pl.col("dateLastModified"))
        .alias("dateLastModified")
    )
    app = RosterApi(district | {"users": users})

    def no_content_where_none_matches(method, path, query):
        name = path.rsplit("/", 1)[-1]
        if "filter" not in query or name not in app.collections:
            return None
        body = app._page(name, path, query)[2]
        return (status, {}, b"") if json.loads(body) == {name: []} else None

    app.fault = no_content_where_none_matches
    since = datetime(2026, 2, 1, tzinfo=UTC)
    pulled = pull(serve(app), Source(page_size=10), since=since, policy=QUICK)

    assert pulled.modes == {"users": "delta"}
    assert pulled.frames["users"]["sourcedId"].to_list() == [changed]


def test_an_empty_body_without_a_filter_is_still_refused(district, serve):
    """An unfiltered collection answered with no content is no roster: read as no records, a
    maintenance page's empty 200 would remove every class."""
    app = RosterApi(district)
    app.fault = lambda method, path, query: (200, {}, b"") if path.endswith("/classes") else None
    base = serve(app)
    assert refusal(base) == (
        f"{base}/classes?limit=10&offset=0: HTTP 200 OK (application/json) answered an empty "
        "body, not a OneRoster JSON object"
    )
