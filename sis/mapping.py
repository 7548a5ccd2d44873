"""OneRoster JSON records as the CSV files' rows, as the bindings map one onto the other.

A collection's page is decoded straight into a Polars frame with the schema `record_schema`
gives (no Python object per record): only the fields a CSV column is made from are read, so
unknown ones (`metadata`, `href`, a `password`) never leave the body. `csv_rows` then makes the
file's columns, in spec order, all text:

- a reference (`{"href", "sourcedId", "type"}`) becomes its `…SourcedId` column, a list of them
  the comma-separated `…SourcedIds` (`org` → orgSourcedId, `terms` → termSourcedIds);
- `userIds` become `{type:identifier}` items; grades, subjects, periods are comma-separated;
- booleans come as `true`/`false` whether the JSON says `true` or `"true"`; a date sent as a
  full timestamp keeps its date; `dateLastModified` is written `YYYY-MM-DDTHH:MM:SS.sssZ`, UTC
  (one without a zone is UTC);
- in 1.2, a user's `roles` become roles.csv rows (sourcedId `<user>.role.<n>`, as roles have
  none of their own in the JSON binding) and its `userProfiles` userProfiles.csv rows, one per
  profile with its first credential; `preferredFirstName`/`preferredLastName` are the CSV's
  `preferredGivenName`/`preferredFamilyName`;
- a 1.2 profile without a credential (the JSON binding's `credentials` are 0..*) has no
  userProfiles.csv row: the CSV binding makes a row of a profile and one credential, and
  requires its `credentialType` and `username`. It is left out, a role naming it names no
  profile (`userProfileSourcedId` is optional), and `left_out` counts it;
- passwords are never read: a pulled feed is archived, and the warehouse stores none either.
"""

from __future__ import annotations

import polars as pl

from rosterflow.schemas.spec import SPECS_BY_VERSION, Column, FileSpec
from rosterflow.schemas.vocabulary import Kind

# CSV column -> the JSON fields it is read from, first present wins (1.2's binding renamed these)
JSON_NAMES = {
    "preferredGivenName": ("preferredFirstName", "preferredGivenName"),
    "preferredFamilyName": ("preferredLastName", "preferredFamilyName"),
}
NEVER_READ = frozenset({"password"})
# whether a 1.2 profile has a credential, which its userProfiles.csv row is made with
_HAS_CREDENTIAL = "_has_credential"
_REF = pl.Struct({"sourcedId": pl.String})
_USER_ID = pl.Struct({"type": pl.String, "identifier": pl.String})
_DTYPES = {
    Kind.REF: _REF,
    Kind.REF_LIST: pl.List(_REF),
    Kind.LIST: pl.List(pl.String),
    Kind.GRADES: pl.List(pl.String),
    Kind.USER_IDS: pl.List(_USER_ID),
}
# what 1.2 users carry for roles.csv and userProfiles.csv
_ROLES_12 = pl.List(
    pl.Struct(
        {
            "roleType": pl.String,
            "role": pl.String,
            "org": _REF,
            "userProfile": pl.String,
            "beginDate": pl.String,
            "endDate": pl.String,
        }
    )
)
_PROFILES_12 = pl.List(
    pl.Struct(
        {
            "profileId": pl.String,
            "profileType": pl.String,
            "vendorId": pl.String,
            "applicationId": pl.String,
            "description": pl.String,
            "credentials": pl.List(pl.Struct({"type": pl.String, "username": pl.String})),
        }
    )
)


def json_names(column: Column) -> tuple[str, ...]:
    """The JSON fields a CSV column comes from: `orgSourcedId` from `org`, `termSourcedIds` from
    `terms`, a renamed 1.2 field from either name, any other from its own name."""
    if column.kind == Kind.REF:
        return (column.name.removesuffix("SourcedId"),)
    if column.kind == Kind.REF_LIST:
        return (column.name.removesuffix("SourcedIds") + "s",)
    return JSON_NAMES.get(column.name, (column.name,))


