"""Logins in Greek: lower case writes a sigma at a word's end as `ς` (`ΟΔΥΣΣΕΥΣ` is
`οδυσσευς`), where a person or a SIS may write `σ`; both are `Σ` in capitals, so `οδυσσευσ`
and `ΟΔΥΣΣΕΥΣ` differ only in letter case, which sign-in ignores: one login to validation, to
login changes and to adoption, as `JSmith` and `jsmith` are."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from rosterflow.schemas.identity import same_login
from rosterflow.transforms.logins import relogins
from tests.feeds import tiny_district, with_cell
from tests.schemas.test_identity_unicode import errors, users
from tests.syncing import Warehouse
from tests.transforms.test_logins import relogin_rows, user_changes
from tests.transforms.test_logins_case import login_change

CAPITALS = "\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3"  # ΟΔΥΣΣΕΥΣ
SMALL = "\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c3"  # οδυσσευσ, its last sigma σ
FINAL = "\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c2"  # οδυσσευς, its last sigma ς


def test_a_final_sigma_and_a_sigma_are_one_login_in_any_letter_case():
    logins = pl.DataFrame({"login": [CAPITALS, SMALL, FINAL, f" {FINAL}\u200b"]})
    assert logins.select(same_login(pl.col("login"))).to_series().n_unique() == 1


def test_users_whose_logins_differ_only_so_share_one_and_no_accent_is_blamed():
    found = errors(users("username", CAPITALS, SMALL, "odysseus"), "username")

    assert found.select("line", "value", "rule").rows() == [
        (2, CAPITALS, "identity.login_duplicate"),
        (3, SMALL, "identity.login_duplicate"),
    ]
    assert not found["message"].str.contains("accents").any(), found["message"].to_list()


def test_a_login_rewritten_only_in_capitals_is_no_login_change():
    planned = user_changes(("or--u1", 11, CAPITALS, "update", login_change(SMALL, CAPITALS)))
    assert_frame_equal(relogins(planned), relogin_rows())


def test_the_sync_applies_a_login_the_sis_writes_in_capitals_without_holding_it(tmp_path):
    warehouse = Warehouse(tmp_path)
    settings = {"identity": {"key": "username"}}
    assert (
        warehouse.sync(
            with_cell(tiny_district(), "users", 2, "username", SMALL), settings=settings
        ).outcome
        == "applied"
    )

    rewritten = warehouse.sync(
        with_cell(tiny_district(), "users", 2, "username", CAPITALS), settings=settings
    )

    assert rewritten.outcome == "applied", rewritten.message
    assert warehouse.row("users", "or--u-s1")["login"] == CAPITALS
    assert "identity.login_changed" not in set(rewritten.issues["rule"])
