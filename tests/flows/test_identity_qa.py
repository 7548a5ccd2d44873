"""A login that is empty or shared under `[identity] key`, as a district's data team reads the
error: a value that is there yet gives no login, and values that differ yet give one login,
say why, on the user's line of users.csv."""

from __future__ import annotations

import polars as pl
import pytest

from tests.feeds import tiny_district, with_cell
from tests.syncing import Warehouse

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

FIRST_ITEM = "the identifier of the first {type:identifier} item of userIds"


def with_users(column: str, *values: str | None) -> dict[str, pl.DataFrame]:
    """tiny_district with the first users' `column` set to `values`, the others' to values of
    their own (userIds `{LDAP:9n}`)."""
    district = tiny_district()
    count = district["users"].height
    for row in range(count):
        own = values[row] if row < len(values) else f"{{LDAP:9{row}}}"
        district = with_cell(district, "users", row, column, own)
    return district


def errors(tmp_path, district, key: str) -> list[tuple]:
    """The errors of syncing `district` under `key`: (line, field, value, rule, message)."""
    result = Warehouse(tmp_path).sync(district, settings={"identity": {"key": key}})
    assert result.outcome == "rejected"
    found = result.issues.filter(pl.col("severity") == "error")
    return sorted(found.select("line", "field", "value", "rule", "message").rows())


@pytest.mark.parametrize("user_ids", ["{LDAP:}", "{LDAP: },{LTI:15}"])
def test_userids_whose_first_item_has_no_identifier_says_that_is_the_login(tmp_path, user_ids):
    """`{LDAP:}` is a userIds; "this user has no userIds" contradicted the value beside it."""
    found = errors(tmp_path, with_users("userIds", user_ids), "userId")
    assert found == [
        (
            2,
            "userIds",
            user_ids,
            "identity.login_missing",
            f"[identity] key = 'userId': a user signs in with {FIRST_ITEM}, and this user's "
            "gives none",
        )
    ]


def test_an_empty_userids_says_the_user_has_none(tmp_path):
    found = errors(tmp_path, with_users("userIds", None), "userId")
    assert [(line, message) for line, _, _, _, message in found] == [
        (2, "[identity] key = 'userId': this user has no userIds to sign in with")
    ]


def test_userids_that_differ_yet_give_one_login_name_that_login(tmp_path):
    """`{LDAP:12},{LTI:15}` and `{SIS:12}` share nothing a reader sees: the message names the
    login they share and where it comes from."""
    found = errors(tmp_path, with_users("userIds", "{LDAP:12},{LTI:15}", "{SIS:12}"), "userId")
    hint = f"; a user signs in with {FIRST_ITEM}, here 12"
    assert found == [
        (
            2,
            "userIds",
            "{LDAP:12},{LTI:15}",
            "identity.login_duplicate",
            f"[identity] key = 'userId': another user signs in with this userIds too (u-t2){hint}",
        ),
        (
            3,
            "userIds",
            "{SIS:12}",
            "identity.login_duplicate",
            f"[identity] key = 'userId': another user signs in with this userIds too (u-t1){hint}",
        ),
    ]


def test_userids_alike_but_for_letter_case_need_no_hint(tmp_path):
    found = errors(tmp_path, with_users("userIds", "{LDAP:ab}", "{ldap:AB}"), "userId")
    assert [message for *_, message in found] == [
        "[identity] key = 'userId': another user signs in with this userIds too (u-t2)",
        "[identity] key = 'userId': another user signs in with this userIds too (u-t1)",
    ]


@pytest.mark.parametrize(("key", "column"), [("email", "email"), ("username", "username")])
def test_a_value_of_invisible_characters_alone_says_so(tmp_path, key, column):
    """A zero-width space prints as nothing beside "this user has no email": the message says
    the value holds only such characters, which sign-in leaves out."""
    district = with_cell(tiny_district(), "users", 0, column, "\u200b\u00ad")
    missing = [row for row in errors(tmp_path, district, key) if row[3] == "identity.login_missing"]
    assert missing == [
        (
            2,
            column,
            "\u200b\u00ad",
            "identity.login_missing",
            f"[identity] key = {key!r}: this user's {column} holds only characters a screen "
            "does not show, which sign-in leaves out: nothing is left to sign in with",
        )
    ]


def test_a_disabled_user_whose_username_the_sis_renames_holds_no_run(tmp_path):
    """A disabled account signs in with nothing: the SIS renaming its username to free it for a
    new student is applied, not held for a login change nobody makes."""
    warehouse = Warehouse(tmp_path)
    key = {"identity": {"key": "username"}}
    disabled = with_cell(tiny_district(), "users", 3, "enabledUser", "false")  # u-s2
    assert warehouse.sync(disabled, settings=key).outcome == "applied"
    renamed = with_cell(disabled, "users", 3, "username", "kim.lee.old")
    result = warehouse.sync(renamed, settings=key)
    assert result.outcome == "applied", result.message
    assert warehouse.row("users", "or--u-s2")["login"] == "kim.lee.old"
