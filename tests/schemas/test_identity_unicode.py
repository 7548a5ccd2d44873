"""Logins that look alike but are stored apart: two users whose logins differ only in how an
accent is stored (`é` as one character, or as `e` and a combining accent) sign in as one, so
validation refuses them as it refuses logins that differ only in letter case, and agrees with
`same_login`, the comparison of login changes and adoption, on what one login is."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.identity import login, login_issues, same_login
from rosterflow.schemas.settings import Identity, Settings
from rosterflow.schemas.validate import stored_login_issues
from rosterflow.transforms.logins import relogins
from rosterflow.warehouse.schema import connect
from tests.feeds import frame, tiny_district, with_cell, write_feed
from tests.transforms.test_logins import relogin_rows, user_changes
from tests.transforms.test_logins_case import login_change

COMPOSED = "jos\u00e9"  # é as one character (NFC), as most SIS write it
DECOMPOSED = "jose\u0301"  # e and a combining acute accent (NFD), as a Mac's files may


def users(column: str, *logins: str | None) -> pl.DataFrame:
    """users.csv records u1, u2, ... with these values of `column`, on lines 2, 3, ..."""
    return frame(
        "users", *({"sourcedId": f"u{n}", column: v} for n, v in enumerate(logins, start=1))
    ).with_columns(pl.int_range(2, pl.len() + 2).alias("__line"))


def errors(stated: pl.DataFrame, key: str) -> pl.DataFrame:
    return pl.concat([issues.collect() for issues in login_issues(stated, key)]).sort("line")


@pytest.mark.parametrize(
    ("key", "column", "value"),
    [
        ("username", "username", "{}"),
        ("email", "email", "{}@example.org"),
        ("identifier", "identifier", "{}"),
        ("userId", "userIds", "{{LDAP:{}}}"),
    ],
)
def test_logins_that_differ_only_in_how_an_accent_is_stored_are_shared(key, column, value):
    stated = users(
        column,
        value.format(COMPOSED),
        value.format(DECOMPOSED),
        value.format(DECOMPOSED.upper()),  # and in another letter case too
        value.format("jose"),  # no accent: another login
    )
    found = errors(stated, key)
    assert found.select("line", "field", "value", "rule").rows() == [
        (2, column, value.format(COMPOSED), "identity.login_duplicate"),
        (3, column, value.format(DECOMPOSED), "identity.login_duplicate"),
        (4, column, value.format(DECOMPOSED.upper()), "identity.login_duplicate"),
    ]
    # the values print alike: the rows stored decomposed say why they are one login
    assert found["message"].to_list() == [
        f"[identity] key = {key!r}: another user signs in with this {column} too (u2, u3)",
        f"[identity] key = {key!r}: another user signs in with this {column} too (u1, u3); "
        "its accents are stored as marks after their letters (Unicode NFD), which sign-in "
        "reads as the accented letters",
        f"[identity] key = {key!r}: another user signs in with this {column} too (u1, u2); "
        "its accents are stored as marks after their letters (Unicode NFD), which sign-in "
        "reads as the accented letters",
    ]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("\uff4a\uff4f\uff53\uff45", "jose"),  # fullwidth letters: NFKC would join them, NFC not
        ("stra\u00dfe", "strasse"),  # ß: adoption matches it as ss, sign-in does not
        ("\u0131rmak", "irmak"),  # Turkish dotless ı is another letter
        ("jos\u00e9", "jose"),  # an accent is a letter of its own
    ],
)
def test_logins_sign_in_tells_apart_are_not_shared(first, second):
    assert errors(users("username", first, second), "username").height == 0


@pytest.mark.parametrize(
    ("other", "ascii"),
    [
        ("a\u037e", "a;"),  # the Greek question mark composes to a semicolon
        ("\u212a.lee", "k.lee"),  # the Kelvin sign is K, in lower case k
    ],
)
def test_a_login_that_is_ascii_once_composed_is_shared_with_that_ascii_login(other, ascii):
    """Only the logins not ASCII are composed, but they are compared with every other."""
    assert errors(users("username", ascii, other), "username")["line"].to_list() == [2, 3]


# letters a SIS may send: ASCII in both cases, accents composed and as combining marks, the
# compatibility and case-folding look-alikes, spaces that are trimmed
LETTERS = "aAeEiIsSkK. \u00e9\u00c9\u0301\u0300\u00e8\u212a\u037e;\uff41\u00df\u0131\u0130\u00a0"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=LETTERS, max_size=4), max_size=8))
@example([])  # an empty users.csv
@example([COMPOSED, DECOMPOSED, "Jose\u0301 ", "a\u037e", "a;", "\u00c9", "E\u0301"])
def test_validation_shares_a_login_exactly_when_same_login_makes_it_one(logins):
    """Validation and the sync agree on what one login is: a row is refused as shared exactly
    when `same_login` (login changes, adoption, accounts made by hand) gives another row's."""
    stated = users("username", *logins)
    keys = stated.select(same_login(login("username"))).to_series()
    expected = [
        line
        for line, key in zip(stated["__line"], keys, strict=True)
        if key is not None and keys.to_list().count(key) > 1
    ]
    found = errors(stated, "username").filter(pl.col("rule") == "identity.login_duplicate")
    assert found["line"].to_list() == expected


