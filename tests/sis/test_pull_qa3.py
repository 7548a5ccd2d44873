"""A page without records before the end of a collection paged by next links, against a real
local OneRoster server: it was read as the end, so the pull held the records before it alone,
and the sync took every record after it for one the SIS had dropped. It refuses the pull now,
naming the page, and the district's warehouse stays as it was; a server that sends a next
link past its last page (to empty pages, on and on, or back to the first) is still read to
its end."""

from __future__ import annotations

import json

import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from rosterflow.demo.api import RosterApi
from rosterflow.flows.cli import app
from rosterflow.schemas.settings import Source
from rosterflow.sis.errors import InconsistentPull
from rosterflow.sis.pull import pull
from tests.flows.test_pull_sync import lms_tables, runs
from tests.sis.conftest import QUICK

runner = CliRunner()


def emptied(api: RosterApi, name: str, offset: int):
    """A fault answering the page of collection `name` at `offset` with no records, its
    headers (the next link) as served; every other request as served."""

    def fault(method, path, query):
        if not path.endswith(f"/{name}") or query.get("offset") != str(offset):
            return None
        status, headers, _ = api._page(name, path, query)
        return status, headers, json.dumps({name: []}).encode()

    return fault


def test_an_empty_page_before_the_end_refuses_the_pull_naming_it(district, serve):
    """The pull held the users before the empty page alone."""
    api = RosterApi(district, total=False)
    api.fault = emptied(api, "users", 20)
    base = serve(api)

    with pytest.raises(InconsistentPull) as refused:
        pull(base, Source(page_size=10), policy=QUICK)

    assert str(refused.value) == (
        f"{base}/users?limit=10&offset=20: a page without records, yet the page its next link "
        f"leads to holds some ({base}/users?limit=10&offset=30): records may be missing from "
        "it (the server answered it empty in a hiccup, or the roster changed while it was "
        "read); pull again"
    )


def test_an_empty_first_page_followed_by_records_refuses_the_pull(district, serve):
    api = RosterApi(district, total=False)
    api.fault = emptied(api, "classes", 0)

    with pytest.raises(InconsistentPull, match=r"classes\?limit=10&offset=0: a page without"):
        pull(serve(api), Source(page_size=10), policy=QUICK)


# where a server's next link leads from an empty page: on to the next offset, back to the
# first page (as its own link wrote it), or back to it written otherwise
PAST_THE_END = {
    "on": "users?limit={limit}&offset={following}",
    "back": "users?limit={limit}&offset=0",
    "back, written otherwise": "users?offset=0&limit={limit}",
}


def always_next(api: RosterApi, past_the_end: str):
    """A fault giving every page of users a next link, the last one's and every empty one's
    included; an empty page's as `PAST_THE_END[past_the_end]` says."""

    def fault(method, path, query):
        if not path.endswith("/users"):
            return None
        status, headers, body = api._page("users", path, query)
        offset, limit = int(query["offset"]), int(query["limit"])
        link = "users?limit={limit}&offset={following}"
        if not json.loads(body)["users"]:
            link = PAST_THE_END[past_the_end]
        target = link.format(limit=limit, following=offset + limit)
        return status, headers | {"Link": f'<{target}>; rel="next"'}, body

    return fault


# the requests after the last page of records: two empty pages; one, whose link leads to a
# page read; one, and the first page again
@pytest.mark.parametrize(
    ("past_the_end", "after_the_last"),
    [("on", 2), ("back", 1), ("back, written otherwise", 2)],
)
def test_a_next_link_past_the_last_page_still_ends_the_collection(
    district, serve, past_the_end, after_the_last
):
    """Read no further than the second empty page, or the first page again."""
    api = RosterApi(district, total=False)
    api.fault = always_next(api, past_the_end)

    pulled = pull(serve(api), Source(page_size=10), policy=QUICK)

    assert pulled.frames["users"]["sourcedId"].to_list() == district["users"]["sourcedId"].to_list()
    asked = [r for r in api.requests if r.split("?")[0].endswith("/users")]
    pages = -(-district["users"].height // 10)
    assert len(asked) == pages + after_the_last


def test_a_sync_whose_pull_meets_an_empty_page_changes_nothing(tmp_path, district, serve):
    """The second sync removed the enrollments after the empty page (a run held for their
    share here; applied where they were fewer than the guard's threshold)."""
    api = RosterApi(district, total=False)
    base = serve(api)
    warehouse = tmp_path / "rosterflow.duckdb"
    config = tmp_path / "district.toml"
    config.write_text("[source]\npage_size = 10\n")
    command = ["sync", base, "--tenant", "north", "--warehouse", str(warehouse)]
    command += ["--config", str(config), "--no-prefect"]
    assert runner.invoke(app, command).exit_code == 0
    before = lms_tables(warehouse)

    api.fault = emptied(api, "enrollments", 30)
    result = runner.invoke(app, command)

    assert result.exit_code == 2, result.output
    assert "enrollments?limit=10&offset=30: a page without records" in " ".join(
        result.output.split()
    )
    assert runs(warehouse) == [(base, "applied")]
    after = lms_tables(warehouse)
    assert after.keys() == before.keys()
    for name, frame in before.items():
        assert_frame_equal(after[name], frame)
