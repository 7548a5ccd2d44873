"""Adopting the accounts a platform already has (`[identity] adopt_by`).

A platform that ran before its district rostered has accounts made by hand. A managed user
who is not yet in lms (a new SIS record) takes over the one account of the tenant made by hand
whose `adopt_by` field (username, email, or login: the field `[identity] key` names) is equal,
trimmed and in any letter case (`comparable`). The account keeps its `user_id`, and with it
its enrollments, grades and content; it gains the record's external ID, and its managed fields
take the SIS's values: the plan's `adopt` action, as for an account whose external ID was set
by hand.

Ambiguity adopts nobody, and is reported (`identity.adopt_ambiguous`, a warning): two or more
accounts for one record, one account for two records, or an account already managed among
those that match. An account whose role differs from the record's (or that has none) is not
adopted unless `[identity] adopt_across_roles` (`identity.adopt_role_conflict`). Each warning
stands on the record's line in the run's users.csv (`sent_lines`), as every issue of a record
does. A record that adopts nobody is created anew, as without `adopt_by`: the accounts are
sorted out by hand (docs/explanation/users.md), before that run (a dry run gives the same
warnings), or after it by deleting the account it created, whose external ID an account made
by hand can take only then (two rows of one managed external ID reject a run).

Every match is one join of the new records and the tenant's accounts on the compared value:
no loop over users. The full and the incremental plan call the same function, the one with
every lms user of the tenant, the other with those it reads for the occasion.

A user created with a login that an active account made by hand signs in with already (under
`adopt_by = "none"`, or a record its `adopt_by` field matched to no account) leaves two
accounts of one login: a warning on the record's line names the accounts
(`identity.login_taken`, `login_taken_issues`), as Canvas's SIS import reports a login another
account has claimed. The accounts are read by their logins alone, once the plan is made
(`warehouse.state.hand_made_logins`). A user the plan reactivates, or moves to another login,
with such a login is one more case (`signing_in` gives the three).

A synced account stays active with its login when its record leaves the SIS under `[policy]
users = "keep"`: a user the plan creates, reactivates or moves to that login (the student
re-keyed under a new sourcedId) leaves two active accounts of one login too, and is warned of
the same way (`kept_login_issues`), unless the plan itself inactivates or deletes the old
account or moves it to another login (a swap). Its accounts are read likewise
(`warehouse.state.synced_logins`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from rosterflow.schemas.changes import Plan, field_before
from rosterflow.schemas.csvfile import LINE
from rosterflow.schemas.identity import IDENTITY_KEYS, same_login
from rosterflow.schemas.issues import ISSUE_SCHEMA, issues_from
from rosterflow.schemas.lms import MANAGED_PREFIX
from rosterflow.schemas.settings import Identity
from rosterflow.transforms.desired import managed_id

# adopt_by -> the lms.users column compared, and the users.csv field it comes from
ADOPT_FIELDS = {"username": "username", "email": "email", "login": "login"}
MATCH_SCHEMA = {"user_id": pl.Int64, "external_id": pl.String, "external_id_before": pl.String}
LINES_SCHEMA = {"external_id": pl.String, "line": pl.Int64}
PAIR_SCHEMA = {"external_id": pl.String, "user_id": pl.Int64}
CREATED_LOGINS_SCHEMA = {"external_id": pl.String, "login": pl.String}
SIGNING_IN_SCHEMA = {
    "external_id": pl.String,
    "user_id": pl.Int64,
    "login": pl.String,
    "how": pl.String,
}


@dataclass(frozen=True)
class Adoption:
    """What `adopt_by` matched: `matches` holds each account adopted (`user_id`), the record it
    becomes (`external_id`) and its external ID before (`external_id_before`); `issues` the
    records that adopted nobody, and why; `tenant_users` the tenant's lms users it looked at
    (the guard's base); `reported` each record and account (`external_id, user_id`) that an
    issue names, which `login_taken_issues` does not name again."""

    matches: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=MATCH_SCHEMA))
    issues: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ISSUE_SCHEMA))
    tenant_users: int = 0
    reported: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PAIR_SCHEMA))


def comparable(column: str) -> pl.Expr:
    """A value as adoption compares it: trimmed, in lower case, composed (NFC), without the
    characters a screen does not show, `ß` as `ss`; empty is no value."""
    value = (
        # trimmed, in lower case and composed, as sign-in compares logins: one name typed on
        # two systems, `José` composed (é) on one, decomposed (e + U+0301) on the other, is
        # the same text to Unicode, and to the person
        same_login(pl.col(column))
        # `ß` has no one-letter upper case: `STRASSE` is `straße` in capitals (Unicode case
        # folding); Turkish dotted and dotless i stay apart, as no locale-free folding joins them
        .str.replace_all("ß", "ss", literal=True)
    )
    return pl.when(value != "").then(value)


def _role(column: str) -> pl.Expr:
    return pl.col(column).str.strip_chars().str.to_lowercase()


def new_users(desired: pl.LazyFrame, current: pl.LazyFrame) -> pl.LazyFrame:
    """The desired users whose managed external ID no lms row of the tenant has yet."""
    return desired.join(current.select("external_id"), on="external_id", how="anti")


def sent_lines(users: pl.DataFrame | None) -> pl.LazyFrame:
    """`external_id, line` of the records a run received, each on its line in the run's file
    (`users`: the file's validated rows, with their lines: users.csv's, or classes.csv's and
    orgs.csv's for the warnings of what a deletion leaves behind); a record kept from an
    earlier feed stands on no line of this one, and with no such file none does."""
    if users is None or LINE not in users.columns:
        return pl.LazyFrame(schema=LINES_SCHEMA)
    return users.lazy().select(
        managed_id("sourcedId").alias("external_id"), pl.col(LINE).cast(pl.Int64).alias("line")
    )


def adoptions(
    new: pl.DataFrame,
    tenant_users: pl.DataFrame,
    identity: Identity,
    lines: pl.LazyFrame | pl.DataFrame | None = None,
) -> Adoption:
    """Which accounts made by hand the `new` records (desired users not yet in lms) take over,
    among `tenant_users` (the tenant's lms users: all of them, or at least every one whose
    compared field equals a new record's). The issues stand on the records' `lines`
    (`external_id, line`: `sent_lines`), on none for a record they do not give."""
    if identity.adopt_by == "none" or new.height == 0:
        return Adoption(tenant_users=tenant_users.height)
    column = ADOPT_FIELDS[identity.adopt_by]
    records = new.select(
        "external_id",
        pl.col("role").alias("record_role"),
        pl.col(column).alias("value"),
        comparable(column).alias("key"),
    ).filter(pl.col("key").is_not_null())
    accounts = tenant_users.select(
        "user_id",
        pl.col("external_id").alias("account_external_id"),
        pl.col("role").alias("account_role"),
        comparable(column).alias("key"),
    ).join(records.select("key"), on="key", how="semi")
    managed = pl.col("account_external_id").str.starts_with(MANAGED_PREFIX).fill_null(False)
    pairs = (
        records.join(accounts, on="key")
        .with_columns(
            pl.len().over("external_id").alias("accounts"),
            managed.any().over("external_id").alias("one_managed"),
            pl.len().over("user_id").alias("records"),
            # an account of no role agrees with no record's; a role typed by hand as
            # ` Teacher` is the teacher role
            (_role("record_role") != _role("account_role")).fill_null(True).alias("role_conflict"),
        )
        .with_columns(
            ((pl.col("accounts") > 1) | pl.col("one_managed") | (pl.col("records") > 1)).alias(
                "ambiguous"
            )
        )
    )
    adopted = pairs.filter(
        ~pl.col("ambiguous") & (~pl.col("role_conflict") | identity.adopt_across_roles)
    )
    matches = adopted.select(
        "user_id", "external_id", pl.col("account_external_id").alias("external_id_before")
    ).sort("user_id")
    lines = pl.LazyFrame(schema=LINES_SCHEMA) if lines is None else lines.lazy()
    issues = pl.concat(
        [
            _ambiguous(pairs.filter("ambiguous"), identity, lines),
            _role_conflicts(
                pairs.filter(~pl.col("ambiguous") & pl.col("role_conflict")), identity, lines
            )
            if not identity.adopt_across_roles
            else pl.DataFrame(schema=ISSUE_SCHEMA),
        ]
    )
    reported = (
        # (a role conflict under `adopt_across_roles` is adopted: no issue names it)
        pairs.filter(
            pl.col("ambiguous") | (pl.col("role_conflict") & (not identity.adopt_across_roles))
        )
        .select("external_id", "user_id")
        .cast(PAIR_SCHEMA)
    )
    return Adoption(matches, issues, tenant_users.height, reported)


def _field(identity: Identity) -> str:
    """The users.csv field the compared value came from."""
    if identity.adopt_by == "login":
        return IDENTITY_KEYS[identity.key]
    return identity.adopt_by


def _account(user_id: pl.Expr, external_id: pl.Expr) -> pl.Expr:
    """An account as a message names it: `user 12 (or--u1)`, or `user 12 (made by hand)`."""
    return pl.format(
        "user {} ({})",
        user_id,
        pl.when(external_id.str.starts_with(MANAGED_PREFIX).fill_null(False))
        .then(pl.concat_str(pl.lit("synced as "), external_id))
        .otherwise(pl.lit("made by hand")),
    )


def _ambiguous(pairs: pl.DataFrame, identity: Identity, lines: pl.LazyFrame) -> pl.DataFrame:
    """One warning per record whose match is ambiguous, naming the accounts it matched (and,
    for an account two records match, the other records)."""
    why = (
        pl.when(pl.col("one_managed"))
        .then(pl.lit("an account that matches is synced already"))
        .when(pl.col("accounts") > 1)
        .then(pl.lit("several accounts match"))
        .otherwise(pl.lit("an account that matches matches other records too"))
    )
    per_record = (
        pairs.with_columns(
            _account(pl.col("user_id"), pl.col("account_external_id")).alias("account"),
            # the records that match the same account, this one left out
            pl.col("external_id")
            .implode()
            .over("user_id")
            .list.set_difference(pl.concat_list("external_id"))
            .alias("rivals"),
        )
        .group_by("external_id")
        .agg(
            pl.col("value").first(),
            pl.col("accounts").first(),
            pl.col("one_managed").first(),
            pl.col("account").sort().str.join("; ").alias("candidates"),
            pl.col("rivals")
            .list.explode(keep_nulls=False, empty_as_null=False)
            .unique()
            .sort()
            .str.join(", ")
            .alias("rivals"),
        )
        .sort("external_id")
    )
    also = (
        pl.when(pl.col("rivals") != "")
        .then(pl.format("; other records matching: {}", "rivals"))
        .otherwise(pl.lit(""))
    )
    return _issues(
        per_record.with_columns(why.alias("why"), also.alias("also")),
        _field(identity),
        lines,
        "identity.adopt_ambiguous",
        pl.format(
            "{} adopts no account: {} ({}){}; it is created anew",
            "external_id",
            "why",
            "candidates",
            "also",
        ),
    )


def _role_conflicts(pairs: pl.DataFrame, identity: Identity, lines: pl.LazyFrame) -> pl.DataFrame:
    """One warning per record whose one account has another role, or none."""
    # an account of no role is no account of the record's role: a conflict all the same,
    # named as such (a null in pl.format would make the whole message null)
    role = (
        pl.when(pl.col("account_role").is_null())
        .then(pl.lit("has no role"))
        .otherwise(pl.format("is a {}", "account_role"))
    )
    return _issues(
        pairs.sort("external_id").with_columns(
            _account(pl.col("user_id"), pl.col("account_external_id")).alias("account"),
            role.alias("account_role_text"),
        ),
        _field(identity),
        lines,
        "identity.adopt_role_conflict",
        pl.format(
            "{} ({}) adopts no account: {} {}; it is created anew "
            "([identity] adopt_across_roles = true adopts it)",
            "external_id",
            "record_role",
            "account",
            "account_role_text",
        ),
    )


def _issues(
    rows: pl.DataFrame, field: str, lines: pl.LazyFrame, rule: str, message: pl.Expr
) -> pl.DataFrame:
    """One warning per row (a record, by its `external_id`; its users.csv `field` holding the
    row's `value`), on the record's line."""
    if rows.height == 0:
        return pl.DataFrame(schema=ISSUE_SCHEMA)
    located = rows.lazy().join(
        lines.filter(pl.col("external_id").is_in(rows["external_id"].implode())),
        on="external_id",
        how="left",
        maintain_order="left",
    )
    return issues_from(
        located.with_columns(pl.col("line").alias("__line")),
        file="users.csv",
        field=field,
        value=pl.col("value"),
        rule=rule,
        severity="warning",
        message=message,
    ).collect()


def login_taken_issues(
    created: pl.DataFrame,
    accounts: pl.DataFrame,
    adoption: Adoption,
    identity: Identity,
    lines: pl.LazyFrame | pl.DataFrame | None = None,
) -> pl.DataFrame:
    """A warning (`identity.login_taken`) per user created (`created`: `external_id, login`)
    with a login that an account made by hand signs in with already, compared as sign-in compares
    logins (`same_login`), naming the accounts: `accounts` holds `user_id, login` of the
    tenant's active accounts made by hand (at least those of the logins created:
    `warehouse.state.hand_made_logins`). An account `adoption` adopted is synced now, and one
    it named for the record already (ambiguous, of another role) is not named again. The
    warnings stand on the records' `lines` (`sent_lines`). `created` may be `signing_in`'s
    users instead, the reactivated and those whose login changes with the created, each
    worded as its `how` says."""
    if created.height == 0 or accounts.height == 0:
        return pl.DataFrame(schema=ISSUE_SCHEMA)
    how = pl.col("how") if "how" in created.columns else pl.lit("is created")
    taken = (
        created.lazy()
        .select("external_id", "login", how.alias("how"))
        .join(
            accounts.lazy().select(
                "user_id",
                pl.col("login").alias("account_login"),
                same_login(pl.col("login")).alias("key"),
            ),
            left_on=same_login(pl.col("login")),
            right_on="key",
        )
        .join(adoption.matches.lazy().select("user_id"), on="user_id", how="anti")
        .join(adoption.reported.lazy(), on=["external_id", "user_id"], how="anti")
        .with_columns(pl.format("user {} '{}'", "user_id", "account_login").alias("account"))
        .group_by("external_id")
        .agg(
            pl.col("login").first().alias("value"),
            pl.col("how").first(),
            pl.col("account").sort_by("user_id").str.join(", ").alias("accounts"),
            pl.len().alias("count"),
        )
        .sort("external_id")
        .collect()
    )
    owners = (
        pl.when(pl.col("count") == 1)
        .then(pl.lit("an active account made by hand has"))
        .otherwise(pl.format("{} active accounts made by hand have", "count"))
    )
    # adoption takes an account over for a user to be created alone: one that exists already
    # (reactivated, or under another login) shares it until a person sorts the two out
    advice = (
        pl.when(pl.col("how") == "is created")
        .then(
            pl.lit(
                '[identity] adopt_by = "login", set before the run that creates the user (a '
                "dry run warns first), has it take such an account over instead of creating "
                "another"
            )
        )
        .otherwise(
            pl.lit(
                "if they are one person, merge the accounts by hand; if not, give the account "
                "made by hand another login"
            )
        )
    )
    return _issues(
        taken.with_columns(owners.alias("owners"), advice.alias("advice")),
        IDENTITY_KEYS[identity.key],
        pl.LazyFrame(schema=LINES_SCHEMA) if lines is None else lines.lazy(),
        "identity.login_taken",
        pl.format(
            "{} {} to sign in as {}, a login {} already: {}; {}",
            "external_id",
            "how",
            "value",
            "owners",
            "accounts",
            "advice",
        ),
    )


def _signs_in_otherwise() -> pl.Expr:
    """Whether a changed user no longer signs in as before the change: deleted, inactive after
    it, or under another login (compared as sign-in compares them)."""
    return (
        (pl.col("action") == "delete")
        | (pl.col("status") != "active")
        | ~same_login(field_before("login")).eq_missing(same_login(pl.col("login")))
    ).fill_null(True)


def _signs_in_anew() -> pl.Expr:
    """Whether an active user with a login after a change did not sign in with it before:
    inactive before it, or under another login (or none)."""
    return (
        (field_before("status") != "active")
        | ~same_login(field_before("login")).eq_missing(same_login(pl.col("login")))
    ).fill_null(True)


def signing_in(plan: Plan) -> pl.DataFrame:
    """`external_id, user_id, login, how` of the users `plan` has sign in with a login they did
    not sign in with before it: created active, reactivated (an adopted account included), or
    active under another login; `how` says which, as a message words it."""
    users = plan.entities.get("user")
    if users is None:
        return pl.DataFrame(schema=SIGNING_IN_SCHEMA)
    active = users.changes.lazy().filter(
        pl.col("status") == "active", pl.col("login").is_not_null()
    )
    columns = ("external_id", "user_id", "login")
    # apart: a first load creates every user, and reading each change's detail for what it
    # was before (`_before`) took 0.14 s of a 200k-student first load, for nothing
    created = active.filter(pl.col("action") == "create").select(
        *columns, pl.lit("is created").alias("how")
    )
    # (collected first: Polars folds two filters into one, which reads every detail)
    updated = active.filter(~pl.col("action").is_in(["create", "delete"])).collect()
    changed = (
        updated.lazy()
        .filter(_signs_in_anew())
        .select(
            *columns,
            pl.when((field_before("status") != "active").fill_null(True))
            .then(pl.lit("is reactivated"))
            .otherwise(pl.lit("has its login changed"))
            .alias("how"),
        )
    )
    return pl.concat([created, changed]).collect().cast(SIGNING_IN_SCHEMA)


def kept_login_issues(
    plan: Plan,
    accounts: pl.DataFrame,
    adoption: Adoption,
    identity: Identity,
    lines: pl.LazyFrame | pl.DataFrame | None = None,
    signing: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """A warning (`identity.login_taken`) per user `plan` has sign in with a login anew
    (`signing`: `signing_in(plan)`, when taken already) that an active synced account signs in with already and still will after
    the plan (kept as it was when its record left the SIS, `[policy] users = "keep"`), compared
    as sign-in compares logins (`same_login`), naming the accounts: `accounts` holds `user_id,
    external_id, login` of the tenant's active synced accounts as lms holds them before the
    plan (at least those of the logins signed in with: `warehouse.state.synced_logins`). An
    account the plan deletes, inactivates or moves to another login shares nothing; one
    `adoption` named for the record already is not named again. The warnings stand on the
    records' `lines` (`sent_lines`)."""
    if accounts.height == 0:  # (nobody new, or no account of their logins: nothing read)
        return pl.DataFrame(schema=ISSUE_SCHEMA)
    signing = signing_in(plan) if signing is None else signing
    if signing.height == 0:
        return pl.DataFrame(schema=ISSUE_SCHEMA)
    users = plan.entities["user"].changes.lazy()
    # (the plan's changes read again only for a run whose new logins an account has: few)
    released = users.filter(_signs_in_otherwise()).select(pl.col("user_id").cast(pl.Int64))
    kept = (
        accounts.lazy()
        .select(
            pl.col("user_id").alias("account_user_id"),
            pl.col("external_id").alias("account_external_id"),
            pl.col("login").alias("account_login"),
            same_login(pl.col("login")).alias("key"),
        )
        .join(released, left_on="account_user_id", right_on="user_id", how="anti")
    )
    taken = (
        signing.lazy()
        .join(kept, left_on=same_login(pl.col("login")), right_on="key")
        .filter(pl.col("account_user_id") != pl.col("user_id"))
        .join(
            adoption.reported.lazy(),
            left_on=["external_id", "account_user_id"],
            right_on=["external_id", "user_id"],
            how="anti",
        )
        .with_columns(
            pl.format(
                "user {} '{}' (synced as {})",
                "account_user_id",
                "account_login",
                "account_external_id",
            ).alias("account")
        )
        .group_by("external_id")
        .agg(
            pl.col("user_id").first(),
            pl.col("login").first().alias("value"),
            pl.col("how").first(),
            pl.col("account").sort_by("account_user_id").str.join(", ").alias("accounts"),
            pl.len().alias("count"),
        )
        .sort("external_id")
        .collect()
    )
    owners = (
        pl.when(pl.col("count") == 1)
        .then(pl.lit("an active account synced from a record the SIS no longer sends has"))
        .otherwise(
            pl.format(
                "{} active accounts synced from records the SIS no longer sends have", "count"
            )
        )
    )
    # a user to be created can take the old account over instead (as the docs' re-keyed
    # student does); one that exists already cannot: one of the two must stop signing in so
    advice = (
        pl.when(pl.col("how") == "is created")
        .then(
            pl.format(
                "set the old account's external_id to {} before the run and the run takes it "
                "over instead (its user_id, enrollments and scores kept)",
                "external_id",
            )
        )
        .otherwise(pl.lit("merge the accounts by hand"))
    )
    return _issues(
        taken.with_columns(owners.alias("owners"), advice.alias("advice")),
        IDENTITY_KEYS[identity.key],
        pl.LazyFrame(schema=LINES_SCHEMA) if lines is None else lines.lazy(),
        "identity.login_taken",
        pl.format(
            "{} (user {}) {} to sign in as {}, a login {} already: {}; if they are one person, "
            '{}; if not, inactivate the old account ([policy] users = "inactivate" inactivates '
            "each user who leaves the SIS)",
            "external_id",
            "user_id",
            "how",
            "value",
            "owners",
            "accounts",
            "advice",
        ),
    )


def as_adopted(current: pl.DataFrame, matches: pl.DataFrame) -> pl.DataFrame:
    """The tenant's lms users with each adopted account under the external ID of the record
    it becomes: planned against that record, it is the plan's `adopt` (its origin is still
    `manual`)."""
    if matches.height == 0:
        return current
    return (
        current.join(matches.select("user_id", "external_id"), on="user_id", how="left")
        .with_columns(pl.coalesce("external_id_right", "external_id").alias("external_id"))
        .select(current.columns)
    )


def with_adoption_detail(changes: pl.DataFrame, matches: pl.DataFrame) -> pl.DataFrame:
    """A user plan's changes with each adopted account's `detail` naming its external ID before
    (`{"external_id": {"from": ..., "to": ...}, ...}`): the account's own history says where it
    came from."""
    if matches.height == 0:
        return changes
    adopted = matches.select(
        "user_id",
        pl.struct(pl.col("external_id_before").alias("from"), pl.col("external_id").alias("to"))
        .struct.json_encode()
        .alias("external_id_change"),
    )
    rest = pl.col("detail").str.strip_prefix("{").str.strip_suffix("}")
    detail = pl.concat_str(
        pl.lit('{"external_id":'),
        pl.col("external_id_change"),
        pl.when(rest != "").then(pl.concat_str(pl.lit(","), rest)).otherwise(pl.lit("")),
        pl.lit("}"),
    )
    return (
        changes.join(adopted, on="user_id", how="left")
        .with_columns(
            pl.when((pl.col("action") == "adopt") & pl.col("external_id_change").is_not_null())
            .then(detail)
            .otherwise(pl.col("detail"))
            .alias("detail")
        )
        .select(changes.columns)
    )