def test_a_delta_users_login_is_compared_with_the_stored_ones_composed():
    """A delta's users combine with those stored: `josé` sent decomposed for a new user is the
    login a stored user has composed."""
    combined = users("username", COMPOSED, "kim.lee", DECOMPOSED)
    found = stored_login_issues(combined, None, "username").collect()
    assert found.select("value", "rule").rows() == [(COMPOSED, "identity.login_duplicate")]
    assert "(u1, u3)" in found["message"][0]


def test_a_login_stored_the_other_way_is_no_login_change():
    """The login a user had and the one they have now are compared as validation compares
    logins: an accent stored the other way, in another letter case, changes nobody's sign-in."""
    planned = user_changes(
        ("or--u1", 11, DECOMPOSED.upper(), "update", login_change(COMPOSED, DECOMPOSED.upper())),
        ("or--u2", 12, "jose", "update", login_change(COMPOSED, "jose")),
    )
    assert relogins(planned).rows() == relogin_rows(("or--u2", 12, COMPOSED, "jose")).rows()


def user_cell(district, sourced_id: str, column: str, value: str):
    index = district["users"]["sourcedId"].to_list().index(sourced_id)
    return with_cell(district, "users", index, column, value)


def lms_logins(warehouse) -> dict[str, str]:
    with connect(warehouse, read_only=True) as con:
        return dict(con.sql("select external_id, login from lms.users order by all").fetchall())


BY_USERNAME = Settings(identity=Identity(key="username"))


def test_a_feed_with_two_users_of_one_login_stored_apart_writes_nothing(tmp_path):
    district = user_cell(tiny_district(), "u-s1", "username", COMPOSED)
    district = user_cell(district, "u-s2", "username", DECOMPOSED)
    warehouse = tmp_path / "w.duckdb"
    result = run_sync(write_feed(tmp_path / "f.zip", district), warehouse, BY_USERNAME, "north")
    assert result.outcome == "rejected"
    refused = result.issues.filter(pl.col("rule") == "identity.login_duplicate")
    assert refused.select("file", "line", "field", "value").sort("line").rows() == [
        ("users.csv", 4, "username", COMPOSED),
        ("users.csv", 5, "username", DECOMPOSED),
    ]
    assert lms_logins(warehouse) == {}


def test_a_delta_user_taking_a_stored_login_stored_apart_is_refused(tmp_path):
    district = user_cell(tiny_district(), "u-s1", "username", COMPOSED)
    warehouse = tmp_path / "w.duckdb"
    first = run_sync(write_feed(tmp_path / "1.zip", district), warehouse, BY_USERNAME, "north")
    assert first.outcome == "applied"
    # a delta sends u-s2 alone, under u-s1's login with its accent stored decomposed
    delta = dict(district)
    delta["users"] = (
        user_cell(district, "u-s2", "username", DECOMPOSED)["users"]
        .filter(pl.col("sourcedId") == "u-s2")
        .with_columns(status=pl.lit("active"), dateLastModified=pl.lit("2026-12-01T00:00:00.000Z"))
    )
    feed = write_feed(tmp_path / "2.zip", delta, modes={"users": "delta"})
    result = run_sync(feed, warehouse, BY_USERNAME, "north")
    assert result.outcome == "rejected"
    shared = result.issues.filter(pl.col("rule") == "identity.login_duplicate")
    assert shared.select("file", "line", "value").rows() == [("users.csv", 2, DECOMPOSED)]
    assert "(u-s1: stored in the warehouse" in shared["message"][0]
    assert lms_logins(warehouse)["or--u-s2"] == "kim.lee"
