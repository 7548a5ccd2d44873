"""A delta pull (`pull(..., since=...)`): what changed, as delta files, and a manifest the
sync takes, whatever the changes were."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl

from rosterflow.demo.api import RosterApi
from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.settings import Source
from rosterflow.schemas.v12 import as_v12
from rosterflow.sis.pull import pull
from tests.sis.conftest import QUICK

SINCE = datetime(2026, 3, 9, 7, 0, tzinfo=UTC)


def removals_only(users: list[str]):
    """A fault hook: a delta in which users were removed and nothing else changed, each
    removal a record of its sourcedId, status and dateLastModified (no roles), as SISs send."""
    removed = [
        {"sourcedId": user, "status": "tobedeleted", "dateLastModified": "2026-03-09T08:00:00Z"}
        for user in users
    ]

    def answer(method: str, path: str, query: dict[str, str]):
        if "filter" not in query:
            return None
        name = path.rsplit("/", 1)[1]
        records = removed if name == "users" else []
        body = json.dumps({name: records}).encode()
        return 200, {"X-Total-Count": str(len(records))}, body

    return answer


def test_a_12_delta_of_removed_users_marks_roles_as_users_are(district, serve, tmp_path):
    """A 1.2 manifest must mark roles.csv as it marks users.csv: a delta whose users are all
    removals makes no roles rows, and roles.csv was marked absent beside a delta users.csv,
    which validation refuses (manifest.roles_mode): the sync of the pull was rejected."""
    app = RosterApi(as_v12(district), "1.2")
    students = district["users"].filter(pl.col("role") == "student")["sourcedId"].head(2)
    app.fault = removals_only(students.to_list())

    pulled = pull(serve(app), Source(), since=SINCE, policy=QUICK)

    assert pulled.modes == {"users": "delta", "roles": "delta"}
    assert pulled.frames["users"]["status"].to_list() == ["tobedeleted", "tobedeleted"]
    assert pulled.frames["roles"].height == 0
    feed = open_feed(pulled.write(tmp_path / "delta.zip"))
    assert feed.read_issues.filter(pl.col("severity") == "error").height == 0
    assert {n: m for n, m in feed.modes.items() if m != "absent"} == pulled.modes


def test_a_delta_with_nothing_changed_marks_every_file_absent(district, serve):
    """An empty delta collection says nothing changed there: no file, roles.csv included."""
    app = RosterApi(as_v12(district), "1.2")
    app.fault = removals_only([])

    pulled = pull(serve(app), Source(), since=SINCE, policy=QUICK)

    assert pulled.frames == {} and pulled.modes == {}
