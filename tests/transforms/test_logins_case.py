"""Logins as sign-in compares them, trimmed and in any letter case: a login that changes only so
is no login change, a user who comes back under another login changes how they sign in, and
two users whose logins differ only so share one login, under every `[identity] key`."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.identity import login_issues
from rosterflow.transforms.logins import relogins
from tests.feeds import frame
from tests.transforms.test_logins import relogin_rows, user_changes


def login_change(before: str, after: str, status: tuple[str, str] | None = None) -> str:
    """A user change's detail: the login from `before` to `after` (and the status, if given)."""
    moved = f'"status":{{"from":"{status[0]}","to":"{status[1]}"}},' if status else ""
    return f'{{{moved}"login":{{"from":"{before}","to":"{after}"}}}}'


@pytest.mark.parametrize("action", ["update", "move", "reactivate", "adopt"])
def test_a_login_that_changes_only_in_letter_case_or_spaces_is_no_login_change(action):
    status = ("inactive", "active") if action == "reactivate" else None
    planned = user_changes(
        ("or--u1", 11, "jsmith", action, login_change("JSmith", "jsmith", status)),
        ("or--u2", 12, "KIM.LEE", action, login_change(" kim.lee ", "KIM.LEE", status)),
    )
    assert_frame_equal(relogins(planned), relogin_rows())


def test_a_login_whose_accent_is_stored_another_way_is_no_login_change():
    """`José` composed (é) before, decomposed (e and a combining accent) now: the same text to
    Unicode and to the person typing it, not a change to hold (it looked like 'josé' -> 'josé')."""
    planned = user_changes(
        ("or--u1", 11, "jose\u0301.a1", "update", login_change("jos\u00e9.a1", "jose\u0301.a1"))
    )
    assert_frame_equal(relogins(planned), relogin_rows())


def test_a_login_that_changes_beyond_letter_case_is_still_a_login_change():
    planned = user_changes(
        ("or--u1", 11, "jsmith2", "update", login_change("JSmith", "jsmith2")),
        ("or--u2", 12, "jsmith", "update", login_change("JSmith", "jsmith")),
    )
    assert_frame_equal(relogins(planned), relogin_rows(("or--u1", 11, "JSmith", "jsmith2")))


def test_a_user_who_comes_back_under_another_login_changes_how_they_sign_in():
    planned = user_changes(
        # inactivated by an earlier run, back under another login: signs in otherwise now
        ("or--u1", 11, "kim.lee2", "reactivate", login_change("kim.lee", "kim.lee2", ("inactive", "active"))),
        # an account made by hand, inactive, adopted and reactivated under another login
        ("or--u2", 12, "gus", "adopt", login_change("g", "gus", ("inactive", "active"))),
        # inactivated by this run: signs in with nothing after it, whatever its login
        ("or--u3", 13, "hal", "inactivate", login_change("h", "hal", ("active", "inactive"))),
        ("or--u4", 14, "ida", "adopt", login_change("i", "ida", ("active", "inactive"))),
    )  # fmt: skip
    assert_frame_equal(
        relogins(planned),
        relogin_rows(("or--u1", 11, "kim.lee", "kim.lee2"), ("or--u2", 12, "g", "gus")),
    )


def users(*sourced_ids: str) -> pl.DataFrame:
    """users.csv records of these sourcedIds, each on its line (from line 2)."""
    return frame("users", *({"sourcedId": s, "username": f"name-{s}"} for s in sourced_ids))


def test_a_shared_login_names_the_users_it_is_shared_with():
    stated = frame(
        "users",
        *(
            {"sourcedId": sid, "username": name}
            for sid, name in [
                ("u1", "sam"),
                ("u2", "SAM "),
                ("u3", "kim"),
                ("u4", "Sam"),
                ("u5", "sam"),
                ("u6", "sAm"),
            ]
        ),
    ).with_columns(pl.int_range(2, pl.len() + 2).alias("__line"))
    found = pl.concat([issues.collect() for issues in login_issues(stated, "username")])
    assert found.select("line", "message").rows()[:2] == [
        (
            2,
            "[identity] key = 'username': another user signs in with this username too "
            "(u2, u4, u5 and 1 more)",
        ),
        (
            3,
            "[identity] key = 'username': another user signs in with this username too "
            "(u1, u4, u5 and 1 more)",
        ),
    ]
