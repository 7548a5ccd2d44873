"""Which field of users.csv a user signs in with (`[identity] key`): the platform's login.

Districts choose the field their single sign-on sends: `sourcedId` (the default), `username`,
`userId` (the identifier of the first `{type:identifier}` item of `userIds`), `identifier` or
`email`. Under the chosen key, every user stated in the feed needs a login of their own: an
empty one, or one another user has too (compared trimmed and in any letter case, as sign-on
providers compare them), is an error on that row.
"""

from __future__ import annotations

import polars as pl

from rosterflow.schemas.issues import issues_from

IDENTITY_KEYS: dict[str, str] = {  # key -> the users.csv column it reads
    "sourcedId": "sourcedId",
    "username": "username",
    "userId": "userIds",
    "identifier": "identifier",
    "email": "email",
}


def login(key: str) -> pl.Expr:
    """A user's login under `key`, from a users frame (null when empty)."""
    if key == "userId":
        # "{LDAP:12},{LTI:15}": the identifier of the first item
        value = pl.col("userIds").str.extract(r"^\s*\{[^:}]*:([^}]*)\}", 1)
    else:
        value = pl.col(IDENTITY_KEYS[key])
    value = value.str.strip_chars()
    return pl.when(value != "").then(value).alias("login")


def comparable_login(key: str) -> pl.Expr:
    return login(key).str.to_lowercase()


def login_issues(users: pl.DataFrame, key: str) -> list[pl.LazyFrame]:
    """Errors for the users (rows stating a record, with `__line`) whose login under `key` is
    empty or shared with another of them."""
    if key == "sourcedId":  # required and unique already
        return []
    column = IDENTITY_KEYS[key]
    with_login = users.lazy().with_columns(comparable_login(key).alias("__login"))
    found = pl.col("__login").is_not_null()
    rules = (
        (~found, "identity.login_missing", f"this user has no {column} to sign in with"),
        (
            found & pl.col("__login").is_duplicated(),
            "identity.login_duplicate",
            f"another user signs in with this {column} too",
        ),
    )
    return [
        issues_from(
            with_login.filter(flagged),
            file="users.csv",
            field=column,
            value=pl.col(column),
            rule=rule,
            severity="error",
            message=f"[identity] key = {key!r}: {message}",
        )
        for flagged, rule, message in rules
    ]


def duplicate_logins(users: pl.DataFrame, key: str) -> pl.DataFrame:
    """`login, sourcedIds` of each login (under `key`) that several of the tenant's users
    share, or that is empty (login null): for records combined from several feeds."""
    if key == "sourcedId":
        return pl.DataFrame(schema={"login": pl.String, "sourcedIds": pl.List(pl.String)})
    return (
        users.lazy()
        .select("sourcedId", comparable_login(key))
        .filter(pl.col("login").is_null() | pl.col("login").is_duplicated())
        .group_by("login")
        .agg(pl.col("sourcedId").sort().alias("sourcedIds"))
        .sort("login", nulls_last=False)
        .collect()
    )
