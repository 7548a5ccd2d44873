"""The logins of a users.csv read by its changed lines (`schemas.identity.login_issues` with
`changed`) checked on the table such a run builds: the changed lines' users in one chunk, then
the kept records in the chunks the stored records came in (a file's base, then its patches).
A login a changed line shares with a kept user in a later chunk is found as the whole check
finds it, on both rows, naming each other."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from rosterflow.schemas.identity import login_issues


def users(sourced_ids: list[str], usernames: list[str | None], lines: list[int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "sourcedId": sourced_ids,
            "status": [None] * len(sourced_ids),
            "username": usernames,
            "__line": lines,
        },
        schema_overrides={"status": pl.String},
    )


CHANGED = users(["u1", "u2"], ["own.login", "Ann.Lee"], [2, 3])
# the kept records of a file stored whole, then patched twice (the last patch: one user)
KEPT = [
    users(["k1", "k2", "k3"], ["k.one", "k.two", "k.three"], [-1, -2, -3]),
    users(["k4"], ["k.four"], [-4]),
    users(["k5"], ["ann.lee"], [-5]),
]


def test_a_login_a_changed_line_shares_with_a_kept_user_of_a_patch_is_found_on_both():
    table = pl.concat([CHANGED, *KEPT], rechunk=False)
    assert table.n_chunks() == 4  # (as a by-lines run builds it)

    narrowed = pl.concat(login_issues(table, "username", CHANGED.height)).collect()
    whole = pl.concat(login_issues(table.rechunk(), "username")).collect()

    assert_frame_equal(narrowed.sort(pl.all()), whole.sort(pl.all()))
    assert sorted(narrowed.select("line", "value", "rule").rows()) == [
        (-5, "ann.lee", "identity.login_duplicate"),
        (3, "Ann.Lee", "identity.login_duplicate"),
    ]
    assert narrowed.filter(pl.col("line") == 3)["message"].item().endswith("too (k5)")