def record_schema(file: str, version: str) -> pl.Struct:
    """The fields of a collection's JSON record that its CSV file is made from, with their
    types; the Polars schema a page is decoded with."""
    spec = SPECS_BY_VERSION[version][file]
    fields = {
        name: _DTYPES.get(column.kind, pl.String)
        for column in spec.columns
        if column.name not in NEVER_READ
        for name in json_names(column)
    }
    if version == "1.2" and file == "users":
        fields |= {"roles": _ROLES_12, "userProfiles": _PROFILES_12}
    return pl.Struct(fields)


def csv_rows(file: str, version: str, records: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The CSV files the JSON `records` of a collection make (decoded with `record_schema`):
    the file itself, and for 1.2 users also roles and userProfiles."""
    spec = SPECS_BY_VERSION[version][file]
    rows = {file: records.select(*(_csv_value(column) for column in spec.columns))}
    if version == "1.2" and file == "users":
        specs = SPECS_BY_VERSION["1.2"]
        profiles = _user_profiles(records)
        written = profiles.filter(pl.col(_HAS_CREDENTIAL))
        unwritten = profiles.filter(~pl.col(_HAS_CREDENTIAL))["sourcedId"]
        # a role naming a profile left out names none: its reference would resolve nowhere
        gone = unwritten.filter(~unwritten.is_in(written["sourcedId"].implode()))
        rows["roles"] = _in_spec_order(_roles(records, gone), specs["roles"])
        if written.height:  # rosterflow syncs no profiles: a roster without any leaves it out
            rows["userProfiles"] = _in_spec_order(written, specs["userProfiles"])
    return rows


def left_out(file: str, version: str, records: pl.DataFrame) -> dict[str, int]:
    """What `csv_rows` leaves out of the CSV files of a collection's JSON `records`, per file:
    the 1.2 user profiles without a credential, which the CSV binding cannot carry (a
    userProfiles.csv row is a profile and one credential, `credentialType` and `username`
    required). Empty when nothing is."""
    if version != "1.2" or file != "users":
        return {}
    found = _user_profiles(records).select((~pl.col(_HAS_CREDENTIAL)).sum()).item()
    return {"userProfiles": found} if found else {}


def _csv_value(column: Column) -> pl.Expr:
    if column.name in NEVER_READ:
        return pl.lit(None, pl.String).alias(column.name)
    names = json_names(column)
    value = pl.coalesce(*names) if len(names) > 1 else pl.col(names[0])
    return _as_text(value, column.kind).alias(column.name)


def _as_text(value: pl.Expr, kind: Kind) -> pl.Expr:
    if kind == Kind.REF:
        return value.struct.field("sourcedId")
    if kind == Kind.REF_LIST:
        return _joined(value.list.eval(pl.element().struct.field("sourcedId")))
    if kind in (Kind.LIST, Kind.GRADES):
        return _joined(value)
    if kind == Kind.USER_IDS:
        item = pl.element().struct
        return _joined(
            value.list.eval(pl.format("{{{}:{}}}", item.field("type"), item.field("identifier")))
        )
    if kind == Kind.DATE:
        return _date(value)
    if kind == Kind.DATETIME:
        return _datetime(value)
    return value


def _joined(items: pl.Expr) -> pl.Expr:
    """A list as one comma-separated field; an empty list is an empty field."""
    return pl.when(items.list.len() > 0).then(items.list.join(","))


def _date(value: pl.Expr) -> pl.Expr:
    """A date; one sent as a timestamp (`2024-08-15T00:00:00.000Z`, or with a space or a
    lowercase `t` for the `T`, which was kept whole and refused as no date, where its
    dateLastModified so written was read) keeps its date."""
    return (
        pl.when(value.str.contains(r"^\d{4}-\d{2}-\d{2}[Tt ]\d"))
        .then(value.str.head(10))
        .otherwise(value)
    )


def _datetime(value: pl.Expr) -> pl.Expr:
    """An ISO 8601 timestamp as the CSV binding writes it, in UTC to the millisecond; one
    without a zone is taken as UTC (the binding's times are all UTC: a SIS that leaves out its
    `Z` means it), a date alone as its midnight; what does not parse is kept as sent, for
    validation to name. The forms validation accepts with a warning (a space for the `T`, no
    seconds, a decimal comma) are read too: kept as sent, they gave a warning per record. So
    is a zone of hours alone (`+00`, as PostgreSQL writes a timestamptz), which ISO 8601
    allows and the parser does not: kept as sent, every record was an error, and the run
    rejected."""
    text = (
        value.str.replace(r"^(\d{4}-\d{2}-\d{2}) (\d)", "${1}T${2}")
        .str.replace(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})(Z|[+-]|$)", "${1}:00${2}")
        .str.replace(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}),", "${1}.")
        .str.replace(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?[+-]\d{2})$", "${1}:00")
    )
    parsed = pl.coalesce(
        text.str.to_datetime("%+", strict=False, time_zone="UTC"),
        text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False).dt.replace_time_zone("UTC"),
        text.str.to_datetime("%Y-%m-%d", strict=False).dt.replace_time_zone("UTC"),
    )
    # a moment whose UTC falls outside years 0001-9999 (`9999-12-31T23:59:59-05:00`, a
    # "never" some SIS write) has no four-digit year there: written `+10000-01-01T…Z`, it was
    # refused as no date-time, naming a value the server never sent. It is kept as sent
    writable = parsed.dt.year().is_between(1, 9999)
    return pl.coalesce(pl.when(writable).then(parsed.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")), value)


def _exploded(records: pl.DataFrame, field: str) -> pl.DataFrame:
    """One row per item of the list `field` of each user, with the user's own columns."""
    return (
        records.select(
            pl.col("sourcedId").alias("userSourcedId"),
            _as_text(pl.col("status"), Kind.STATUS).alias("status"),
            _datetime(pl.col("dateLastModified")).alias("dateLastModified"),
            pl.col(field).alias("item"),
        )
        .filter(pl.col("item").list.len() > 0)
        .explode("item")
        .with_columns(pl.int_range(pl.len()).over("userSourcedId").alias("nth"))
        .unnest("item")
    )


def _roles(records: pl.DataFrame, gone: pl.Series) -> pl.DataFrame:
    """The users' roles as roles.csv rows; a role naming a profile of `gone` names none."""
    profile = pl.col("userProfile")
    return _exploded(records, "roles").select(
        pl.format("{}.role.{}", "userSourcedId", "nth").alias("sourcedId"),
        "status",
        "dateLastModified",
        "userSourcedId",
        "roleType",
        "role",
        _date(pl.col("beginDate")).alias("beginDate"),
        _date(pl.col("endDate")).alias("endDate"),
        pl.col("org").struct.field("sourcedId").alias("orgSourcedId"),
        pl.when(~profile.is_in(gone.implode())).then(profile).alias("userProfileSourcedId"),
    )


def _user_profiles(records: pl.DataFrame) -> pl.DataFrame:
    """Every profile of the users as a userProfiles.csv row with its first credential, and
    whether it has one (`_HAS_CREDENTIAL`: a row without one is none the binding allows)."""
    credential = pl.col("credentials").list.first().struct
    return _exploded(records, "userProfiles").select(
        pl.col("profileId").alias("sourcedId"),
        "status",
        "dateLastModified",
        "userSourcedId",
        "profileType",
        "vendorId",
        "applicationId",
        "description",
        credential.field("type").alias("credentialType"),
        credential.field("username").alias("username"),
        (pl.col("credentials").list.len().fill_null(0) > 0).alias(_HAS_CREDENTIAL),
    )


def _in_spec_order(frame: pl.DataFrame, spec: FileSpec) -> pl.DataFrame:
    return frame.select(
        pl.col(c).cast(pl.String) if c in frame.columns else pl.lit(None, pl.String).alias(c)
        for c in spec.header
    )
