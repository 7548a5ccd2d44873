"""Validate a feed: headers, rows (pandera models), lenient reads, cross-file checks.

`validate_feed` never raises for bad content: every problem becomes a row of the issues frame.
Files whose header is wrong are reported and left out of the row checks (their rows cannot be
read reliably); references into such a file are not checked.

A OneRoster 1.2 feed's files are checked against the 1.2 models and its references resolved
among its 1.2 files; then it is read as 1.1 files (`schemas.v12`), and the checks that concern
what the sync makes of the records (cycles, logins, platform warnings) and the comparison with
the stored records run on those, exactly as for a 1.1 feed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace

import pandera.polars as pa
import polars as pl

from rosterflow.schemas.by_lines import LineDelta, StoredRecords, read_by_lines
from rosterflow.schemas.csvfile import LINE, ParsedCsv, is_utf8
from rosterflow.schemas.feed import Feed
from rosterflow.schemas.identity import (
    IDENTITY_KEYS,
    INVISIBLE_CHARACTER,
    login,
    login_issues,
    looks_alike,
    with_comparable_login,
)
from rosterflow.schemas.issues import (
    ISSUE_SCHEMA,
    count_errors,
    issue_frame,
    issue_row,
    issues_from,
    sort_issues,
)
from rosterflow.schemas.lenient import normalize
from rosterflow.schemas.lines import KEYED_FILES
from rosterflow.schemas.models import FINITE_NUMBER
from rosterflow.schemas.prescreen import suspect_rows
from rosterflow.schemas.records import ROW_HASH, RecordChanges, record_changes, row_hashes
from rosterflow.schemas.references import (
    CLOSED_SCHEMA,
    KnownIds,
    Reference,
    changed_part,
    closed_references,
    cycle_issues,
    date_order_issues,
    dropped_record_issues,
    dropped_records_checked,
    dropping_referrers,
    kept_part,
    list_length_issues,
    live,
    platform_issues,
    range_order_issues,
    reference_issues,
    removal_referrers,
    removed_record_issues,
    stated,
    title_variant_issues,
)
from rosterflow.schemas.settings import Settings
from rosterflow.schemas.spec import (
    FILE_SPECS,
    FILE_SPECS_12,
    LEGACY_USERS_12_COLUMN,
    MANIFEST_FILE,
    MODELS_BY_VERSION,
    ONEROSTER_10_COLUMNS,
    ONEROSTER_11_USER_COLUMNS,
    FileSpec,
    Kind,
)
from rosterflow.schemas.v12 import as_v11


@dataclass
class ValidatedFeed:
    feed: Feed
    # file -> normalized rows (spec columns + __line; + row_hash where records were compared)
    tables: dict[str, pl.DataFrame]
    issues: pl.DataFrame
    checked_rows: dict[str, int] | None = None  # file -> rows the per-row checks looked at
    # bulk file -> how its records differ from the stored ones (when stored ones were given)
    changes: dict[str, RecordChanges] | None = None
    # `file, column, target` of the references between bulk files that no record fails
    closed: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=CLOSED_SCHEMA))
    # the files read by their changed lines (`schemas.by_lines`), whose `feed.files` hold those
    # lines alone: each as its whole parse would have it (`LineDelta.whole`)
    read_by_lines: Mapping[str, ParsedCsv] = field(default_factory=dict)

    @property
    def error_count(self) -> int:
        return count_errors(self.issues)

    @property
    def ok(self) -> bool:
        return self.error_count == 0


def validate_feed(
    feed: Feed,
    settings: Settings | None = None,
    known: KnownIds | None = None,
    stored: Mapping[str, pl.DataFrame] | None = None,
    validated: Collection[str] = (),
    closed: Collection[Reference] = (),
    by_lines: Mapping[str, LineDelta] | None = None,
    kept_in_place: bool = False,
    carried: Mapping[str, pl.DataFrame] | None = None,
) -> ValidatedFeed:
    """Every issue of the feed.

    `stored` gives, per file, the `sourcedId, row_hash` of the records a warehouse holds: each
    bulk file among them is compared with them (`ValidatedFeed.changes`, its rows get their
    `row_hash`). For the files in `validated`, whose stored records were validated under these
    very settings, the records found unchanged skip the per-row checks, which cannot find
    anything new in them; their lenient reads are still reported, and the checks across rows
    and files see every row, but for the references in `closed`: those the stored records hold
    closed (`ValidatedFeed.closed` of the run that stored them), of which only the records that
    changed and those pointing at a record that went are looked at (`schemas.references`).

    A file in `by_lines` was read by its changed lines (`schemas.by_lines`, `feed.files` has
    those alone): they are checked as a whole file's changed records are, and the records of
    the others stand in for them in the checks across rows and files: on lines -1, -2, ...,
    or with `kept_in_place` on their lines in the file (`LineDelta.with_kept`). Of such a file
    stored under these settings (`validated`), the checks of one row and of the rows sharing
    a value (a login, a class's primary teachers) look at the changed lines and the kept
    records sharing a value with them alone (`schemas.references.ChangedLines` says why).

    `carried` holds the tenant's stored records (1.1-shaped, as `warehouse.records.
    stored_records` reads them) of the files `carried_records_needed` names, for the checks a
    delta needs them for: a OneRoster 1.2 users.csv delta's user sent without any roles.csv row
    keeps the role and orgs stored (`schemas.v12.roles_kept`; without the stored users such a
    user is an error when the warehouse is known, `known`, a warning when it is not), and a
    record a delta file removes is warned about when stored records the feed does not send
    still name it (`references.removed_record_issues`: a child org, a parent naming a student,
    a class naming a term...)."""
    settings = settings or Settings()
    by_lines = by_lines or {}
    found: list[pl.DataFrame | pl.LazyFrame] = [feed.issues]
    tables: dict[str, pl.DataFrame] = {}
    checked_rows: dict[str, int] = {}
    changes: dict[str, RecordChanges] = {}
    # per file read by its changed lines under these settings, how many rows its table begins
    # with that are those lines' (`schemas.references.ChangedLines`)
    changed_lines: dict[str, int] = {}
    unread = unread_records(feed.files)
    for name, parsed in feed.files.items():
        spec = feed.specs[name]
        # the stored records are 1.1-shaped: their hashes tell which rows of a file are as
        # stored when the file has 1.1's columns (every 1.1 file, most 1.2 ones); the rows of
        # a 1.2 users.csv are compared once read as 1.1 (below), and all checked
        compare_rows = name in FILE_SPECS and spec.header == FILE_SPECS[name].header
        rows, header_problems = readable_rows(spec, parsed)
        found.append(issue_frame(header_problems))
        if rows is None:
            continue
        delta = by_lines.get(name)
        # a delta file of no records says that nothing changed: nothing to warn about
        empty_bulk = feed.modes[name] == "bulk" and (delta is None or delta.kept == 0)
        # (a file whose every record is ragged holds records, none of them readable)
        if rows.height == 0 and empty_bulk and name not in unread:
            found.append(
                issue_frame(
                    [
                        issue_row(
                            spec.file_name,
                            None,
                            None,
                            None,
                            "file.empty",
                            "warning",
                            "the file has a header and no records",
                        )
                    ]
                )
            )
        # the distinct values of the columns judged once per value, found for both the
        # lenient reads and the pre-screen
        distinct: dict[str, pl.Series] = {}
        normalized, warnings = normalize(rows, spec, distinct)
        checked = normalized
        if delta is not None:  # every changed line is checked, and no other
            normalized, changes[name] = delta.compared(name, normalized)
        elif compare_rows and stored is not None and name in stored and feed.modes[name] == "bulk":
            normalized, changes[name] = _compared(name, normalized, stored[name])
            if name in validated:
                checked = normalized.filter(
                    _new_or_repeated(normalized, changes[name], stored[name].height)
                ).drop(ROW_HASH)
        checked_rows[name] = checked.height
        found += [
            warnings,
            model_issues(checked, spec, distinct),
            # the warnings of IDs that read as others are on every row, the unchanged too, as
            # the lenient reads' are: a stored record keeps no warning, and `--full` raises
            # them again (a file read by its changed lines has those alone, among them the
            # lines an issue stood on, read again). A file whose bytes are all ASCII holds no
            # character a screen does not show
            pl.LazyFrame(schema=ISSUE_SCHEMA)
            if parsed.ascii
            else invisible_character_issues(normalized, spec, settings.identity.key),
            spaced_id_issues(normalized, spec, parsed.spaces_only),
            blank_value_issues(normalized, spec, parsed.spaces_only),
        ]
        found += row_rule_issues(checked, spec, feed.modes[name], settings)
        if delta is None:
            tables[name] = normalized
        else:
            tables[name] = delta.with_kept(spec, normalized, kept_in_place)
            if name in validated:
                changed_lines[name] = normalized.height

    # a 1.2 feed's references are checked among its 1.2 files, which no stored records are
    # shaped like: only a 1.1 feed's are checked incrementally, or found closed for the next
    as_stored = feed.version == "1.1"
    if not as_stored:  # (the tables are read as 1.1 below)
        changed_lines = {}
    # the files a quote left open cut short (`file.quote`): their records past it unread, a
    # record missing from them is no finding
    cut_short = {
        name
        for name, parsed in feed.files.items()
        if parsed.issues.height and (parsed.issues["rule"] == "file.quote").any()
    }
    found += reference_issues(
        tables,
        feed.modes,
        known,
        feed.specs,
        changes if as_stored else None,
        closed,
        changed_lines,
        cut_short,
        unread,
    )
    referring = dict(tables) if as_stored else {}
    if feed.version == "1.2":
        tables, reading = as_v11(
            tables, feed.modes, (carried or {}).get("users"), verifiable=known is not None
        )
        found += reading
        for name in tables.keys() & (stored or {}).keys():
            if feed.modes[name] == "bulk" and name not in changes:
                tables[name], changes[name] = _compared(name, tables[name], stored[name])
    found += cycle_issues(tables)
    found += removed_record_issues(tables, feed.modes, carried or {})
    found += title_variant_issues(tables, feed.modes, carried or {})
    found += platform_issues(tables, feed.modes, changed_lines, cut_short | unread.keys())
    if "users" in tables:
        users = tables["users"]
        if "users" in changed_lines:  # (its kept records state theirs)
            changed_users = live(changed_part(users, "users", changed_lines))
            users = pl.concat([changed_users, kept_part(users, "users", changed_lines)])
            found += login_issues(users, settings.identity.key, changed_users.height)
        else:
            found += login_issues(live(users), settings.identity.key)
    found += list_length_issues(tables)
    found += date_order_issues(tables, changed_lines)
    found += range_order_issues(tables)
    found.append(required_file_issues(feed, settings))
    issues = without_passwords(pl.concat([frame.lazy() for frame in found]), feed.specs).collect()
    closed_now = closed_references(issues, referring, feed.modes, feed.specs)
    return ValidatedFeed(
        feed,
        tables,
        sort_issues(issues),
        checked_rows,
        changes,
        closed_now,
        {name: delta.whole for name, delta in by_lines.items()},
    )


PASSWORD = "password"
# what an issue shows for a password: `audit.issues`, the reports and notifications hold no
# password (as no table does: `schemas.records`)
PASSWORD_HIDDEN = "(a password, not shown)"
# the issues whose value is the text of a record, or of a line from a value on, not of one
# field: in a file with passwords, shown up to the record's first comma (its sourcedId)
_RECORD_TEXT_RULES = ("file.ragged", "file.quote")


def without_passwords(issues: pl.LazyFrame, specs: Mapping[str, FileSpec]) -> pl.LazyFrame:
    """`issues` with no password in them: of a file with a password column (users.csv), an
    issue of that column shows `PASSWORD_HIDDEN` for its value (and for what a value quoted
    amiss was read as), one that shows a record's text its first value alone."""
    files = [spec.file_name for spec in specs.values() if PASSWORD in spec.header]
    if not files:
        return issues
    in_file = pl.col("file").is_in(files)
    of_password = in_file & (pl.col("field") == PASSWORD)
    record_text = (
        in_file & pl.col("rule").is_in(_RECORD_TEXT_RULES) & pl.col("field").ne_missing(PASSWORD)
    )
    return issues.with_columns(
        pl.when(of_password & pl.col("value").is_not_null())
        .then(pl.lit(PASSWORD_HIDDEN))
        .when(record_text & pl.col("value").str.contains(",", literal=True))
        .then(pl.col("value").str.extract(r"^([^,]*)") + ",…")
        .otherwise(pl.col("value"))
        .alias("value"),
        pl.when(of_password & (pl.col("rule") == "value.quote"))
        .then(
            pl.col("message").str.replace(
                r"read as .*: a quote inside", f"read as {PASSWORD_HIDDEN}: a quote inside"
            )
        )
        .otherwise(pl.col("message"))
        .alias("message"),
    )


def unread_records(files: Mapping[str, ParsedCsv]) -> dict[str, pl.Series]:
    """Per file, the sourcedIds of its records on lines that could not be read (`file.ragged`:
    the issue's value is the record's values joined by commas, its sourcedId first). Such a
    record is in the file: a reference to it resolves, as far as the feed can tell, and the
    file is not empty."""
    unread = {}
    for name, parsed in files.items():
        ragged = parsed.issues.filter(pl.col("rule") == "file.ragged")
        if ragged.height:
            unread[name] = ragged.select(
                pl.col("value").str.extract(r"^([^,]*)").alias("sourcedId")
            ).to_series()
    return unread


def carried_records_needed(feed: Feed) -> tuple[str, ...]:
    """The files whose stored records a sync with a warehouse passes to `validate_feed` as
    `carried`: users for a OneRoster 1.2 users.csv delta (the role and orgs of a user sent
    without roles.csv rows are kept as stored), and, for a delta file that removes records,
    the files not sent in bulk whose stored records may name them (`references.
    removal_referrers`: an org's child orgs, a user's parents, a term's classes...), and the
    courses for a courses.csv delta (its titles are compared with theirs). Other runs need
    none: a feed of bulk and absent files is not looked at."""
    needed = []
    if feed.version == "1.2" and feed.modes.get("users") == "delta":
        needed.append("users")
    deltas = [name for name, mode in feed.modes.items() if mode == "delta"]
    if deltas:
        # a removal as the status check reads it, in any letter case (a delta file is small)
        removal = pl.col("status").str.strip_chars().str.to_lowercase() == "tobedeleted"
        removing = [
            name
            for name in deltas
            if (parsed := feed.files.get(name)) is not None
            and "status" in parsed.rows.columns
            and parsed.rows.select(removal.any()).item()
        ]
        needed += removal_referrers(feed.modes, removing)
    if feed.modes.get("courses") == "delta":
        # its titles are compared with the stored courses' (`references.title_variant_issues`)
        needed.append("courses")
    return tuple(dict.fromkeys(needed))


def stored_login_issues(users: pl.DataFrame, sent: pl.DataFrame | None, key: str) -> pl.LazyFrame:
    """Errors for the logins (under `key`) that a feed without a bulk users.csv leaves empty or
    shared once its users combine with the stored ones, as a sync's validation and `validate
    --warehouse` both report them (`flows.steps.with_stored_logins`). `users` are the SIS's
    users after the feed (`transforms.source_state.next_source_state`: a delta's rows replace
    the stored records of their sourcedIds, its removals remove them); `sent` the rows of its
    users.csv delta (with `__line`), None when users.csv is absent.

    Only what `login_issues` cannot see among the rows sent is reported: a sent user whose login
    a stored user (one the feed does not send) has too, on the sent row's line, naming the
    stored users; stored users sharing a login among themselves, or without one (as after a
    change of `[identity] key`), on no line, as they are in no file of the feed."""
    if key == "sourcedId":  # required and unique: never empty nor shared
        return pl.LazyFrame(schema=ISSUE_SCHEMA)
    column = IDENTITY_KEYS[key]
    lines = (
        pl.LazyFrame(schema={"sourcedId": pl.String, LINE: pl.Int64})
        if sent is None
        else live(sent).lazy().select("sourcedId", LINE).unique("sourcedId", keep="first")
    )
    combined = (
        with_comparable_login(users.lazy().select("sourcedId", column), key)
        .join(lines, on="sourcedId", how="left")
        # a sent user stands on its line in the feed; the others are stored alone
        .with_columns(pl.col(LINE).is_null().alias("__stored"))
    )
    # logins that print alike yet were stored apart: an accent as a mark of its own, or a
    # character a screen does not show. Told per user from `__apart`, the login stated where
    # the one compared is another (null for all but a few), in two steps so that it is
    # computed once
    stated = login(key).str.to_lowercase()
    decomposed, invisible = looks_alike(pl.col("__apart"))
    shared = (
        combined.filter(pl.col("__login").is_not_null())
        .with_columns(pl.when(stated != pl.col("__login")).then(stated).alias("__apart"))
        .with_columns(decomposed.alias("__decomposed"), invisible.alias("__invisible"))
        .group_by("__login")
        .agg(
            pl.col("sourcedId").filter(pl.col("__stored")).sort().alias("__stored_ids"),
            (~pl.col("__stored")).sum().alias("__sent"),
            pl.len().alias("__users"),
            pl.col(column).sort_by("sourcedId").first().alias("__value"),
            pl.col("__decomposed").any(),
            pl.col("__invisible").any(),
        )
        # a login only sent users share is `login_issues`' to report
        .filter(pl.col("__users") > 1, pl.col("__stored_ids").list.len() > 0)
    )
    stored_alone = combined.filter(pl.col("__login").is_null(), pl.col("__stored")).select(
        pl.col("sourcedId").sort().implode().alias("__stored_ids")
    )
    kept = "stored in the warehouse, and kept by a feed that does not send users.csv in bulk"
    prefix = pl.lit(f"[identity] key = {key!r}: ")
    hint = pl.concat_str(
        pl.when(pl.col("__decomposed"))
        .then(
            pl.lit(
                "; an accent of one of them is stored as a mark after its letter (Unicode NFD), "
                "which sign-in reads as the accented letter"
            )
        )
        .otherwise(pl.lit("")),
        pl.when(pl.col("__invisible"))
        .then(
            pl.lit(
                "; one of them holds a character a screen does not show, which sign-in leaves out"
            )
        )
        .otherwise(pl.lit("")),
    )
    remedy = "in the SIS, or send users.csv whole"
    return pl.concat(
        [
            issues_from(
                combined.filter(~pl.col("__stored")).join(shared, on="__login"),
                file="users.csv",
                field=column,
                value=pl.col(column),
                rule="identity.login_duplicate",
                severity="error",
                message=pl.concat_str(
                    prefix,
                    pl.format(
                        f"another user signs in with this {column} too ({{}}: {kept})",
                        _listed(pl.col("__stored_ids")),
                    ),
                    hint,
                    pl.lit(f"; fix it {remedy}"),
                ),
            ),
            issues_from(
                shared.filter(pl.col("__sent") == 0).with_columns(
                    pl.lit(None, pl.Int64).alias(LINE)
                ),
                file="users.csv",
                field=column,
                value=pl.col("__value"),
                rule="identity.login_duplicate",
                severity="error",
                message=pl.concat_str(
                    prefix,
                    pl.format(
                        f"users {kept}, sign in with this {column} alike ({{}})",
                        _listed(pl.col("__stored_ids")),
                    ),
                    hint,
                    pl.lit(f"; fix them {remedy}"),
                ),
            ),
            issues_from(
                stored_alone.filter(pl.col("__stored_ids").list.len() > 0).with_columns(
                    pl.lit(None, pl.Int64).alias(LINE)
                ),
                file="users.csv",
                field=column,
                value=pl.lit(None, pl.String),
                rule="identity.login_missing",
                severity="error",
                message=pl.concat_str(
                    prefix,
                    pl.format(
                        f"users {kept}, have no {column} to sign in with ({{}})",
                        _listed(pl.col("__stored_ids")),
                    ),
                    pl.lit(f"; fix them {remedy}"),
                ),
            ),
        ]
    )


def _listed(ids: pl.Expr, shown: int = 3) -> pl.Expr:
    """A sorted list of sourcedIds as a message names them: `u2, u7, u9 and 4 more`."""
    more = ids.list.len().cast(pl.Int64) - shown
    return pl.concat_str(
        ids.list.head(shown).list.join(", "),
        pl.when(more > 0).then(pl.format(" and {} more", more)).otherwise(pl.lit("")),
    )


# the tenant's sourcedIds per stored file, or what reads them (asked only for a file the run
# did not compare with its stored records)
StoredIds = Mapping[str, pl.Series] | Callable[[], Mapping[str, pl.Series]]


def with_dropped_records(
    validated: ValidatedFeed,
    stored_ids: StoredIds,
    read: Callable[[tuple[str, ...]], Mapping[str, pl.DataFrame]],
    carried: Mapping[str, pl.DataFrame] | None = None,
) -> tuple[ValidatedFeed, dict[str, pl.DataFrame]]:
    """`validated` with a warning on each record a bulk file no longer states (of those
    `stored_ids` holds: the tenant's sourcedIds per file) that stored records of a file absent
    or sent as a delta, and not sent, still name (`references.dropped_record_issues`: the
    stored enrollments of a user users.csv drops while enrollments.csv is absent...), and the
    stored records it needed: `carried` (those read before), and those `read` reads of the
    files `references.dropping_referrers` names that it does not hold and the tenant holds
    records of (`stored_ids`).

    A feed whose files such a file refers to are all absent or deltas (a feed of bulk files
    alone: most syncs) is not looked at, and the stored records are read only when a bulk file
    dropped records."""
    carried = dict(carried or {})
    dropped = dropped_records(validated, stored_ids)
    if not dropped:
        return validated, carried
    modes = validated.feed.modes
    ids = stored_ids() if callable(stored_ids) else stored_ids
    # a file of which the tenant holds no record names nothing: not read (the content files
    # of a district that never sent any, absent from every feed)
    needed = tuple(
        name
        for name in dropping_referrers(modes, dropped)
        if name not in carried and (held := ids.get(name)) is not None and held.len()
    )
    if needed:
        carried |= read(needed)
    found = dropped_record_issues(validated.tables, modes, dropped, carried)
    if not found:
        return validated, carried
    issues = pl.concat([validated.issues.lazy(), *found]).collect()
    return replace(validated, issues=sort_issues(issues)), carried


def dropped_records(validated: ValidatedFeed, stored_ids: StoredIds) -> dict[str, pl.DataFrame]:
    """Per bulk file that a file absent or sent as a delta may refer to (`references.
    dropped_records_checked`), `sourcedId, __line` of the records `stored_ids` holds that it no
    longer states, when there are any: on the line of a row marking one tobedeleted, else on
    none. The comparison the run made already (`ValidatedFeed.changes`) says which, else the
    file's sourcedIds are compared with the stored ones."""
    found: dict[str, pl.DataFrame] = {}
    for name in dropped_records_checked(validated.feed.modes):
        rows = validated.tables.get(name)
        if rows is None:
            continue
        compared = (validated.changes or {}).get(name)
        if compared is not None:  # (none removed of a file never stored)
            gone = compared.removed
        else:
            stored = (stored_ids() if callable(stored_ids) else stored_ids).get(name)
            if stored is None or stored.len() == 0:
                continue
            gone = stored.filter(~stored.is_in(live(rows).get_column("sourcedId").implode()))
        if gone.len() == 0:
            continue
        marked = (
            rows.lazy()
            .filter(pl.col("status") == "tobedeleted")
            .select("sourcedId", LINE)
            .unique("sourcedId", keep="first")
        )
        found[name] = (
            gone.to_frame("sourcedId").lazy().join(marked, on="sourcedId", how="left").collect()
        )
    return found


def files_read_by_lines(feed: Feed) -> list[str]:
    """The files of `feed` a run with a warehouse reads by their changed lines: those of
    `KEYED_FILES` sent in bulk; none in a feed whose stored records cannot stand in for its
    lines (OneRoster 1.2, whose users are read from two files; a file sent as a delta, whose
    records mix with earlier ones; a feed not in UTF-8, whose lines are not hashed; an issue
    reading the feed)."""
    if (
        feed.version != "1.1"
        or not is_utf8(feed.encoding)
        or feed.read_issues.height
        or any(mode not in ("bulk", "absent") for mode in feed.modes.values())
    ):
        return []
    return [name for name in KEYED_FILES if feed.modes.get(name) == "bulk" and name in feed.members]


def validate_by_lines(
    feed: Feed, settings: Settings, stored: StoredRecords, in_place: bool = False
) -> ValidatedFeed | None:
    """The feed's issues, as `validate_feed` finds them with the tenant's records `known`,
    from the changed lines of users.csv and enrollments.csv and the stored records of their
    other lines (`schemas.by_lines`); the other files are parsed and compared with the stored
    records. The feed was read with those two files `unparsed` (`Feed.read`). None when the
    stored records cannot stand in (a 1.2 feed or a delta file, records stored under other
    settings or without line keys, a file that needs its whole parse): the caller validates
    the feed as a whole. The tables of the files read by lines hold the changed lines' rows,
    then the stored fields of the other records on lines -1, -2, ... (the issues are placed
    on their lines), or `in_place` on their lines in the file (a sync's: its plan reads every
    field of the stored records, and their lines)."""
    names = files_read_by_lines(feed)
    if not names:
        return None
    deltas: dict[str, LineDelta] = {}
    for name in names:
        records = stored.usable.get(name)
        if records is None:
            return None
        spec, content = feed.specs[name], feed.contents[name]
        delta = (
            content.delta
            if content.delta_read  # (in its reading thread)
            else read_by_lines(spec, content.texts, records, content.lines)
        )
        if delta is None:
            return None
        deltas[name] = delta
    feed.parse(given={name: delta.parsed for name, delta in deltas.items()})
    known = {name: records["sourcedId"] for name, records in stored.records.items()}
    validated = validate_feed(
        feed, settings, known, stored.records, stored.trusted, stored.closed, deltas, in_place
    )
    issues = validated.issues
    for name, delta in deltas.items():
        issues = delta.placed(issues, feed.specs[name].file_name)
    return replace(validated, issues=sort_issues(issues))


def _compared(
    name: str, rows: pl.DataFrame, stored: pl.DataFrame
) -> tuple[pl.DataFrame, RecordChanges]:
    """A bulk file's rows with their row hashes, and how its records differ from `stored`."""
    hashed = rows.with_columns(row_hashes(name, rows))
    return hashed, record_changes(stored, hashed.filter(stated()))


def _new_or_repeated(rows: pl.DataFrame, changes: RecordChanges, stored: int) -> pl.Series:
    """Rows not validated before (removals, and records new or changed), and every row of a
    repeated sourcedId (the uniqueness check must see each copy), given how the rows' records
    differ from the `stored` ones (that many, each sourcedId once).

    A row whose sourcedId is a changed record's is looked at, so a changed row's twin is too;
    what is left are unchanged rows repeating one another. A row hash covers the sourcedId, so
    each unchanged row is the one stored record of its hash: they repeat none exactly when the
    rows are as many as the stored records less the removed plus the added, which spares a
    pass over every sourcedId."""
    ids = rows["sourcedId"]
    removals = ~rows.select(stated()).to_series()
    # a row without a sourcedId is no stored record's: looked at (its `required` error)
    changed = ids.is_in(changes.changed.implode()).fill_null(True)
    if not removals.any() and rows.height == (stored - changes.removed.len() + changes.added.len()):
        return changed
    return removals | changed | ids.is_duplicated()


# --- headers --------------------------------------------------------------------------------


def readable_rows(spec: FileSpec, parsed: ParsedCsv) -> tuple[pl.DataFrame | None, list[dict]]:
    """The file's rows in spec order (with their lines), or None when the header is wrong or
    the file's lines cannot be read; and the header's issues. A 1.2 users.csv in the layout of
    1.2 before its 1.2.1 errata (with resourceSourcedIds after password) is read with a
    warning, without that column."""
    if not parsed.readable:  # its lines are no records (another separator): the parse said so
        return None, []
    header = parsed.header
    problems: list[dict] = []
    if spec.version == "1.2" and spec.name == "users" and LEGACY_USERS_12_COLUMN in header:
        without = tuple(name for name in header if name != LEGACY_USERS_12_COLUMN)
        if not header_issues(spec, without) and header.index(LEGACY_USERS_12_COLUMN) == 16:
            header = without
            problems.append(
                issue_row(
                    spec.file_name,
                    1,
                    LEGACY_USERS_12_COLUMN,
                    LEGACY_USERS_12_COLUMN,
                    "header.legacy",
                    "warning",
                    "the OneRoster 1.2 (2022) users.csv layout: resourceSourcedIds, dropped by "
                    "the 1.2.1 errata (a user's resources are rows of userResources.csv), is "
                    "ignored",
                )
            )
    problems += header_issues(spec, header)
    if any(problem["severity"] == "error" for problem in problems):
        return None, problems
    return parsed.rows.select(*spec.header, LINE), problems


def _other_version_hint(spec: FileSpec, name: str) -> str | None:
    """Why a column the file does not have may be in it: it is the other version's."""
    if spec.version == "1.2":
        if spec.name == "users" and name in ONEROSTER_11_USER_COLUMNS:
            return (
                f"{name} is a OneRoster 1.1 column: in 1.2 a user's orgs and role are rows of "
                "roles.csv (and primaryOrgSourcedId)"
            )
        if spec.name in FILE_SPECS and name in FILE_SPECS[spec.name].header:
            return f"{name} is a OneRoster 1.1 column, not one of 1.2's {spec.file_name}"
    elif spec.name in FILE_SPECS_12 and name in FILE_SPECS_12[spec.name].header:
        # (said so of a manifest that states no version too: its feed is read as 1.1)
        return f"{name} is a OneRoster 1.2 column, and this feed is read as OneRoster 1.1"
    return None


def _visible(name: str, shown: str = "\\u{:04x}") -> str:
    """`name` with each character a screen does not show (a byte-order mark, a zero-width
    space, a control character) as \\uXXXX, or as `shown` formats its code point."""
    if name.isprintable():
        return name
    return "".join(c if c.isprintable() else shown.format(ord(c)) for c in name)


def header_issues(spec: FileSpec, header: tuple[str, ...]) -> list[dict]:
    defined = [name for name in header if not name.startswith("metadata.")]
    extensions_last = header[: len(spec.header)] == spec.header
    if tuple(defined) == spec.header and extensions_last and len(set(header)) == len(header):
        return []
    file_name = spec.file_name
    problems = []

    def problem(field, value, rule, message):
        problems.append(issue_row(file_name, 1, field, value, rule, "error", message))

    if not header:
        problem(None, None, "header.missing", "the file is empty: it needs at least a header line")
        return problems
    by_lower = {name.lower(): name for name in spec.header}
    if not any(_visible(name, "").lower() in by_lower for name in header):
        # a record where the header should be (the header line left out), or another file's
        # header: one error, not one per field that is no column
        problem(
            None,
            _visible(",".join(header)[:200]),
            "header.missing",
            f"the first line is no header line: none of its fields names a column of "
            f"{file_name} (was the header line left out?); the file must start with its header, "
            f"{','.join(spec.header[:3])},...",
        )
        return problems
    for name, count in Counter(header).items():  # each name once, however often it repeats
        if count > 1:
            said = f"column {_visible(name)} appears" if name else "a column with no name appears"
            problem(_visible(name), _visible(name), "header.duplicate", f"{said} {count} times")
    for name in dict.fromkeys(header):
        if name in spec.header or name.startswith("metadata."):
            continue
        if _visible(name) != name:  # a name as the reader sees it, not as a screen shows it
            second_bom = name == header[0] and name.startswith("\ufeff")
            problem(
                _visible(name),
                _visible(name),
                "header.unknown",
                "not a column of this file: the name holds characters a screen does not show, "
                "here as \\uXXXX"
                + (
                    "; \\ufeff is a second byte-order mark at the start of the file"
                    if second_bom
                    else ""
                ),
            )
        elif name.lower() in by_lower:
            problem(
                by_lower[name.lower()],
                name,
                "header.case",
                f"header names are case-sensitive: write {by_lower[name.lower()]}",
            )
        elif name.strip() != name and name.strip().lower() in by_lower:
            problem(
                name,
                name,
                "header.unknown",
                f"the name has spaces around it: write {by_lower[name.strip().lower()]}",
            )
        elif (hint := _other_version_hint(spec, name)) is not None:
            problem(name, name, "header.unknown", hint)
        elif name in ONEROSTER_10_COLUMNS:
            problem(
                name,
                name,
                "header.unknown",
                f"{name} is a OneRoster 1.0 column; this feed must follow OneRoster 1.1",
            )
        else:
            problem(
                name,
                name,
                "header.unknown",
                "not a column of this file (extension columns are named metadata.<name>)",
            )
    present = set(header)
    for name in spec.header:
        if name not in present and name.lower() not in {h.lower() for h in header}:
            problem(
                name,
                None,
                "header.missing",
                f"column {name} is missing (every column must be present, even when empty)",
            )
    if not problems:
        # all defined columns present: they are out of order, or an extension column comes first
        problem(
            None,
            ",".join(header),
            "header.order",
            f"columns must be in the order {','.join(spec.header)}, then metadata.* columns",
        )
    return problems


# --- rows: the pandera models ---------------------------------------------------------------

_FORMAT_RULES = {
    Kind.DATE: ("date", "not a date YYYY-MM-DD"),
    Kind.DATETIME: ("datetime", "not an ISO 8601 date-time (YYYY-MM-DDTHH:MM:SS.sssZ)"),
    Kind.YEAR: ("year", "not a year YYYY"),
    Kind.NUMBER: ("number", "not a number (a decimal such as 8 or 8.5)"),
    Kind.LIST: ("list", "a list item is empty (items are separated by single commas)"),
    Kind.GRADES: ("list", "a list item is empty (items are separated by single commas)"),
    Kind.REF_LIST: ("list", "a list item is empty (items are separated by single commas)"),
    Kind.USER_IDS: ("user_ids", "must be a list of {type:identifier} items"),
}


def model_issues(
    rows: pl.DataFrame, spec: FileSpec, distinct: Mapping[str, pl.Series] | None = None
) -> pl.LazyFrame:
    """Run the file's pandera model over the rows it could reject (see schemas.prescreen,
    which judges once each of the values `distinct` holds of a column: every value the rows
    hold in it, and perhaps more); each failure case becomes an issue row."""
    model = MODELS_BY_VERSION[spec.version][spec.name]
    suspect = suspect_rows(rows, model, distinct)
    if not suspect.any():
        return pl.LazyFrame(schema=ISSUE_SCHEMA)
    rows = rows.filter(suspect)
    try:
        model.validate(rows.drop(LINE), lazy=True)
        return pl.LazyFrame(schema=ISSUE_SCHEMA)
    except pa.errors.SchemaErrors as errors:
        failures = errors.failure_cases
    columns = pl.DataFrame(
        {
            "column": [c.name for c in spec.columns],
            "kind": [str(c.kind) for c in spec.columns],
            "allowed": [
                ", ".join(c.values) + (", or an extension ext:<name>" if c.extensible else "")
                for c in spec.columns
            ],
        }
    )
    format_rules = pl.DataFrame(
        {
            "kind": [str(kind) for kind in _FORMAT_RULES],
            "format_rule": [rule for rule, _ in _FORMAT_RULES.values()],
            "format_message": [message for _, message in _FORMAT_RULES.values()],
        }
    )
    check = pl.col("check")
    rule = (
        pl.when(check == "not_nullable")
        .then(pl.lit("required"))
        .when(check == "field_uniqueness")
        .then(pl.lit("unique"))
        .when(check.str.starts_with("calendar_date"))
        .then(pl.lit("date"))
        .when(_enumeration_check(check))
        .then(
            pl.when(pl.col("kind") == Kind.BOOL)
            .then(pl.lit("boolean"))
            .when(pl.col("kind") == Kind.STATUS)
            .then(pl.lit("status"))
            .otherwise(pl.lit("enum"))
        )
        .when(pl.col("format_rule").is_not_null())
        .then(pl.col("format_rule"))
        .otherwise(pl.format("schema.{}", check))
    )
    message = (
        pl.when(check == "not_nullable")
        .then(pl.format("{} is required", pl.col("column")))
        .when(check == "field_uniqueness")
        .then(pl.format("{} appears more than once in this file", pl.col("column")))
        .when(check.str.starts_with("calendar_date"))
        .then(pl.lit("not a real calendar day"))
        .when(check.str.starts_with(FINITE_NUMBER))
        .then(pl.lit("too large for a number (beyond ±1.8e308)"))
        .when(_enumeration_check(check))
        .then(pl.format("must be one of: {}", pl.col("allowed")))
        .when(pl.col("format_message").is_not_null())
        .then(pl.col("format_message"))
        .otherwise(pl.format("failed check {}", check))
    )
    # a value refused for its form that has spaces around it (` student`, `true `):
    # quoted, the spaces are easy to miss beside "must be one of: ... student"
    value = pl.col("failure_case").cast(pl.String)
    spaced = (
        (check != "not_nullable")
        & (check != "field_uniqueness")
        & (value.str.strip_chars() != value)
    )
    message = (
        pl.when(spaced)
        .then(pl.format("{} (the value has spaces around it)", message))
        .otherwise(message)
    )
    return (
        failures.lazy()
        .with_columns(pl.col("index").cast(pl.Int64))
        .join(
            rows.lazy()
            .select(LINE)
            .with_row_index("index")
            .with_columns(pl.col("index").cast(pl.Int64)),
            on="index",
            how="left",
        )
        .join(columns.lazy(), on="column", how="left")
        .join(format_rules.lazy(), on="kind", how="left")
        .select(
            pl.lit(spec.file_name).alias("file"),
            pl.col(LINE).alias("line"),
            pl.col("column").alias("field"),
            pl.col("failure_case").cast(pl.String).alias("value"),
            rule.alias("rule"),
            pl.lit("error").alias("severity"),
            message.alias("message"),
        )
        .join(_removals(rows), on="line", how="left")
        # a removal needs only its sourcedId: other required fields may be left empty
        .filter(
            ~(
                pl.col("removal").fill_null(False)
                & (pl.col("rule") == "required")
                & (pl.col("field") != "sourcedId")
            )
        )
        .drop("removal")
    )


def _enumeration_check(check: pl.Expr) -> pl.Expr:
    """A check of a vocabulary: `isin`, or the pattern of a 1.2 enumeration that admits ext:."""
    return check.str.starts_with("isin") | (
        (pl.col("kind") == Kind.ENUM) & check.str.starts_with("str_matches")
    )


def _removals(rows: pl.DataFrame) -> pl.LazyFrame:
    return (
        rows.lazy()
        .filter(pl.col("status") == "tobedeleted")
        .select(pl.col(LINE).alias("line"), pl.lit(True).alias("removal"))
    )


def row_rule_issues(
    rows: pl.DataFrame, spec: FileSpec, mode: str, settings: Settings
) -> list[pl.LazyFrame]:
    """Rules of one row that depend on the manifest or the settings, not on the file alone."""
    file_name = spec.file_name
    found = []
    stated = live(rows)
    # a column required of a 1.1 file that its 1.2 file lacks (users' role and orgSourcedIds)
    # is always filled, or its absence reported, when the feed is read as 1.1 (schemas.v12)
    required = [c for c in settings.validation.required.get(spec.name, ()) if c in spec.header]
    for column in required:
        found.append(
            issues_from(
                stated.filter(pl.col(column).is_null()),
                file=file_name,
                field=column,
                value=pl.col(column),
                rule="platform.required",
                severity="error",
                message=f"{column} is required by this platform ([validation] required)",
            )
        )
    if mode == "delta":
        found.append(
            issues_from(
                rows.filter(pl.col("status").is_null()),
                file=file_name,
                field="status",
                value=pl.col("status"),
                rule="delta.status",
                severity="error",
                message="a delta file must say active or tobedeleted for every record",
            )
        )
        found.append(
            issues_from(
                rows.filter(pl.col("dateLastModified").is_null()),
                file=file_name,
                field="dateLastModified",
                value=pl.col("dateLastModified"),
                rule="delta.date_last_modified",
                severity="warning",
                message="a delta file should say when each record changed",
            )
        )
    return found


def invisible_character_issues(rows: pl.DataFrame, spec: FileSpec, key: str) -> pl.LazyFrame:
    """A warning on each sourcedId or reference (`id.invisible`), and on each login of users.csv
    under `[identity] key` = `key` (`identity.login_invisible`), holding a character a screen
    does not show (`schemas.identity.INVISIBLE_CHARACTER`; a control character is an error of
    the CSV reading already, `value.control`).

    Such an ID matches no ID written without it, yet looks the same: on its own the reader sees
    a reference error whose value looks right, or a record that is not the one they meant. Such
    a login is stored as sent, yet its user cannot type it: sign-in compares logins without the
    character (`schemas.identity.same_login`), and two users whose logins differ by it alone
    share one. The issue names the character (as \\uXXXX, in the value too)."""
    ids = {c.name: pl.col(c.name) for c in spec.of_kind(Kind.ID, Kind.REF, Kind.REF_LIST)}
    found = [
        _invisible_issues(
            rows, spec, ids, rule="id.invisible", said="it matches no ID written without it"
        )
    ]
    if spec.name == "users" and key != "sourcedId":  # (a sourcedId is an ID: warned of above)
        found.append(
            _invisible_issues(
                rows,
                spec,
                {IDENTITY_KEYS[key]: login(key)},
                rule="identity.login_invisible",
                said=f"the login ([identity] key = {key!r}) is stored with it, and compared "
                "with other logins without it",
            )
        )
    return pl.concat(found)


# a value of whitespace alone: `str.strip_chars()` would leave it empty (Unicode's White_Space,
# as `\s` is in Polars' patterns), yet the model's `required` sees a value
_BLANK = r"^\s+$"


def blank_value_issues(
    rows: pl.DataFrame, spec: FileSpec, spaces_only: bool = False
) -> pl.LazyFrame:
    """A warning (`value.blank`) on each record whose required text (a name, a title, a
    username) is whitespace alone: the model's `required` takes it for a value, and the
    platform would show a blank name or title (a course's base courses are named by it). On
    every row, unchanged ones too, as `spaced_id_issues`: a stored record keeps no warning.
    One pass finds whether any value is blank before any issue is built; of a file whose one
    whitespace is the space (`spaces_only`), only the values that start with one are matched."""
    columns = [
        column.name
        for column in spec.columns
        if column.required and column.kind == Kind.TEXT and column.name in rows.columns
    ]
    if not columns or rows.height == 0:
        return pl.LazyFrame(schema=ISSUE_SCHEMA)
    blank = {name: pl.col(name).str.contains(_BLANK) for name in columns}
    # (a blank value of such a file starts with a space: a cheap look rules most files out)
    screen = {name: pl.col(name).str.starts_with(" ") for name in columns} if spaces_only else blank
    stating = stated() if "status" in rows.columns else pl.lit(True)
    return _warned_by_column(
        rows,
        spec,
        {name: check & stating for name, check in screen.items()},
        {name: check & stating for name, check in blank.items()},
        "value.blank",
        lambda column: (
            f"{column} is required and holds only whitespace: the platform gets a blank value; "
            "fill it in the SIS"
        ),
    )


def spaced_id_issues(rows: pl.DataFrame, spec: FileSpec, spaces_only: bool = False) -> pl.LazyFrame:
    """A warning (`id.spaces`) on each record whose own sourcedId has spaces around it (an
    export edited in a spreadsheet): it is stored as sent, so the references written without
    them resolve to no record, and a later export without them replaces the record (the one
    stored leaves, another is made). A reference with spaces around it says so in its
    `reference` issue (`schemas.references`). One pass finds whether any sourcedId has them,
    before any issue is built: comparing lengths with and without them, or, of a file whose
    one whitespace is the space (`spaces_only`), looking at each value's two ends."""
    ids = [column.name for column in spec.of_kind(Kind.ID)]
    if not ids or rows.height == 0:
        return pl.LazyFrame(schema=ISSUE_SCHEMA)
    spaced = {
        # (of a file whose one whitespace is the space, `ParsedCsv.spaces_only`, the two ends
        # of each value are looked at, and no stripped copy of every value is made)
        name: pl.col(name).str.starts_with(" ") | pl.col(name).str.ends_with(" ")
        if spaces_only
        else pl.col(name).str.len_bytes() != pl.col(name).str.strip_chars().str.len_bytes()
        for name in ids
    }
    return _warned_by_column(
        rows,
        spec,
        spaced,
        spaced,
        "id.spaces",
        # concat_str, not pl.format (see `schemas.references._with_spaces_said`)
        lambda column: pl.concat_str(
            pl.lit("the sourcedId has spaces around it, and is stored with them ('"),
            pl.col(column),
            pl.lit("' is not '"),
            pl.col(column).str.strip_chars(),
            pl.lit(
                "'): a reference written without them names no record, and a later export "
                "without them replaces the record; remove them in the SIS or its export"
            ),
        ),
    )


def _warned_by_column(
    rows: pl.DataFrame,
    spec: FileSpec,
    screens: Mapping[str, pl.Expr],
    flags: Mapping[str, pl.Expr],
    rule: str,
    message: Callable[[str], str | pl.Expr],
) -> pl.LazyFrame:
    """A warning (`rule`, its `message` per column) on each row a column's `flags` holds true
    for. One pass of the `screens` (each true wherever its flag is, and cheaper) finds the
    columns that may hold any, before any issue is built; only those are flagged."""
    held = rows.select(
        [screen.any().fill_null(False).alias(name) for name, screen in screens.items()]
    ).row(0, named=True)
    found = [pl.LazyFrame(schema=ISSUE_SCHEMA)]
    for column in (name for name, any_held in held.items() if any_held):
        found.append(
            issues_from(
                rows.filter(flags[column]),
                file=spec.file_name,
                field=column,
                value=pl.col(column),
                rule=rule,
                severity="warning",
                message=message(column),
            )
        )
    return pl.concat(found)


def _invisible_issues(
    rows: pl.DataFrame, spec: FileSpec, searched: Mapping[str, pl.Expr], rule: str, said: str
) -> pl.LazyFrame:
    """A warning (`rule`, saying `said` of the character) on each row whose value searched in a
    column (`searched`: the column -> the value in it, the column itself or a part of it) holds
    a character a screen does not show. Every such character is beyond ASCII: one pass
    comparing lengths in bytes and in characters (a quarter of a pattern's cost) finds the
    columns holding any, which alone are searched (IDs and logins are ASCII in most feeds)."""
    columns = list(searched)
    if not columns or rows.height == 0:
        return pl.LazyFrame(schema=ISSUE_SCHEMA)
    beyond_ascii = rows.select(
        (pl.col(columns).str.len_bytes() != pl.col(columns).str.len_chars()).any().fill_null(False)
    ).row(0, named=True)
    suspects = [name for name, held in beyond_ascii.items() if held]
    if not suspects:
        return pl.LazyFrame(schema=ISSUE_SCHEMA)
    holding = rows.select(
        [
            searched[name].str.contains(INVISIBLE_CHARACTER).any().fill_null(False).alias(name)
            for name in suspects
        ]
    ).row(0, named=True)
    found = [pl.LazyFrame(schema=ISSUE_SCHEMA)]
    for column in (name for name, held in holding.items() if held):
        value = searched[column]
        flagged = rows.filter(value.str.contains(INVISIBLE_CHARACTER))
        characters = (
            flagged.select(value.str.extract_all(INVISIBLE_CHARACTER))
            .to_series()
            .explode()
            .drop_nulls()
            .unique()
            .to_list()
        )
        # the distinct characters found (a handful), each as a screen can show it
        shown = [_visible(character) for character in characters]
        found.append(
            issues_from(
                flagged,
                file=spec.file_name,
                field=column,
                value=pl.col(column).str.replace_many(characters, shown),
                rule=rule,
                severity="warning",
                message=pl.format(
                    "the value holds {}, a character a screen does not show (here as \\uXXXX): "
                    f"{said}; remove it in the SIS or its export",
                    value.str.extract_all(INVISIBLE_CHARACTER)
                    .list.unique(maintain_order=True)
                    .list.eval(pl.element().replace_strict(characters, shown))
                    .list.join(", "),
                ),
            )
        )
    return pl.concat(found)


def required_file_issues(feed: Feed, settings: Settings) -> pl.DataFrame:
    rows = [
        issue_row(
            MANIFEST_FILE,
            # the line that says the file is absent; none when no line names it
            feed.property_lines.get(f"file.{name}"),
            f"file.{name}",
            feed.modes.get(name),
            "manifest.required_file",
            "error",
            f"this platform needs {name}.csv in every feed ([validation] files)",
        )
        for name in settings.validation.files
        # a 1.2 file (roles, ...) is none of a 1.1 feed's, so it cannot be demanded of one
        if name != "manifest" and name in feed.specs and feed.modes.get(name, "absent") == "absent"
    ]
    return issue_frame(rows)


def issue_summary(issues: pl.DataFrame) -> pl.DataFrame:
    """Issue counts per file, severity and rule."""
    return (
        issues.group_by("file", "severity", "rule")
        .agg(pl.len().alias("count"))
        .sort(pl.col("severity") != "error", "file", "rule")
    )
