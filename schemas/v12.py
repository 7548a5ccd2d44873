"""Read a OneRoster 1.2 feed as the OneRoster 1.1 files the rest of rosterflow consumes.

The stored records, their row hashes, the desired state and the lms rows all come from
1.1-shaped frames, so a district that switches its export from 1.1 to 1.2 keeps every record
as it was: the first 1.2 sync after a 1.1 sync of the same roster changes nothing.

- users.csv: the 1.1 columns it shares are kept; `role` is the role of the user's primary
  roles.csv row read in the 1.1 vocabulary (`ROLES_12_AS_11`); `orgSourcedIds` lists
  `primaryOrgSourcedId` first, then the primary role's org, then the orgs of the user's other
  roles in roles.csv's order, each once. The row keeps its users.csv line, so every later issue
  about a user names the line the user is on.
- A user with several primary roles (one per org, which 1.2 allows) has the one at
  `primaryOrgSourcedId`, else the first in file order; if the others would read as another 1.1
  role, each gets a warning.
- A users.csv delta changes what it sends: a user it sends without a primary roles.csv row
  keeps the role and orgs the warehouse holds (`roles_kept`; `primaryOrgSourcedId` still comes
  first). A role is a record of its own, so a delta sends the roles that changed: a secondary
  role added adds its org after the stored ones, and one it marks tobedeleted takes its org
  away (but the first, the user's domain, which the primary role kept gives). A delta that
  sends one of a user's several primary roles, not the one at primaryOrgSourcedId (the stored
  domain) or, without a primaryOrgSourcedId, not the one at the stored domain, leaves the
  user's role and domain as stored (`primaries_held`), with a warning.
- lineItems.csv's `academicSessionSourcedId` is 1.1's `gradingPeriodSourcedId`; every other
  shared file keeps its 1.1 columns, and what 1.2 added to it is validated and then left out.

The issues here are those of the reading itself (a user without a primary role, an extension
role that has no 1.1 meaning); the per-row rules and references are checked on the 1.2 rows
before (`schemas.validate`).
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from rosterflow.schemas.csvfile import LINE
from rosterflow.schemas.issues import ISSUE_SCHEMA, issues_from
from rosterflow.schemas.models import as_date
from rosterflow.schemas.records import ROW_HASH
from rosterflow.schemas.references import live, stated
from rosterflow.schemas.spec import FILE_SPECS, FILE_SPECS_12
from rosterflow.schemas.vocabulary import (
    ENROLLMENT_ROLES,
    OBSERVER_ROLES,
    ROLES_11_AS_12,
    ROLES_12_AS_11,
)

# 1.1 column -> the 1.2 column holding its values, where the name changed
RENAMED_COLUMNS = {"lineItems": {"gradingPeriodSourcedId": "academicSessionSourcedId"}}
_EXTENSION = pl.col("role").str.starts_with("ext:")


def as_v11(
    tables: Mapping[str, pl.DataFrame],
    modes: Mapping[str, str],
    stored_users: pl.DataFrame | None = None,
    verifiable: bool = True,
) -> tuple[dict[str, pl.DataFrame], list[pl.LazyFrame]]:
    """The 1.1-shaped rows of every 1.1 file a validated 1.2 feed holds, and the issues of
    reading it so. `tables` are the 1.2 files whose headers were right (normalized rows with
    their lines). users.csv needs roles.csv: without it (a header error there) users are left
    out, and the run is rejected for that header anyway.

    A users.csv delta may change a user without sending their primary roles.csv row: their role
    and orgs stay as stored, taken from `stored_users` (the tenant's stored users, 1.1-shaped)
    where the warehouse holds them (`roles_kept`), with the orgs of the secondary roles the
    delta sends or removes. Without a warehouse (`verifiable` false, as `rosterflow validate`
    without --warehouse) such a user is warned about, not refused."""
    converted = {
        name: _shared_columns(name, rows)
        for name, rows in tables.items()
        if name in FILE_SPECS and name != "users"
    }
    found: list[pl.LazyFrame] = []
    if "enrollments" in tables:
        found.append(enrollment_role_issues(tables["enrollments"]))
    users, roles = tables.get("users"), tables.get("roles")
    if roles is None and modes.get("roles", "absent") == "absent" and modes.get("users") == "delta":
        # no role changes: every user the delta sends keeps the roles stored (`roles_kept`)
        roles = pl.DataFrame(
            schema=dict.fromkeys(FILE_SPECS_12["roles"].header, pl.String) | {LINE: pl.Int64}
        )
    primaries = primary_roles(users, roles) if users is not None and roles is not None else None
    if primaries is not None and modes.get("users") == "delta" and stored_users is not None:
        held = primaries_held(users, roles, primaries, stored_users)
        if held.height:  # (most deltas: a user's primary roles are at one org)
            # the role at the deciding org stays the user's, and so does its org, their domain
            primaries = primaries.join(
                held.select("userSourcedId", "stored_role", "deciding_org"),
                on="userSourcedId",
                how="left",
                maintain_order="left",
            ).select(
                "userSourcedId",
                pl.coalesce("stored_role", "role").alias("role"),
                pl.coalesce("deciding_org", "orgSourcedId").alias("orgSourcedId"),
                "role_line",
            )
            found.append(held_primary_issues(held))
    if roles is not None:
        found += role_issues(roles, users, modes.get("users", "absent"), primaries)
    if primaries is not None:
        kept = (
            roles_kept(users, roles, stored_users)
            if modes.get("users") == "delta"
            else _no_roles_kept()
        )
        converted["users"] = users_as_v11(users, roles, primaries, kept)
        excused = kept.select("sourcedId")
        if modes.get("users") == "delta" and not verifiable:
            unsent = _without_primary_role(users, roles)
            excused = unsent.select("sourcedId")
            found.append(unverified_role_issues(unsent))
        found.append(no_primary_role_issues(users, roles, excused))
    return converted, found


def _no_roles_kept() -> pl.DataFrame:
    return pl.DataFrame(
        schema={"sourcedId": pl.String, "role": pl.String, "orgSourcedIds": pl.String}
    )


def _without_primary_role(users: pl.DataFrame, roles: pl.DataFrame) -> pl.DataFrame:
    """The users a users.csv delta states without a primary roles.csv row naming them (none, or
    secondary ones only). A primary row the delta marks tobedeleted counts: a user whose
    primary role it ends and replaces with none has no role to keep."""
    return live(users).join(
        roles.filter(pl.col("roleType") == "primary").select(
            pl.col("userSourcedId").alias("sourcedId")
        ),
        on="sourcedId",
        how="anti",
    )


def roles_kept(
    users: pl.DataFrame, roles: pl.DataFrame, stored_users: pl.DataFrame | None
) -> pl.DataFrame:
    """`sourcedId, role, orgSourcedIds` as stored of each user a users.csv delta states with no
    primary roles.csv row: a delta changes what it sends, and what it does not send stays as
    stored (a role is a record of its own: a delta that adds a secondary role to a user sends
    that row alone). No user without stored users (no warehouse), nor any the warehouse holds
    without a role."""
    if stored_users is None:
        return _no_roles_kept()
    return (
        _without_primary_role(users, roles)
        .select("sourcedId")
        .join(
            stored_users.select("sourcedId", "role", "orgSourcedIds").filter(
                pl.col("role").is_not_null()
            ),
            on="sourcedId",
            how="inner",
        )
    )


def primaries_held(
    users: pl.DataFrame, roles: pl.DataFrame, primaries: pl.DataFrame, stored_users: pl.DataFrame
) -> pl.DataFrame:
    """`userSourcedId, stored_role, sent_role` (as roles.csv gives it), `orgSourcedId,
    role_line, primaryOrgSourcedId, deciding_org` of each stored user whom a users.csv delta
    sends with primary roles.csv rows, none of them at the org whose primary role decides the
    user's role (`deciding_org`: the user's primaryOrgSourcedId, which must be their domain as
    stored; without one, their domain as stored, the org of the primary role a bulk file read
    as theirs), that read as another 1.1 role than the one stored. A delta sends the roles
    that changed: one of several primary roles sent alone (a new beginDate) leaves the one at
    the deciding org as it was, and that one is the user's role, as in a bulk file; so the
    stored role stays, unless the delta sends a primary role at that org: one it ends, or
    one beside those it reads first in file order (a REST pull sends all of a user's roles),
    which is the user's as in a bulk file."""
    at_deciding_org = roles.filter(pl.col("roleType") == "primary").select(
        "userSourcedId", pl.col("orgSourcedId").alias("deciding_org")
    )
    return (
        primaries.join(
            live(users).select(pl.col("sourcedId").alias("userSourcedId"), "primaryOrgSourcedId"),
            on="userSourcedId",
            how="inner",
        )
        # (most users: their primary role is at their primaryOrgSourcedId, and decides)
        .filter(
            pl.col("primaryOrgSourcedId").is_null()
            | (pl.col("orgSourcedId") != pl.col("primaryOrgSourcedId"))
        )
        .join(
            stored_users.select(
                pl.col("sourcedId").alias("userSourcedId"),
                pl.col("role").alias("stored_role"),
                pl.col("orgSourcedIds")
                .str.split(",")
                .list.first()
                .str.strip_chars()
                .alias("stored_domain"),
            ),
            on="userSourcedId",
            how="inner",
        )
        .with_columns(pl.coalesce("primaryOrgSourcedId", "stored_domain").alias("deciding_org"))
        .filter(
            pl.col("orgSourcedId") != pl.col("deciding_org"),
            pl.col("stored_role") != pl.col("role"),
            pl.col("stored_domain") == pl.col("deciding_org"),
        )
        .join(at_deciding_org, on=["userSourcedId", "deciding_org"], how="anti")
        .join(
            roles.select(pl.col(LINE).alias("role_line"), pl.col("role").alias("sent_role")),
            on="role_line",
            how="left",
        )
        .select(
            "userSourcedId",
            "stored_role",
            "sent_role",
            "orgSourcedId",
            "role_line",
            "primaryOrgSourcedId",
            "deciding_org",
        )
    )


def held_primary_issues(held: pl.DataFrame) -> pl.LazyFrame:
    """A warning on the primary roles.csv row of each user of `held` (`primaries_held`): the
    user keeps the role stored, which the district should know when it meant to change it."""
    return issues_from(
        held.with_columns(pl.col("role_line").alias(LINE)),
        file="roles.csv",
        field="role",
        value=pl.col("sent_role"),
        rule="role.primary_ambiguous",
        severity="warning",
        message=pl.format(
            "user {} keeps the role stored, {}: this delta sends their primary role at org {} "
            "but not the one at {}, which stays their role; to change it, send that roles.csv "
            "row (or mark it tobedeleted){}",
            pl.col("userSourcedId"),
            pl.col("stored_role"),
            pl.col("orgSourcedId"),
            pl.when(pl.col("primaryOrgSourcedId").is_not_null())
            .then(pl.format("their primaryOrgSourcedId {}", pl.col("deciding_org")))
            .otherwise(
                pl.format(
                    "org {}, their domain as stored (users.csv gives no primaryOrgSourcedId)",
                    pl.col("deciding_org"),
                )
            ),
            pl.when(pl.col("primaryOrgSourcedId").is_not_null())
            .then(pl.lit(""))
            .otherwise(
                pl.lit(", or give the user's primaryOrgSourcedId (the org whose role decides)")
            ),
        ),
    )


def _shared_columns(name: str, rows: pl.DataFrame) -> pl.DataFrame:
    """The 1.1 columns of a file 1.2 shares, and the row hashes of rows already compared with
    the stored records (a file whose columns are 1.1's)."""
    renamed = RENAMED_COLUMNS.get(name, {})
    return rows.select(
        *(pl.col(renamed.get(column, column)).alias(column) for column in FILE_SPECS[name].header),
        LINE,
        *([ROW_HASH] if ROW_HASH in rows.columns else []),
    )


def primary_roles(users: pl.DataFrame, roles: pl.DataFrame) -> pl.DataFrame:
    """One row per user with a primary role: `userSourcedId, role` (read as 1.1, null for an
    extension role), `orgSourcedId` and `role_line`, the roles.csv line it is on. Of several,
    the one at the user's primaryOrgSourcedId, else the first in file order."""
    primary_orgs = users.select(
        pl.col("sourcedId").alias("userSourcedId"), pl.col("primaryOrgSourcedId")
    )
    return (
        live(roles)
        .filter(pl.col("roleType") == "primary")
        .join(primary_orgs, on="userSourcedId", how="left", maintain_order="left")
        .sort(
            (pl.col("orgSourcedId") != pl.col("primaryOrgSourcedId")).fill_null(True),
            LINE,
        )
        .unique("userSourcedId", keep="first", maintain_order=True)
        .select(
            "userSourcedId",
            pl.col("role").replace_strict(ROLES_12_AS_11, default=None).alias("role"),
            "orgSourcedId",
            pl.col(LINE).alias("role_line"),
        )
    )


def _user_orgs(
    users: pl.DataFrame, roles: pl.DataFrame, primaries: pl.DataFrame, kept: pl.DataFrame
) -> pl.DataFrame:
    """`userSourcedId, orgSourcedIds`: primaryOrgSourcedId, the primary role's org, then the
    other roles' orgs in file order, each once, as 1.1's comma-separated list; a user whose
    roles are `kept` as stored (no primary roles.csv row names them), primaryOrgSourcedId, the
    stored orgs in their order but those of the user's roles the delta marks tobedeleted (the
    first, their domain, stays), then the orgs of the user's roles it sends."""
    # a role the delta ends takes its org from the stored list (a live role at that org, sent
    # too, gives it back, after the stored ones), but for the first: the user's domain, which
    # the primary role the delta keeps gives (a secondary role may be at the same org)
    ended = (
        roles.filter(~stated())
        .select("userSourcedId", pl.col("orgSourcedId").alias("org"), pl.lit(True).alias("ended"))
        .unique(["userSourcedId", "org"])
    )
    ranked = pl.concat(
        [
            kept.select(
                pl.col("sourcedId").alias("userSourcedId"),
                pl.col("orgSourcedIds").str.split(",").alias("org"),
            )
            .explode("org")
            .with_columns(
                pl.col("org").str.strip_chars(),
                pl.int_range(pl.len()).over("userSourcedId").cast(pl.Int64).alias("line"),
            )
            .join(ended, on=["userSourcedId", "org"], how="left", maintain_order="left")
            .filter(pl.col("ended").is_null() | (pl.col("line") == 0))
            .select("userSourcedId", "org", pl.lit(1, pl.Int64).alias("rank"), "line"),
            users.select(
                pl.col("sourcedId").alias("userSourcedId"),
                pl.col("primaryOrgSourcedId").alias("org"),
                pl.lit(0, pl.Int64).alias("rank"),
                pl.lit(0, pl.Int64).alias("line"),
            ),
            primaries.select(
                "userSourcedId",
                pl.col("orgSourcedId").alias("org"),
                pl.lit(1, pl.Int64).alias("rank"),
                pl.col("role_line").cast(pl.Int64).alias("line"),
            ),
            live(roles).select(
                "userSourcedId",
                pl.col("orgSourcedId").alias("org"),
                pl.lit(2, pl.Int64).alias("rank"),
                pl.col(LINE).cast(pl.Int64).alias("line"),
            ),
        ]
    )
    distinct = (
        ranked.drop_nulls("org")
        .sort("rank", "line")
        .unique(["userSourcedId", "org"], keep="first", maintain_order=True)
    )
    several = distinct.get_column("userSourcedId").is_duplicated()
    # most users have one org: only the others need their orgs joined into a list (a group
    # keeps its rows in frame order, already by rank, then line)
    return pl.concat(
        [
            distinct.filter(~several).select("userSourcedId", pl.col("org").alias("orgSourcedIds")),
            distinct.filter(several)
            .group_by("userSourcedId")
            .agg(pl.col("org").str.join(",").alias("orgSourcedIds")),
        ]
    )


def users_as_v11(
    users: pl.DataFrame,
    roles: pl.DataFrame,
    primaries: pl.DataFrame | None = None,
    kept: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """users.csv (1.2) with roles.csv as 1.1's users.csv rows, each on its users.csv line
    (`primaries`: their `primary_roles`, if already found; `kept`: `roles_kept`, the stored
    role and orgs of the users of a delta that sends none of their roles.csv rows)."""
    primaries = primary_roles(users, roles) if primaries is None else primaries
    kept = _no_roles_kept() if kept is None else kept
    return (
        users.join(
            pl.concat(
                [
                    primaries.select(pl.col("userSourcedId").alias("sourcedId"), "role"),
                    kept.select("sourcedId", "role"),
                ]
            ),
            on="sourcedId",
            how="left",
            maintain_order="left",
        )
        .join(
            _user_orgs(users, roles, primaries, kept).rename({"userSourcedId": "sourcedId"}),
            on="sourcedId",
            how="left",
            maintain_order="left",
        )
        .select(*FILE_SPECS["users"].header, LINE)
    )


def no_primary_role_issues(
    users: pl.DataFrame, roles: pl.DataFrame, excused: pl.DataFrame | None = None
) -> pl.LazyFrame:
    """An error on each user stated in users.csv whom no primary roles.csv row names, but for
    the `excused` ones (`sourcedId`: users of a delta whose stored role is kept, or who are
    checked without a warehouse): 1.1 needs a role, and 1.2 gives a user's role only there."""
    with_primary = live(roles).filter(pl.col("roleType") == "primary").select("userSourcedId")
    if excused is not None and excused.height:
        with_primary = pl.concat([with_primary, excused.select(userSourcedId="sourcedId")])
    return issues_from(
        live(users).join(with_primary, left_on="sourcedId", right_on="userSourcedId", how="anti"),
        file="users.csv",
        field="sourcedId",
        value=pl.col("sourcedId"),
        rule="user.no_primary_role",
        severity="error",
        message="no roles.csv row with roleType primary names this user: a OneRoster 1.2 "
        "user's role is the role of their primary roles.csv row",
    )


def unverified_role_issues(unsent: pl.DataFrame) -> pl.LazyFrame:
    """A warning on each user a users.csv delta states without a primary roles.csv row
    (`unsent`, their users.csv rows), checked without a warehouse: their role and orgs may be
    stored from an earlier run (they are kept then), which only the warehouse can tell. The
    user's error, if any, is left for the run that has one (a sync, or `validate
    --warehouse`)."""
    return issues_from(
        unsent,
        file="users.csv",
        field="sourcedId",
        value=pl.col("sourcedId"),
        rule="reference.unverified",
        severity="warning",
        message="no primary roles.csv row names this user (roles.csv is not bulk): the user's "
        "role and orgs may be stored from an earlier sync; give --warehouse and --tenant to "
        "check it",
    )


def role_issues(
    roles: pl.DataFrame,
    users: pl.DataFrame | None,
    users_mode: str,
    primaries: pl.DataFrame | None = None,
) -> list[pl.LazyFrame]:
    """What roles.csv says that cannot be read as 1.1, or only with a guess (`primaries`: the
    users' `primary_roles`, if already found)."""
    stated = live(roles)
    primary = stated.filter(pl.col("roleType") == "primary")
    # a user with two primary roles at one org is rare: the exact test runs on those only
    repeated = primary.filter(primary.select("userSourcedId", "orgSourcedId").is_duplicated())
    found = [
        issues_from(
            primary.filter(_EXTENSION),
            file="roles.csv",
            field="role",
            value=pl.col("role"),
            rule="role.extension",
            severity="error",
            message="an extension role has no OneRoster 1.1 meaning, and a user's primary role "
            "decides what the user is on the platform: give the user a primary role of the "
            "1.2 vocabulary (a secondary role may be an extension)",
        ),
        issues_from(
            stated.filter(pl.col("role") == "administrator"),
            file="roles.csv",
            field="role",
            value=pl.col("role"),
            rule="role.v11",
            severity="warning",
            message="administrator is the OneRoster 1.1 role (1.2 says districtAdministrator, "
            "siteAdministrator or systemAdministrator); read as administrator",
        ),
        issues_from(
            repeated.filter(pl.col(LINE).rank("ordinal").over("userSourcedId", "orgSourcedId") > 1),
            file="roles.csv",
            field="roleType",
            value=pl.col("roleType"),
            rule="role.primary_duplicate",
            severity="error",
            message=pl.format(
                "user {} already has a primary role at org {}: OneRoster 1.2 allows one "
                "primary role per user and org",
                pl.col("userSourcedId"),
                pl.col("orgSourcedId"),
            ),
        ),
        # as a session's or an enrollment's (`references.date_order_issues`): the text
        # comparison finds the few candidates, and only those are read as dates
        issues_from(
            stated.filter(pl.col("endDate") < pl.col("beginDate")).filter(
                as_date(pl.col("endDate")) < as_date(pl.col("beginDate"))
            ),
            file="roles.csv",
            field="endDate",
            value=pl.col("endDate"),
            rule="date.order",
            severity="warning",
            message=pl.concat_str(
                pl.lit("ends before it starts ("), pl.col("beginDate"), pl.lit(")")
            ),
        ),
    ]
    if users is not None:
        chosen = (primary_roles(users, roles) if primaries is None else primaries).select(
            "userSourcedId", pl.col("role").alias("read_as"), "role_line"
        )
        others = primary.join(chosen, on="userSourcedId", how="inner").filter(
            (pl.col(LINE) != pl.col("role_line"))
            & (pl.col("role").replace_strict(ROLES_12_AS_11, default=None) != pl.col("read_as"))
        )
        found.append(
            issues_from(
                others,
                file="roles.csv",
                field="role",
                value=pl.col("role"),
                rule="role.primary_ambiguous",
                severity="warning",
                message=pl.format(
                    "user {} has another primary role, on line {}: read as {} (the role at the "
                    "user's primaryOrgSourcedId, else the first in file order)",
                    pl.col("userSourcedId"),
                    pl.col("role_line"),
                    pl.col("read_as"),
                ),
            )
        )
        found.append(unlinked_observer_issues(stated, users, chosen))
        if users_mode == "delta":
            found.append(unsent_user_role_issues(roles, users))
        else:  # (a delta's unsent roles are stored: what it sends says nothing of them)
            found.append(unroled_primary_org_issues(stated, users))
    return found


def unroled_primary_org_issues(roles: pl.DataFrame, users: pl.DataFrame) -> pl.LazyFrame:
    """A warning for each user whose primaryOrgSourcedId names an org where no roles.csv row of
    theirs gives them a role: it is their domain on the platform all the same (`_user_orgs`),
    a school they have no role or class in, where they were meant to be in another."""
    held = roles.lazy().select(
        pl.col("userSourcedId").alias("sourcedId"),
        pl.col("orgSourcedId").alias("primaryOrgSourcedId"),
    )
    unroled = (
        live(users)
        .lazy()
        .filter(pl.col("primaryOrgSourcedId").is_not_null())
        .join(held, on=["sourcedId", "primaryOrgSourcedId"], how="anti")
    )
    return issues_from(
        unroled,
        file="users.csv",
        field="primaryOrgSourcedId",
        value=pl.col("primaryOrgSourcedId"),
        rule="user.primary_org_unroled",
        severity="warning",
        message="no roles.csv row gives the user a role at their primaryOrgSourcedId, which is "
        "their domain on the platform all the same: give them a role there, or name the org "
        "of one of their roles",
    )


def unsent_user_role_issues(roles: pl.DataFrame, users: pl.DataFrame) -> pl.LazyFrame:
    """A warning on each roles.csv delta row, stated or marked tobedeleted, whose user the
    users.csv delta does not send. A role is read with its user's users.csv row, and roles
    are not stored apart from their user: a delta that leaves the user out changes nothing of
    theirs, a role it ends as little as one it adds (the stored user keeps that org)."""
    ended = ~stated()
    return issues_from(
        roles.join(
            users.select(pl.col("sourcedId").alias("userSourcedId")),
            on="userSourcedId",
            how="anti",
        ),
        file="roles.csv",
        field="userSourcedId",
        value=pl.col("userSourcedId"),
        rule="role.user_not_sent",
        severity="warning",
        message=pl.when(ended)
        .then(
            pl.lit(
                "this user is not in the users.csv delta, so ending the role changes nothing "
                "(the user keeps its org): send the user's users.csv row with this row"
            )
        )
        .otherwise(
            pl.lit(
                "this user is not in the users.csv delta, so the role changes nothing: send "
                "the user's users.csv row with all of the user's roles"
            )
        ),
    )


def unlinked_observer_issues(
    stated: pl.DataFrame, users: pl.DataFrame, chosen: pl.DataFrame
) -> pl.LazyFrame:
    """A warning on each secondary parent, guardian or relative role (of `stated`, the live
    roles.csv rows) of a user whose primary role (`chosen`: `userSourcedId, read_as`) is none
    of those, when agentSourcedIds pairs the user with someone, on their own users.csv row or
    another's. A user is one lms user of one role, and observer links go from users whose role
    is parent, guardian or relative (docs/explanation/users.md): a teacher who is also a parent
    gets no link to their children, which the district should know rather than find out."""
    observing = stated.filter(
        (pl.col("roleType") == "secondary") & pl.col("role").is_in(OBSERVER_ROLES)
    ).join(
        chosen.filter(~pl.col("read_as").is_in(OBSERVER_ROLES)).select("userSourcedId", "read_as"),
        on="userSourcedId",
        how="inner",
    )
    if observing.height == 0:  # (most feeds: no agent list is split)
        return pl.LazyFrame(schema=ISSUE_SCHEMA)
    pairs = (
        live(users)
        .select("sourcedId", pl.col("agentSourcedIds").str.split(",").alias("agent"))
        .explode("agent")
        .with_columns(pl.col("agent").str.strip_chars())
        .filter(pl.col("agent").is_not_null() & (pl.col("agent") != ""))
    )
    # each user paired with whom: those their own list names, and those whose list names them
    paired = (
        pl.concat(
            [
                pairs.select(pl.col("sourcedId").alias("userSourcedId"), "agent"),
                pairs.select(
                    pl.col("agent").alias("userSourcedId"), pl.col("sourcedId").alias("agent")
                ),
            ]
        )
        .unique()
        .group_by("userSourcedId")
        .agg(pl.col("agent").sort().str.join(", ").alias("agents"))
    )
    return issues_from(
        observing.join(paired, on="userSourcedId", how="inner"),
        file="roles.csv",
        field="role",
        value=pl.col("role"),
        rule="role.observer_unlinked",
        severity="warning",
        message=pl.format(
            "user {} is read as {} (their primary role): observer links go from parents, "
            "guardians and relatives alone, so this {} role links the user to none of those "
            "agentSourcedIds pairs them with ({}); to link them, give the {} a user record of "
            "their own whose primary role is {}",
            pl.col("userSourcedId"),
            pl.col("read_as"),
            pl.col("role"),
            pl.col("agents"),
            pl.col("role"),
            pl.col("role"),
        ),
    )


def enrollment_role_issues(enrollments: pl.DataFrame) -> pl.LazyFrame:
    """An error on each enrollment whose role is an extension value: an enrollment's role
    decides who teaches and who learns, and 1.1 has no word for another."""
    return issues_from(
        live(enrollments).filter(_EXTENSION),
        file="enrollments.csv",
        field="role",
        value=pl.col("role"),
        rule="enum.extension",
        severity="error",
        message=f"an extension role: rosterflow syncs enrollments as {', '.join(ENROLLMENT_ROLES)}",
    )


# --- writing: a 1.1 roster as 1.2 -----------------------------------------------------------


def as_v12(frames: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The 1.2 twin of a 1.1 roster (file name -> frame, as `demo.district` gives): the
    same records, each user's role and orgs as roles.csv rows (the first org primary, also as
    `primaryOrgSourcedId`; the others secondary, in order), which reads back as the same 1.1
    records (`as_v11`)."""
    users = frames["users"]
    memberships = (
        users.select(
            "sourcedId",
            "role",
            pl.col("orgSourcedIds").str.split(",").alias("org"),
        )
        .explode("org")
        .with_columns(
            pl.col("org").str.strip_chars(),
            pl.int_range(pl.len()).over("sourcedId").alias("nth"),
        )
    )
    roles = memberships.select(
        pl.format("r-{}-{}", "sourcedId", "nth").alias("sourcedId"),
        pl.lit(None, pl.String).alias("status"),
        pl.lit(None, pl.String).alias("dateLastModified"),
        pl.col("sourcedId").alias("userSourcedId"),
        pl.when(pl.col("nth") == 0).then(pl.lit("primary")).otherwise(pl.lit("secondary"))
        .alias("roleType"),
        pl.col("role").replace(ROLES_11_AS_12).alias("role"),
        pl.lit(None, pl.String).alias("beginDate"),
        pl.lit(None, pl.String).alias("endDate"),
        pl.col("org").alias("orgSourcedId"),
        pl.lit(None, pl.String).alias("userProfileSourcedId"),
    )  # fmt: skip
    users12 = users.with_columns(
        pl.col("orgSourcedIds").str.split(",").list.first().alias("primaryOrgSourcedId")
    )
    return dict(frames) | {
        "users": users12.select(
            pl.col(c) if c in users12.columns else pl.lit(None, pl.String).alias(c)
            for c in FILE_SPECS_12["users"].header
        ),
        "roles": roles,
    }
