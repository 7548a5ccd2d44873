"""Paging against a real local OneRoster server: with and without Link, with and without
X-Total-Count, a capped limit, list keys that vary; and every way pages fail to make one
snapshot refused."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.demo.api import RosterApi
from rosterflow.schemas.settings import Source
from rosterflow.schemas.spec import FILE_SPECS
from rosterflow.sis.errors import InconsistentPull, SisError
from rosterflow.sis.pull import pull
from tests.sis.conftest import QUICK


def same_records(pulled: dict[str, pl.DataFrame], district: dict[str, pl.DataFrame]) -> None:
    """The pulled files hold the district's rows, in its order; status and dateLastModified
    are the API's, which a bulk export leaves empty."""
    assert set(pulled) == set(district)
    for name, frame in district.items():
        served = {"status": "active", "dateLastModified": "2026-01-05T08:00:00.000Z"}
        assert_frame_equal(
            pulled[name], frame.with_columns(pl.lit(v).alias(c) for c, v in served.items())
        )


def users_requests(app: RosterApi) -> list[str]:
    return [r for r in app.requests if r.startswith("GET /ims/oneroster/v1p1/users")]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("link", "total", "max_limit"),
    [
        (True, True, None),
        (True, False, None),
        (False, True, None),
        (False, False, None),
        (False, True, 7),
        (False, False, 7),
        (True, False, 7),
    ],
)
def test_every_record_is_read_however_the_server_pages(district, serve, link, total, max_limit):
    app = RosterApi(district, link=link, total=total, max_limit=max_limit)
    pulled = pull(serve(app), Source(page_size=10), policy=QUICK)
    same_records(pulled.frames, district)
    users, step = district["users"].height, max_limit or 10
    # a link or a total says where to stop; otherwise a short page does (an empty one after
    # a full last page), once the page after it holds no records
    pages = -(-users // step) if link or total else users // step + 2
    assert len(users_requests(app)) == pages


def test_with_a_total_the_pages_are_asked_for_at_once(district, serve):
    app = RosterApi(district, link=False)
    pull(serve(app), Source(page_size=10, concurrency=8), policy=QUICK)
    offsets = [int(r.split("offset=")[1]) for r in users_requests(app)]
    assert sorted(offsets) == list(range(0, district["users"].height, 10))


def test_list_keys_that_vary_are_read(district, serve):
    app = RosterApi(district, list_keys={"orgs": "schools", "users": "students"})
    same_records(pull(serve(app), Source(page_size=50), policy=QUICK).frames, district)


def test_a_total_that_changes_during_the_pull_is_refused(district, serve):
    app = RosterApi(district, link=False)
    more = district | {
        "users": pl.concat(
            [
                district["users"],
                district["users"].head(1).with_columns(pl.lit("new-user").alias("sourcedId")),
            ]
        )
    }

    def roster_changes(method, path, query):
        if path.endswith("/users") and query.get("offset") == "20":
            app.load(more)  # a user added between two pages
        return None

    app.fault = roster_changes
    with pytest.raises(
        InconsistentPull, match=r"X-Total-Count changed from \d+ to \d+ during the pull"
    ):
        pull(serve(app), Source(page_size=10, concurrency=1), policy=QUICK)


def test_a_server_that_ignores_offset_is_refused(district, serve):
    app = RosterApi(district, link=False, total=False)

    def first_page_always(method, path, query):
        if path.endswith("/users") and query.get("offset", "0") != "0":
            return app._page("users", path, query | {"offset": "0"})
        return None

    app.fault = first_page_always
    with pytest.raises(
        InconsistentPull,
        match=r"offset=10: the same page as .*offset=0 \(does the server ignore offset\?\)",
    ):
        pull(serve(app), Source(page_size=10), policy=QUICK)


def test_a_next_link_back_to_a_page_read_is_refused(district, serve):
    app = RosterApi(district, total=False)

    def looping(method, path, query):
        if path.endswith("/users") and query.get("offset") == "10":
            status, headers, body = app._page("users", path, query)
            return status, headers | {"Link": f'<{path}?limit=10&offset=0>; rel="next"'}, body
        return None

    app.fault = looping
    with pytest.raises(InconsistentPull, match="the next link leads back to a page already read"):
        pull(serve(app), Source(page_size=10), policy=QUICK)


def with_next_link(app: RosterApi, link):
    """A fault giving each /users page the next link `link(path, query of the next page)`."""

    def fault(method, path, query):
        if not path.endswith("/users"):
            return None
        status, headers, body = app._page("users", path, query)
        if "Link" in headers:
            following = headers["Link"].split("?", 1)[1].split(">", 1)[0]
            headers |= {"Link": f'<{link(path, following)}>; rel="next"'}
        return status, headers, body

    return fault


@pytest.mark.parametrize(
    "link",
    [
        lambda root, path, query: f"{root}{path}?{query}",  # absolute
        lambda root, path, query: f"users?{query}",  # relative to the page
        lambda root, path, query: f"//{root.split('://')[1]}{path}?{query}",  # scheme-relative
    ],
    ids=["absolute", "relative", "scheme-relative"],
)
def test_a_next_link_to_the_same_origin_is_followed(district, serve, link):
    app = RosterApi(district, total=False)
    base = serve(app)
    root = base.removesuffix(app.base_path)
    app.fault = with_next_link(app, lambda path, query: link(root, path, query))

    same_records(pull(base, Source(page_size=10), policy=QUICK).frames, district)
    assert len(users_requests(app)) == -(-district["users"].height // 10)


@pytest.mark.parametrize(
    "elsewhere",
    [
        lambda root, other: other,  # another port
        lambda root, other: root.replace("http://", "https://"),  # another scheme
        lambda root, other: root.replace("127.0.0.1", "localhost"),  # another host
    ],
    ids=["port", "scheme", "host"],
)
def test_a_next_link_to_another_origin_is_refused_and_never_asked(district, serve, elsewhere):
    """The bearer token goes with every request: a next link to another scheme, host or port
    than the base URL's is not followed, and its records never join the roster."""
    app, other = RosterApi(district, client=("district-7", "s3cret")), RosterApi(district)
    base, other_base = serve(app), serve(other)
    root, other_root = (u.removesuffix(app.base_path) for u in (base, other_base))
    target = elsewhere(root, other_root)
    app.fault = with_next_link(app, lambda path, query: f"{target}{path}?{query}")
    environ = {
        "ROSTERFLOW_TOKEN_URL": root + "/token",
        "ROSTERFLOW_CLIENT_ID": "district-7",
        "ROSTERFLOW_CLIENT_SECRET": "s3cret",
    }

    with pytest.raises(SisError) as refused:
        pull(base, Source(page_size=10), environ=environ, policy=QUICK)

    assert str(refused.value) == (
        f"{base}/users?limit=10&offset=0: the next link leads to another server "
        f"({target}{app.base_path}/users?limit=10&offset=10); it is not followed, as the "
        "credentials would go there too"
    )
    assert other.requests == []
    assert len(users_requests(app)) == 1


@pytest.mark.parametrize("answered", [0, 3])
def test_a_page_answered_short_amid_a_collection_without_links_or_total_is_refused(
    district, serve, answered
):
    """With neither a next link nor a total, a short page is the one sign of the end: one
    answered short or empty in a hiccup, taken for it, had every user after it removed as one
    the SIS dropped. The page after it says which."""
    app = RosterApi(district, link=False, total=False)

    def hiccup(method, path, query):
        if path.endswith("/users") and query["offset"] == "10":
            return app._page("users", path, query | {"limit": str(answered)})
        return None

    app.fault = hiccup
    with pytest.raises(
        InconsistentPull,
        match=rf"offset=10: a page of {answered} records where the others held 10 ended the "
        r"collection, yet the page after it holds records \(.*offset=" + str(10 + (answered or 10)),
    ):
        pull(serve(app), Source(page_size=10), policy=QUICK)
    assert district["users"].height > 20  # (the page after the hiccup's holds users)


def test_a_sourced_id_twice_is_refused(district, serve):
    twice = district | {"users": pl.concat([district["users"], district["users"].head(1)])}
    app = RosterApi(twice)
    first = district["users"]["sourcedId"][0]
    with pytest.raises(InconsistentPull, match=f"sourcedId '{first}' comes twice"):
        pull(serve(app), Source(page_size=10), policy=QUICK)


def test_pages_that_do_not_add_up_to_the_total_are_refused(district, serve):
    app = RosterApi(district, link=False)

    def overstated(method, path, query):
        if path.endswith("/orgs"):
            status, headers, body = app._page("orgs", path, query)
            return status, headers | {"X-Total-Count": "2"}, body
        return None

    app.fault = overstated
    with pytest.raises(InconsistentPull, match=r"X-Total-Count said 2 records, the pages held \d+"):
        pull(serve(app), Source(page_size=10), policy=QUICK)


@pytest.mark.parametrize("max_limit", [None, 7], ids=["full page", "page the server capped"])
def test_a_total_that_counts_the_page_not_the_collection_is_refused(district, serve, max_limit):
    """A server whose X-Total-Count says how many records the page holds: a full first page
    and its count were read as the whole collection, and every user past it as one the SIS
    had dropped. A server capping `limit` below the page asked for gives a short first page,
    which is no sign that it was the whole collection either (most cap below the default)."""
    app = RosterApi(district, link=False, max_limit=max_limit)
    page = max_limit or 10

    def per_page(method, path, query):
        if path.endswith("/users"):
            status, headers, body = app._page("users", path, query)
            count = min(page, max(0, district["users"].height - int(query["offset"])))
            return status, headers | {"X-Total-Count": str(count)}, body
        return None

    app.fault = per_page
    said = rf"offset={page}: X-Total-Count said {page} records, all on the first page"
    with pytest.raises(InconsistentPull, match=said):
        pull(serve(app), Source(page_size=10), policy=QUICK)


def test_a_collection_shorter_than_a_page_is_read_with_one_more_request(district, serve):
    """A total equal to a first page shorter than asked: the next page (empty) says it was the
    whole collection, not a page the server capped."""
    users = district["users"].head(4)
    app = RosterApi(district | {"users": users}, link=False)
    pulled = pull(serve(app), Source(page_size=10), policy=QUICK)
    assert pulled.frames["users"]["sourcedId"].to_list() == users["sourcedId"].to_list()
    assert [int(r.split("offset=")[1]) for r in users_requests(app)] == [0, 4]


def test_a_collection_of_one_full_page_is_read_with_one_more_request(district, serve):
    """A total equal to a full page: the next page (empty) says it was the whole collection."""
    users = district["users"].head(10)
    app = RosterApi(district | {"users": users}, link=False)
    pulled = pull(serve(app), Source(page_size=10), policy=QUICK)
    assert pulled.frames["users"]["sourcedId"].to_list() == users["sourcedId"].to_list()
    assert [int(r.split("offset=")[1]) for r in users_requests(app)] == [0, 10]


def test_demographics_are_pulled_when_offered_and_absent_when_not(district, serve):
    users = district["users"]["sourcedId"].head(3)
    demographics = pl.DataFrame(
        {"sourcedId": users, "birthDate": ["2010-01-02"] * 3, "white": ["true", "false", None]}
    )
    demographics = demographics.select(
        pl.col(c) if c in demographics.columns else pl.lit(None, pl.String).alias(c)
        for c in FILE_SPECS["demographics"].header
    )
    offered = pull(serve(RosterApi(district | {"demographics": demographics})), policy=QUICK)
    assert offered.frames["demographics"]["white"].to_list() == ["true", "false", None]
    lacking = pull(serve(RosterApi(district)), policy=QUICK)
    assert "demographics" not in lacking.frames and lacking.not_offered == ("demographics",)


def test_a_missing_core_collection_is_an_error_naming_it(district, serve):
    app = RosterApi({k: v for k, v in district.items() if k != "courses"})
    with pytest.raises(SisError, match=r"/courses\?limit=1000&offset=0: HTTP 404 Not Found$"):
        pull(serve(app), policy=QUICK)


def test_with_a_total_the_binding_s_next_offsets_are_asked_for_at_once(
    district, serve, monkeypatch
):
    """A server that sends both a total and next links of the binding's own offsets (most
    SIS APIs): its pages are asked for at once, not one after another down the links, which
    with a SIS's latency read a district's enrollments in minutes (found by QA at 20,000
    students)."""
    from rosterflow.sis import pages

    followed: list[str] = []
    follow = pages._follow_links

    async def recorded(client, first, collection, schema):
        followed.append(first.url)
        return await follow(client, first, collection, schema)

    monkeypatch.setattr(pages, "_follow_links", recorded)
    app = RosterApi(district, link=True, total=True)
    same_records(
        pull(serve(app), Source(page_size=10, concurrency=8), policy=QUICK).frames, district
    )
    assert followed == []
    offsets = [int(r.split("offset=")[1]) for r in users_requests(app)]
    assert sorted(offsets) == list(range(0, district["users"].height, 10))

    capped = RosterApi(district, link=True, total=True, max_limit=7)  # (its links say limit=7)
    same_records(pull(serve(capped), Source(page_size=10), policy=QUICK).frames, district)
    assert followed == []


def _first_page(next_url: str | None, total: int | None = 95, records: int = 10):
    from rosterflow.sis.pages import Page

    url = "https://sis.example/ims/oneroster/v1p1/users?filter=x&limit=10&offset=0"
    frame = pl.DataFrame({"sourcedId": [f"u{n}" for n in range(records)]})
    return Page(url, frame, total, next_url)


@pytest.mark.parametrize(
    ("next_url", "total", "offsets"),
    [
        ("https://sis.example/ims/oneroster/v1p1/users?filter=x&limit=10&offset=10", 95, True),
        ("https://sis.example/ims/oneroster/v1p1/users?offset=10&filter=x&limit=10", 95, True),
        ("https://sis.example/ims/oneroster/v1p1/users?filter=x&limit=10&offset=10", None, False),
        ("https://sis.example/ims/oneroster/v1p1/users?filter=x&limit=10&cursor=ab12", 95, False),
        ("https://sis.example/ims/oneroster/v1p1/users?limit=10&offset=10", 95, False),
        ("https://sis.example/ims/oneroster/v1p1/users?filter=x&limit=10&offset=20", 95, False),
        ("https://sis.example/ims/oneroster/v1p1/others?filter=x&limit=10&offset=10", 95, False),
    ],
)
def test_only_a_next_link_of_the_next_offset_with_a_total_is_paged_by_offset(
    next_url, total, offsets
):
    from rosterflow.sis.pages import _offset_link

    assert _offset_link(_first_page(next_url, total)) is offsets


def test_a_page_reached_by_its_next_link_is_named_whole_when_it_fails(district, serve):
    """The message names the page that failed, its query too, as one asked for by offset is
    named (a followed link's query was dropped: `…/v1p1/users: HTTP 500 …`)."""
    app = RosterApi(district, link=True, total=False)

    def failing(method, path, query):
        if path.endswith("/users") and query.get("offset") == "20":
            return 500, {}, b"{}"
        return None

    app.fault = failing
    with pytest.raises(SisError) as failed:
        pull(serve(app), Source(page_size=10), policy=QUICK)
    assert "/ims/oneroster/v1p1/users?limit=10&offset=20: HTTP 500" in str(failed.value)
