"""How users sign in after a plan: the logins it changes, and the warnings for them
(`[identity] key` names the field a user signs in with). A login left empty or shared is
validation's error, among the rows sent (`schemas.identity.login_issues`) and across them and
the stored users a feed keeps (`schemas.validate.stored_login_issues`): never planned."""

from __future__ import annotations

import polars as pl

from rosterflow.schemas.changes import Plan
from rosterflow.schemas.identity import IDENTITY_KEYS, same_login
from rosterflow.schemas.issues import issues_from
from rosterflow.transforms.adoption import LINES_SCHEMA


def relogins(plan: Plan, lines: pl.LazyFrame | None = None) -> pl.DataFrame:
    """The users whose login the plan changes from one they had (`detail` of their update,
    move, reactivation or adoption): a frame of `schemas.guard.RELOGINS_SCHEMA`, `line` the
    line of the user's record in the run's users.csv among `lines`
    (`transforms.adoption.sent_lines`; none for a record the run did not receive)."""
    before = pl.col("detail").str.json_path_match("$.login.from")
    # a reactivated user signed in as before until they left: coming back under another
    # login, they no longer do, as after an update (an adopted account's people sign in with
    # its login today too). A user inactive after the run signs in with nothing: the login
    # their record gives them changes nobody's sign-in, whether the run inactivates them or
    # they were inactive already (a disabled account whose username the SIS renames to free
    # it for a new student)
    inactive = pl.col("status") == "inactive"
    # sign-in compares logins trimmed and in any letter case, as adoption matches them and
    # shared logins are found: `JSmith` sent as `jsmith` is the same login (stored as sent)
    same = same_login(before) == same_login(pl.col("login"))
    changed = (
        plan.entities["user"]
        .changes.lazy()
        .filter(
            pl.col("action").is_in(["update", "move", "reactivate", "adopt"]),
            ~inactive.fill_null(False),
        )
        .filter(before.is_not_null(), ~same.fill_null(False))
        .select("external_id", "user_id", before.alias("login_before"), "login")
    )
    found = changed.collect()
    # (the lines are looked up only for a run that changes a login: most change none)
    sent = pl.LazyFrame(schema=LINES_SCHEMA) if lines is None or found.height == 0 else lines
    return (
        found.lazy()
        .join(sent, on="external_id", how="left")
        .select("external_id", "user_id", "login_before", "login", pl.col("line").cast(pl.Int64))
        .sort("external_id")
        .collect()
    )


def login_change_issues(relogins: pl.DataFrame, key: str) -> pl.DataFrame:
    """A warning per user whose login changes, for `[safety] login_changes = "warn"`."""
    return issues_from(
        relogins.lazy().with_columns(pl.col("line").alias("__line")),  # its record's line
        file="users.csv",
        field=IDENTITY_KEYS[key],
        value=pl.col("login"),
        rule="identity.login_changed",
        severity="warning",
        message=pl.format(
            "{} signs in as {} now, no longer as {}", "external_id", "login", "login_before"
        ),
    ).collect()
