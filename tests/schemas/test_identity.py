"""The login a user signs in with, under each `[identity] key`, and the checks on it."""

from __future__ import annotations

import polars as pl
import pytest

from rosterflow.schemas.identity import IDENTITY_KEYS, login, login_issues
from rosterflow.schemas.settings import SettingsError, parse_settings
from rosterflow.schemas.validate import stored_login_issues

USERS = pl.DataFrame(
    {
        "sourcedId": ["u1", "u2", "u3"],
        "username": ["ada", " bo ", None],
        "userIds": ["{LDAP:12},{LTI:15}", "{ SAML : x-9 }", ""],
        "identifier": ["S001", "S002", "S003"],
        "email": ["Ada@Example.org", "bo@example.org", "  "],
        "__line": [2, 3, 4],
    }
)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("sourcedId", ["u1", "u2", "u3"]),
        ("username", ["ada", "bo", None]),  # trimmed; empty is none
        ("userId", ["12", "x-9", None]),  # the identifier of the first {type:identifier}
        ("identifier", ["S001", "S002", "S003"]),
        ("email", ["Ada@Example.org", "bo@example.org", None]),  # kept as sent
    ],
)
def test_the_login_is_the_field_the_key_names(key, expected):
    assert USERS.select(login(key)).to_series().to_list() == expected


def issues(users: pl.DataFrame, key: str) -> list[tuple]:
    found = pl.concat([i.collect() for i in login_issues(users, key)])
    return sorted(found.select("line", "field", "value", "rule").rows())


def test_an_empty_login_is_an_error_on_its_row_naming_the_field():
    assert issues(USERS, "email") == [(4, "email", "  ", "identity.login_missing")]
    assert issues(USERS, "username") == [(4, "username", None, "identity.login_missing")]
    assert issues(USERS, "sourcedId") == []  # required and unique already


def test_a_login_shared_in_any_letter_case_is_an_error_on_each_row():
    users = USERS.with_columns(
        pl.Series("email", ["ada@example.org", "ADA@example.org ", "c@example.org"])
    )
    assert issues(users, "email") == [
        (2, "email", "ada@example.org", "identity.login_duplicate"),
        (3, "email", "ADA@example.org ", "identity.login_duplicate"),
    ]


def test_sourced_ids_that_are_one_login_once_trimmed_are_an_error_on_each_row():
    """Under the default key the login is the sourcedId trimmed: `u1` and `u1 ` were two
    accounts signing in as `u1`, with an `id.spaces` warning alone."""
    users = USERS.with_columns(pl.Series("sourcedId", ["u1", "u1 ", "\tu3"]))

    assert issues(users, "sourcedId") == [
        (2, "sourcedId", "u1", "identity.login_duplicate"),
        (3, "sourcedId", "u1 ", "identity.login_duplicate"),
    ]
    assert issues(USERS.with_columns(pl.Series("sourcedId", ["u1", "U1", "u3"])), "sourcedId") == []


def test_stored_users_sharing_a_login_or_without_one_are_errors_on_no_line():
    """Records combined from several feeds (a users.csv delta over the stored users) are
    checked as the sync's validation checks them."""
    users = USERS.with_columns(pl.Series("identifier", ["S1", "s1", None]))
    found = stored_login_issues(users, None, "identifier").collect()
    assert found.select("line", "value", "rule").rows() == [
        (None, "S1", "identity.login_duplicate"),
        (None, None, "identity.login_missing"),
    ]
    assert "(u1, u2)" in found["message"][0] and "(u3)" in found["message"][1]
    assert stored_login_issues(users, None, "sourcedId").collect().height == 0


def test_the_key_and_the_login_guard_are_settings():
    settings = parse_settings({"identity": {"key": "email"}, "safety": {"login_changes": "warn"}})
    assert (settings.identity.key, settings.safety.login_changes) == ("email", "warn")
    assert parse_settings({}).identity.key == "sourcedId"
    assert parse_settings({}).safety.login_changes == "hold"
    with pytest.raises(SettingsError, match=r"\[identity\] key = 'mail'; choose one of"):
        parse_settings({"identity": {"key": "mail"}})
    with pytest.raises(SettingsError, match=r"login_changes = 'ask'"):
        parse_settings({"safety": {"login_changes": "ask"}})
    # the key shapes the result (a new key is planned in full); the guard does not
    assert parse_settings({"identity": {"key": "email"}}).key() != parse_settings({}).key()
    assert set(IDENTITY_KEYS) == {"sourcedId", "username", "userId", "identifier", "email"}
