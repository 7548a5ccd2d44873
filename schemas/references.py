"""Checks across rows and files, as whole-frame joins: references, cycles, platform warnings.

A reference resolves against the rows of its target file in this feed. When the target file is
`delta` or `absent`, or the referring file is `delta`, it may point at a record sent by an
earlier sync: then it also resolves against `known` (the tenant's records in the warehouse).
Without a warehouse such a reference can only be warned about.

A reference between two bulk files is checked incrementally when the tenant's stored records
are known to hold it closed (every stored record of the file pointed at a stored record of
the target: `closed`, what the last run found) and both files were compared with their stored
records (`compared`). A record as stored points where it pointed then, so of the unchanged
records only those pointing at a target record that is gone can fail; the changed records are
checked in full. The issues are the same as the whole check's (`tests/schemas/
test_references.py` compares the two).

A file read by its changed lines (`schemas.by_lines`) has a table that begins with the changed
lines' rows (`ChangedLines` says how many), then the kept records: each a record as stored, on
a line whose very text a run validated under the same settings without raising any issue on
it (a line it raised one on keeps no line key, and is read as changed), nor a removal (a
stored record is a stated one). So a check of one row (`teacher.no_email`, `date.order`)
finds nothing in a kept record, and a check of the rows that share a value
(`enrollment.primary`: a class's primary teachers) finds no kept records sharing one among
themselves alone: the run that stored the latest of them saw the others as they are, and
would have raised the issue on its line. Such checks look at the changed lines' rows and the
kept records that share a value with them; the issues are those of the whole check
(`tests/schemas/test_by_lines_checks.py` compares the two over runs that make and break
such groups).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping

import polars as pl

from rosterflow.schemas.csvfile import LINE
from rosterflow.schemas.identity import INVISIBLE_CHARACTER, SIGN_IN_FORM
from rosterflow.schemas.issues import issues_from
from rosterflow.schemas.models import as_date, as_number
from rosterflow.schemas.records import RecordChanges
from rosterflow.schemas.spec import FILE_SPECS, SYNCED_FILES, FileSpec, Kind

# references without which the record cannot be built at all (the policy table of docs/reference/oneroster-1.1.md)
ESSENTIAL = {("enrollments", "classSourcedId"), ("enrollments", "userSourcedId")}
# demographics.sourcedId is the user's sourcedId
EXTRA_REFERENCES = {("demographics", "sourcedId"): "users"}

# a content assignment is made only while its class (or course) and its resource are records
# (`transforms.desired`): one naming a record the feed and the warehouse lack waits for it,
# one naming a record that goes is not made
ASSIGNMENTS = {
    ("classResources", "classSourcedId"),
    ("classResources", "resourceSourcedId"),
    ("courseResources", "courseSourcedId"),
    ("courseResources", "resourceSourcedId"),
}
KnownIds = Mapping[str, pl.Series]  # file -> sourcedIds the warehouse holds for the tenant
# (file, column, target file) of a reference every stored record of the file resolves
Reference = tuple[str, str, str]
REFERENCE_RULES = ("reference", "reference.removed")
# the references to a removed record the sync keeps as sent, where it drops the others (an
# observer link, an enrollment, a section's base courses go): what it derives from them
# stays, which the warning must say (`transforms.hierarchy`, `transforms.desired`)
KEPT_REFERENCES = {
    ("classes", "termSourcedIds"): (
        "the class keeps naming it (its session base course stays under its first term)"
    ),
    ("classes", "schoolSourcedId"): (
        "the section stays in the school's domain, which leaves as [policy] domains says"
    ),
    ("users", "orgSourcedIds"): (
        "the user keeps it (a user's first org is their domain, which leaves as [policy] "
        "domains says)"
    ),
    # OneRoster 1.2: a user's orgs are their primaryOrgSourcedId and their roles' orgs, read
    # as 1.1's orgSourcedIds (`schemas.v12`), which keeps them as 1.1 does
    ("users", "primaryOrgSourcedId"): (
        "the user keeps it (a user's first org is their domain, which leaves as [policy] "
        "domains says)"
    ),
    ("roles", "orgSourcedId"): (
        "the user keeps it among their orgs (a user's first org is their domain, which "
        "leaves as [policy] domains says)"
    ),
    # a course's org places its course assignments alone (`transforms.desired`)
    ("courses", "orgSourcedId"): (
        "the course keeps naming it, and its course assignments (courseResources.csv), made on "
        "the org base course of its title at its org, are not made"
    ),
    # nothing the sync builds reads it: an enrollment's section, and so its school, is its
    # class's
    ("enrollments", "schoolSourcedId"): (
        "the enrollment keeps naming it, which changes nothing: an enrollment is in its "
        "class's section, at its class's school"
    ),
}
CLOSED_SCHEMA = {"file": pl.String, "column": pl.String, "target": pl.String}
# per file read by its changed lines: how many rows its table begins with that are those
# lines' (the others are kept records: see the module's docstring)
ChangedLines = Mapping[str, int]


def stated() -> pl.Expr:
    """A row that states a record (not a removal, status `tobedeleted`)."""
    return pl.col("status").is_null() | (pl.col("status") != "tobedeleted")


def live(rows: pl.DataFrame) -> pl.DataFrame:
    """Rows that state a record (not a removal): `rows` themselves when none is a removal,
    as in most bulk files (a filter would copy every column of every row)."""
    if not rows.select((pl.col("status") == "tobedeleted").any()).item():
        return rows
    return rows.filter(stated())


def changed_part(rows: pl.DataFrame, name: str, changed_lines: ChangedLines) -> pl.DataFrame:
    """The rows of `rows` (a file's table) that a check of one row, or of rows sharing a value,
    must look at by themselves: every row, or of a file read by its changed lines, those
    lines' rows alone (a slice, no copy)."""
    if name not in changed_lines:
        return rows
    return rows.slice(0, changed_lines[name])


def kept_part(rows: pl.DataFrame, name: str, changed_lines: ChangedLines) -> pl.DataFrame:
    """The kept records of a file read by its changed lines (none of another file)."""
    if name not in changed_lines:
        return rows.clear()
    return rows.slice(changed_lines[name])


def _stated_rows(rows: pl.DataFrame, name: str, changed_lines: ChangedLines) -> pl.DataFrame:
    """`live(rows)`, looking for removals among the rows that may be ones alone."""
    if name not in changed_lines:
        return live(rows)
    changed = changed_part(rows, name, changed_lines)
    return live(rows) if changed.select((pl.col("status") == "tobedeleted").any()).item() else rows


def _references(spec: FileSpec) -> list[tuple[str, str, bool]]:
    """(column, target file, is a list) of every reference a file makes."""
    name = spec.name
    found = [
        (c.name, c.target, c.kind is Kind.REF_LIST)
        for c in spec.of_kind(Kind.REF, Kind.REF_LIST)
        if c.target is not None
    ]
    found += [
        (column, target, False)
        for (file, column), target in EXTRA_REFERENCES.items()
        if file == name
    ]
    return found


def _referenced_ids(
    rows: pl.DataFrame | pl.LazyFrame, column: str, is_list: bool, by: str = LINE
) -> pl.LazyFrame:
    """One row per (`by`: the line, referenced sourcedId) of `rows` (the live ones)."""
    values = rows.lazy().select(by, pl.col(column).alias("ref")).drop_nulls("ref")
    if not is_list:
        return values
    return (
        values.with_columns(pl.col("ref").str.split(","))
        .explode("ref")
        .with_columns(pl.col("ref").str.strip_chars())
        .filter(pl.col("ref") != "")
    )


def reference_issues(
    tables: Mapping[str, pl.DataFrame],
    modes: Mapping[str, str],
    known: KnownIds | None,
    specs: Mapping[str, FileSpec] = FILE_SPECS,
    compared: Mapping[str, RecordChanges] | None = None,
    closed: Collection[Reference] = (),
    changed_lines: ChangedLines | None = None,
    cut_short: Collection[str] = (),
    unread: Mapping[str, pl.Series] | None = None,
) -> list[pl.LazyFrame]:
    """Every reference of `tables` (files laid out as `specs` says) that resolves nowhere.

    `compared` holds, per bulk file compared with the stored records, how they differ;
    `closed` the references the stored records hold closed; `changed_lines` the files read
    by their changed lines (see the module's docstring); `cut_short` the files a quote left
    open ends inside a value of, references into which are not checked; `unread` per file
    the sourcedIds of its records on lines that could not be read (`file.ragged`), which a
    reference resolves to: the record is in the file, and its own error says why it is not
    read (one per record, where each reference to it had been another error)."""
    found: list[pl.LazyFrame] = []
    empty = pl.Series("sourcedId", [], pl.String)
    changed_lines = changed_lines or {}
    stated = {name: _stated_rows(rows, name, changed_lines) for name, rows in tables.items()}
    removed = {
        name: changed_part(rows, name, changed_lines)
        .select(pl.col("sourcedId").filter(pl.col("status") == "tobedeleted"))
        .to_series()
        for name, rows in tables.items()
    }
    compared = compared or {}
    # per file checked incrementally: the rows that may be changed records, which of them
    # are, and the kept records (never a changed record: `schemas.by_lines.read_by_lines`)
    changed_rows: dict[str, tuple[pl.DataFrame, pl.Series, pl.DataFrame]] = {}
    for name in tables:
        for column, target, is_list in _references(specs[name]):
            target_mode = modes.get(target, "absent")
            if target_mode != "absent" and (target not in tables or target in cut_short):
                # the target file has header errors, or ends inside a value a quote left open
                # (`file.quote`): what it holds is not all it meant to, and a record missing
                # from it proves nothing (every reference past the quote would be an error)
                continue
            target_live = stated[target]["sourcedId"] if target in tables else empty
            target_unread = (unread or {}).get(target, empty)
            if target_unread.len():  # (a copy of every sourcedId otherwise, per reference)
                target_live = pl.concat([target_live, target_unread])
            target_removed = removed.get(target, empty)
            whole_truth = target_mode == "bulk"
            if (name, column, target) in closed and _comparable(name, target, modes, compared):
                if name not in changed_rows:  # once per file, not once per reference
                    rows = tables[name]
                    looked_at = (
                        live(changed_part(rows, name, changed_lines))
                        if name in changed_lines
                        else stated[name]
                    )
                    changed_rows[name] = (
                        looked_at,
                        looked_at["sourcedId"].is_in(compared[name].changed.implode()),
                        kept_part(rows, name, changed_lines),
                    )
                unresolved = _unresolved_since(
                    *changed_rows[name],
                    column,
                    is_list,
                    compared[target],
                    target_live,
                    target_unread,
                )
            else:
                candidates = target_live
                if not whole_truth and known is not None:
                    # a record the warehouse holds resolves a reference, unless this feed
                    # removes it: then the reference points at a record that goes
                    stored = known.get(target, empty).cast(pl.String)
                    if target_removed.len():
                        stored = stored.filter(~stored.is_in(target_removed.implode()))
                    candidates = pl.concat([target_live, stored])
                # an anti join needs no unique right side
                unresolved = _referenced_ids(stated[name], column, is_list).join(
                    candidates.to_frame("ref").lazy(), on="ref", how="anti"
                )
            unresolved = unresolved.with_columns(
                pl.col("ref").is_in(target_removed.implode()).alias("removed")
            )
            file_name = specs[name].file_name
            target_file = specs[target].file_name
            found.append(
                issues_from(
                    unresolved.filter("removed"),
                    file=file_name,
                    field=column,
                    value=pl.col("ref"),
                    rule="reference.removed",
                    severity="warning",
                    message=f"points at a record this feed removes from {target_file}; "
                    + KEPT_REFERENCES.get((name, column), _dropped(name, column)),
                )
            )
            missing = unresolved.filter(~pl.col("removed"))
            if whole_truth:
                severity, rule = "error", "reference"
                message = f"no record with this sourcedId in {target_file}"
            elif target not in SYNCED_FILES:
                # a file validated, never synced (userProfiles, the gradebook's): no warehouse
                # holds its records, so neither pointing at the warehouse nor finding the
                # record missing from it would be true
                severity, rule = "warning", "reference.unverified"
                message = (
                    f"not in this feed ({target_file} is {target_mode}), and no warehouse keeps "
                    f"the records of {target_file} (validated, not synced): not checked"
                )
            elif known is None:
                severity, rule = "warning", "reference.unverified"
                message = (
                    f"not in this feed ({target_file} is {target_mode}); it may have been sent "
                    "earlier: give --warehouse and --tenant to check it"
                )
            else:
                essential = (name, column) in ESSENTIAL
                severity, rule = ("error" if essential else "warning"), "reference"
                message = (
                    f"no record with this sourcedId in {target_file} ({target_mode}) nor in the "
                    "warehouse" + ("" if essential else _built_without(name, column))
                )
            found.append(
                issues_from(
                    missing,
                    file=file_name,
                    field=column,
                    value=pl.col("ref"),
                    rule=rule,
                    severity=severity,
                    message=_with_spaces_said(message),
                )
            )
    return found


def _with_spaces_said(message: str) -> pl.Expr:
    """`message`, and for a reference with spaces around it (an export edited in a spreadsheet)
    that those spaces are part of it: a space at the end of a value is not seen in a report,
    and the reference reads as one that resolves. Judged on the unresolved references alone."""
    trimmed = pl.col("ref").str.strip_chars()
    return (
        pl.when(trimmed != pl.col("ref"))
        .then(
            # concat_str, not pl.format, which panics on a column whose chunks a filter emptied
            # (as `date_order_issues` says): the rows of a by-lines run are in chunks
            pl.concat_str(
                pl.lit(
                    f"{message}: the value has spaces around it, and a sourcedId is compared "
                    "with them ('"
                ),
                pl.col("ref"),
                pl.lit("' is not '"),
                trimmed,
                pl.lit("')"),
            )
        )
        .otherwise(pl.lit(message, pl.String))
    )


def _dropped(name: str, column: str) -> str:
    """What becomes of a record of `name` whose `column` names a record the feed removes."""
    return (
        "the assignment is not made"
        if (name, column) in ASSIGNMENTS
        else "the reference is dropped"
    )


def _built_without(name: str, column: str) -> str:
    """What becomes of a record of `name` whose `column` names a record found nowhere."""
    if (name, column) in ASSIGNMENTS:
        return "; the assignment is made once that record is sent"
    if name not in SYNCED_FILES:
        # validated, never synced (1.2's userResources, the gradebook's): nothing is built
        return f"; {name}.csv is validated, not synced"
    return "; the record is built without it"


def _comparable(
    name: str, target: str, modes: Mapping[str, str], compared: Mapping[str, RecordChanges]
) -> bool:
    """Both files are bulk and were compared with their stored records."""
    return all(modes.get(n) == "bulk" and n in compared for n in (name, target))


def _unresolved_since(
    rows: pl.DataFrame,
    changed: pl.Series,
    kept: pl.DataFrame,
    column: str,
    is_list: bool,
    target_changes: RecordChanges,
    target_live: pl.Series,
    target_unread: pl.Series,
) -> pl.LazyFrame:
    """The references of `rows` (live), then of `kept` (kept records of a file read by its
    changed lines), not among `target_live`, given that every stored record of the file
    pointed at a stored record of the target; `changed` marks the `rows` whose sourcedId is
    a changed record's.

    A row whose sourcedId is not among the changed ones is a record as stored (its hash is
    stored), so it points at a stored target record: it fails only if that record is gone
    now (`target_changes.removed`: stored, and not stated now, nor on a line left unread,
    `target_unread`). The changed rows are checked against every target record; the lookup
    keeps the large side on the probe."""
    is_changed = pl.lit(changed)
    # the two columns it needs, before any filter copies rows
    referring = rows.lazy().select(LINE, column)
    changed_refs = _referenced_ids(referring.filter(is_changed), column, is_list)
    wanted = changed_refs.select("ref").unique()
    resolved = target_live.to_frame("ref").lazy().join(wanted, on="ref", how="semi")
    unresolved = [changed_refs.join(resolved, on="ref", how="anti")]
    gone = target_changes.removed
    if gone.len() and target_unread.len():
        gone = gone.filter(~gone.is_in(target_unread.implode()))
    if gone.len():
        as_stored = pl.concat([referring.filter(~is_changed), kept.lazy().select(LINE, column)])
        kept_refs = _referenced_ids(as_stored, column, is_list)
        unresolved.append(kept_refs.filter(pl.col("ref").is_in(gone.implode())))
    return pl.concat(unresolved)


def closed_references(
    issues: pl.DataFrame,
    tables: Mapping[str, pl.DataFrame],
    modes: Mapping[str, str],
    specs: Mapping[str, FileSpec] = FILE_SPECS,
) -> pl.DataFrame:
    """`file, column, target` of each reference between two bulk files that none of the
    feed's records fails (no `reference` or `reference.removed` issue): once the feed's
    records are stored, every stored record of the file points at a stored record of the
    target, which lets the next feed check that reference incrementally."""
    failing = set(
        issues.filter(pl.col("rule").is_in(REFERENCE_RULES))
        .select("file", "field")
        .unique()
        .iter_rows()
    )
    found = [
        (name, column, target)
        for name in tables
        for column, target, _ in _references(specs[name])
        if modes.get(name) == "bulk"
        and modes.get(target) == "bulk"
        and target in tables
        and (specs[name].file_name, column) not in failing
    ]
    return pl.DataFrame(found, schema=CLOSED_SCHEMA, orient="row")


def cycle_issues(tables: Mapping[str, pl.DataFrame]) -> list[pl.LazyFrame]:
    """Rows whose parent chain never reaches a root, in orgs and academicSessions."""
    found = []
    for name in ("orgs", "academicSessions"):
        if name not in tables:
            continue
        rows = live(tables[name])
        looping = rows_in_cycles(
            rows.select("sourcedId", pl.col("parentSourcedId").alias("parent"))
        )
        flagged = rows.lazy().join(looping.lazy(), on="sourcedId", how="inner")
        found.append(
            issues_from(
                flagged,
                file=FILE_SPECS[name].file_name,
                field="parentSourcedId",
                value=pl.col("parentSourcedId"),
                rule="cycle",
                severity="error",
                message=pl.format(
                    "the parent chain of {} never reaches a root: it loops through {}",
                    pl.col("sourcedId"),
                    pl.col("loops_through"),
                ),
            )
        )
    return found


# The references a removal can leave pointing nowhere from records the warehouse stores and
# the feed does not send (no reference check sees those): a delta's removal, or a record a
# bulk file drops while the file naming it is absent or a delta. (referring file, column) ->
# what the sync makes of such records once the record they name is gone (`transforms`:
# `desired`, `hierarchy`), and what to send instead, said in the warning on the removal
STORED_REFERENCES: dict[tuple[str, str], tuple[str, str]] = {
    ("orgs", "parentSourcedId"): (
        "once it is removed their domains lose their parent",
        "send them with their new parent",
    ),
    ("users", "agentSourcedIds"): (
        "once it is removed their observer links to it are removed",
        "send them with the agentSourcedIds the SIS now holds",
    ),
    ("users", "orgSourcedIds"): (
        "they are kept as stored, still naming it (a user whose first org it is stays in its "
        "domain, which leaves as [policy] domains says)",
        "send them with the orgs the SIS now holds",
    ),
    ("classes", "schoolSourcedId"): (
        "they are kept as stored, still naming it (their sections stay in its domain, which "
        "leaves as [policy] domains says)",
        "send them with their new school",
    ),
    ("classes", "termSourcedIds"): (
        "they are kept as stored, still naming it (a section's session base course stays "
        "under its first term)",
        "send them with the terms the SIS now holds",
    ),
    # a course's org places its course assignments alone (`transforms.desired`: on the org
    # base course of its title at its org, which an org no longer among the orgs has none of).
    # An enrollment's schoolSourcedId has no entry: nothing the sync builds reads it (an
    # enrollment is in its class's section), so a school removed under stored enrollments
    # changes nothing of them, and reading every stored enrollment to say so is not worth it
    ("courses", "orgSourcedId"): (
        "they are kept as stored, still naming it, and their course assignments "
        "(courseResources.csv), made on the org base course of their title at it, which is "
        "no longer made once it is removed, leave the platform (as [policy] course_resources "
        'says, or deleted with that base course when [policy] courses = "delete")',
        "send them with their new org",
    ),
    ("classes", "courseSourcedId"): (
        "once it is removed their sections lose their base courses",
        "send them with their new course",
    ),
    ("enrollments", "userSourcedId"): (
        "once it is removed they leave the platform with it (as [policy] enrollments says, or "
        "deleted with it when [policy] deletes it)",
        "mark them tobedeleted in the delta to say so",
    ),
    ("enrollments", "classSourcedId"): (
        "once it is removed they leave the platform with it (as [policy] enrollments says, or "
        "deleted with it when [policy] deletes it)",
        "mark them tobedeleted in the delta to say so",
    ),
    # an assignment is made only while its class (or course) and its resource are records
    # (`transforms.desired`): once one goes, the stored assignment is no longer desired and
    # leaves as its [policy] says, unless the row it points at is deleted, which takes it
    # along whatever that policy (`transforms.plan`, CASCADING)
    ("classResources", "classSourcedId"): (
        "once it is removed they leave the platform with it (as [policy] class_resources "
        'says, or deleted with its section when [policy] courses = "delete")',
        "mark them tobedeleted in the delta to say so",
    ),
    ("classResources", "resourceSourcedId"): (
        "once it is removed they leave the platform with it (as [policy] class_resources "
        'says, or deleted with it when [policy] resources = "delete")',
        "mark them tobedeleted in the delta to say so",
    ),
    ("courseResources", "courseSourcedId"): (
        "once it is removed they leave the platform with it (as [policy] course_resources "
        'says, or deleted with their org base course when [policy] courses = "delete" '
        "deletes that)",
        "mark them tobedeleted in the delta to say so",
    ),
    ("courseResources", "resourceSourcedId"): (
        "once it is removed they leave the platform with it (as [policy] course_resources "
        'says, or deleted with it when [policy] resources = "delete")',
        "mark them tobedeleted in the delta to say so",
    ),
}
# the advice of `STORED_REFERENCES` when the referring file is absent from the feed: there is
# no delta to mark them in
_ABSENT_ADVICE = {
    name: (
        f"send {FILE_SPECS[name].file_name} in bulk without them, or as a delta marking them "
        "tobedeleted, to say so"
    )
    for name in ("enrollments", "classResources", "courseResources")
}
# how a message names the records of a file: "2 stored class(es)", "removes an academic session"
_STORED_NOUN = {
    "orgs": "org(s)",
    "users": "user(s)",
    "classes": "class(es)",
    "courses": "course(s)",
    "enrollments": "enrollment(s)",
    "classResources": "class assignment(s)",
    "courseResources": "course assignment(s)",
}
_REMOVED_NOUN = {
    "orgs": "an org",
    "users": "a user",
    "classes": "a class",
    "courses": "a course",
    "academicSessions": "an academic session",
    "resources": "a resource",
}


def _stored_references() -> list[tuple[str, str, str, bool]]:
    """(referring file, column, target file, is a list) of `STORED_REFERENCES`."""
    return [
        (name, column, target, is_list)
        for (name, wanted) in STORED_REFERENCES
        for column, target, is_list in _references(FILE_SPECS[name])
        if column == wanted
    ]


def _said(name: str, column: str, absent: bool = False) -> str:
    """What the sync makes of the stored records of `name` naming a removed record in
    `column`, and what to send instead (`absent`: `name` is not in the feed)."""
    consequence, advice = STORED_REFERENCES[name, column]
    if absent:
        advice = _ABSENT_ADVICE.get(name, advice)
    return f"{consequence}: {advice}"


def removal_referrers(modes: Mapping[str, str], removing: Collection[str]) -> tuple[str, ...]:
    """The files whose stored records `removed_record_issues` reads (in `carried`) when the
    delta files `removing` remove records: those not sent in bulk that refer to one of them.
    A bulk file's records are the feed's own, which the reference check sees."""
    return _unsent_referrers(modes, removing, "delta")


def dropping_referrers(modes: Mapping[str, str], dropping: Collection[str]) -> tuple[str, ...]:
    """The files whose stored records `dropped_record_issues` reads (in `carried`) when the
    bulk files `dropping` no longer state records stored before: those not sent in bulk that
    refer to one of them (of every bulk file, `dropped_records_checked`)."""
    return _unsent_referrers(modes, dropping, "bulk")


def dropped_records_checked(modes: Mapping[str, str]) -> tuple[str, ...]:
    """The bulk files that a file absent from the feed or sent as a delta may refer to
    (`STORED_REFERENCES`): those whose dropped records `dropped_record_issues` looks at. None
    when every referring file is sent in bulk, as in most syncs."""
    bulk = [name for name, mode in modes.items() if mode == "bulk"]
    return tuple(
        dict.fromkeys(
            target
            for name, _, target, _ in _stored_references()
            if target in bulk and modes.get(name, "absent") != "bulk"
        )
    )


def _unsent_referrers(
    modes: Mapping[str, str], targets: Collection[str], target_mode: str
) -> tuple[str, ...]:
    return tuple(
        dict.fromkeys(
            name
            for name, _, target, _ in _stored_references()
            if target in targets
            and modes.get(target) == target_mode
            and modes.get(name, "absent") != "bulk"
        )
    )


def _unsent_referring(
    name: str,
    column: str,
    is_list: bool,
    tables: Mapping[str, pl.DataFrame],
    stored: pl.DataFrame,
    removals: pl.DataFrame,
) -> pl.LazyFrame:
    """`ref, __line, referring` per removal (`removals`: `ref, __line`) that stored records of
    `name` the feed does not send name in `column`: their sourcedIds, sorted."""
    unsent = stored.lazy()
    if name in tables:
        # a stored record the feed sends (or removes) is as the feed says: the reference
        # check sees it
        unsent = unsent.join(tables[name].lazy().select("sourcedId"), on="sourcedId", how="anti")
    return (
        _referenced_ids(unsent, column, is_list, by="sourcedId")
        .join(removals.lazy(), on="ref", how="inner")
        .group_by("ref", LINE)
        .agg(pl.col("sourcedId").unique().sort().alias("referring"))
    )


_SHOWN = 5  # referring records named in a message; the count says how many there are


def _referring_said() -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """How many referring records there are, the first `_SHOWN` of them, and `, ...` when
    there are more, for a message (`_unsent_referring`'s `referring`)."""
    count = pl.col("referring").list.len()
    return (
        count,
        pl.col("referring").list.head(_SHOWN).list.join(", "),
        pl.when(count > _SHOWN).then(pl.lit(", ...")).otherwise(pl.lit("")),
    )


def removed_record_issues(
    tables: Mapping[str, pl.DataFrame],
    modes: Mapping[str, str],
    carried: Mapping[str, pl.DataFrame],
) -> list[pl.LazyFrame]:
    """A warning on each record a delta file removes that records stored in the warehouse, and
    not sent by this feed, still name (`STORED_REFERENCES`; `carried[file]`: the tenant's
    stored records of the referring file), on the removal's line, one per reference.

    The records naming it that the feed sends are the reference check's (`reference.removed`,
    as for a bulk file's tobedeleted record); those it does not send are in the warehouse
    alone, so no reference check sees them. A removal is a row marked `tobedeleted` alone: a
    row whose status is not valid is an error of its own, never read as a removal."""
    found: list[pl.LazyFrame] = []
    for name, column, target, is_list in _stored_references():
        targets, stored = tables.get(target), carried.get(name)
        if targets is None or stored is None or modes.get(target) != "delta":
            continue
        if modes.get(name) == "delta" and name not in tables:
            continue  # the referring delta has header errors: which records it sends is unknown
        removals = targets.filter(~stated()).select(LINE, pl.col("sourcedId").alias("ref"))
        if removals.height == 0:
            continue
        found.append(
            issues_from(
                _unsent_referring(name, column, is_list, tables, stored, removals),
                file=FILE_SPECS[target].file_name,
                field="sourcedId",
                value=pl.col("ref"),
                rule="reference.removed",
                severity="warning",
                message=pl.format(
                    f"this delta removes {_REMOVED_NOUN[target]} that {{}} stored "
                    f"{_STORED_NOUN[name]} still name in {column} "
                    f"({FILE_SPECS[name].file_name}), and does not send them: {{}}{{}}; "
                    + _said(name, column),
                    *_referring_said(),
                ),
            )
        )
    return found


def dropped_record_issues(
    tables: Mapping[str, pl.DataFrame],
    modes: Mapping[str, str],
    dropped: Mapping[str, pl.DataFrame],
    carried: Mapping[str, pl.DataFrame],
) -> list[pl.LazyFrame]:
    """A warning on each record a bulk file no longer states (`dropped[file]`: `sourcedId,
    __line` of the stored records it dropped, on the line of a row marking one tobedeleted,
    else on none) that stored records of a file absent from the feed or sent as a delta, and
    not sent, still name (`carried[file]`), one per reference: what `removed_record_issues`
    says of a delta's removal. A bulk file that names it is the reference check's (an error,
    `reference`)."""
    found: list[pl.LazyFrame] = []
    for name, column, target, is_list in _stored_references():
        gone, stored = dropped.get(target), carried.get(name)
        if gone is None or stored is None or modes.get(target) != "bulk":
            continue
        mode = modes.get(name, "absent")
        if mode == "bulk" or (mode == "delta" and name not in tables):
            continue  # the feed's own records, or a delta with header errors: unknown
        file_name = FILE_SPECS[name].file_name
        sent = "absent from this feed" if mode == "absent" else "a delta that does not send them"
        how = (
            pl.when(pl.col(LINE).is_null())
            .then(pl.lit("no longer in it"))
            .otherwise(pl.lit("marked tobedeleted"))
        )
        found.append(
            issues_from(
                _unsent_referring(
                    name,
                    column,
                    is_list,
                    tables,
                    stored,
                    gone.select(LINE, pl.col("sourcedId").alias("ref")),
                ),
                file=FILE_SPECS[target].file_name,
                field="sourcedId",
                value=pl.col("ref"),
                rule="reference.removed",
                severity="warning",
                message=pl.format(
                    f"this bulk file removes {_REMOVED_NOUN[target]} ({{}}) that {{}} stored "
                    f"{_STORED_NOUN[name]} still name in {column} ({file_name}, {sent}): "
                    "{}{}; " + _said(name, column, absent=mode == "absent"),
                    how,
                    *_referring_said(),
                ),
            )
        )
    return found


def rows_in_cycles(edges: pl.DataFrame) -> pl.DataFrame:
    """`sourcedId, loops_through` for every node whose parent chain is infinite.

    Pointer doubling: after k rounds each node knows its ancestor 2**k steps up. A chain that
    ends drops out of the inner join; once 2**k exceeds the node count, whatever is left can
    only be walking a cycle, and the ancestor it reached lies on that cycle.
    """
    ancestors = (
        edges.drop_nulls()
        .unique("sourcedId", keep="first")
        .select("sourcedId", pl.col("parent").alias("ancestor"))
    )
    # eager rounds: a lazy plan would nest the previous round twice per round
    for _ in range(max(1, math.ceil(math.log2(max(edges.height, 2)))) + 1):
        if ancestors.height == 0:  # every chain has ended: no cycle
            break
        ancestors = ancestors.join(
            ancestors.select(
                pl.col("sourcedId").alias("ancestor"), pl.col("ancestor").alias("next")
            ),
            on="ancestor",
            how="inner",
        ).select("sourcedId", pl.col("next").alias("ancestor"))
    return ancestors.select("sourcedId", pl.col("ancestor").alias("loops_through"))


def platform_issues(
    tables: Mapping[str, pl.DataFrame],
    modes: Mapping[str, str],
    changed_lines: ChangedLines | None = None,
    cut_short: Collection[str] = (),
) -> list[pl.LazyFrame]:
    """Warnings for what a learning platform tolerates but a district should look at, of the
    files read by their changed lines (`changed_lines`) looked for where the module's
    docstring says; no class is untaught by an enrollments.csv in `cut_short` (records of it
    left unread: past a quote left open, or ragged)."""
    found: list[pl.LazyFrame] = []
    changed_lines = changed_lines or {}
    users, classes, enrollments = (tables.get(n) for n in ("users", "classes", "enrollments"))
    if users is not None:
        found.append(
            issues_from(
                changed_part(users, "users", changed_lines)
                .lazy()
                .select(LINE, "role", "email", "status")
                .filter(stated() & (pl.col("role") == "teacher") & pl.col("email").is_null()),
                file="users.csv",
                field="email",
                value=pl.col("email"),
                rule="teacher.no_email",
                severity="warning",
                message="a teacher without an email cannot receive platform mail",
            )
        )
    if enrollments is not None:
        # a teacher whose enrollment is inactive (the 1.0 status) left the class: no primary
        # teacher, nor its teacher (`transforms.hierarchy`); a kept record states one (see the
        # module's docstring)
        teacher = (pl.col("role") == "teacher") & pl.col("status").ne_missing(pl.lit("inactive"))
        # the columns the checks read, before the filter copies rows (millions of them)
        columns = (LINE, "classSourcedId", "userSourcedId", "primary")
        changed = changed_part(enrollments, "enrollments", changed_lines)
        kept = kept_part(enrollments, "enrollments", changed_lines).lazy()
        kept = kept.filter(teacher).select(columns)
        if classes is not None:  # (its checks read every teacher enrollment: found once)
            kept = kept.collect().lazy()
        teaching = changed.lazy().filter(stated() & teacher).select(columns).collect()
        primaries = teaching.filter(pl.col("primary") == "true")
        if "enrollments" in changed_lines:
            # a kept record shares its class only with a changed line's primary teacher
            touched = primaries.get_column("classSourcedId").unique().implode()
            held = kept.filter(pl.col("classSourcedId").is_in(touched), pl.col("primary") == "true")
            primaries = pl.concat([primaries, held.collect()])
        found.append(
            issues_from(
                primaries.filter(pl.col("classSourcedId").is_duplicated()),
                file="enrollments.csv",
                field="primary",
                value=pl.col("primary"),
                rule="enrollment.primary",
                severity="warning",
                message=pl.format(
                    "class {} has more than one primary teacher; the first in file order is used",
                    pl.col("classSourcedId"),
                ),
            )
        )
        if classes is not None:
            teaching = pl.concat([teaching, kept.collect()])
            found += _teaching_issues(live(classes), teaching, modes, "enrollments" in cut_short)
    return found


def _teaching_issues(
    classes: pl.DataFrame,
    teaching: pl.DataFrame,
    modes: Mapping[str, str],
    enrollments_cut_short: bool = False,
) -> list[pl.LazyFrame]:
    found = []
    # (an enrollments.csv cut short by a quote left open holds not every teacher)
    if (
        modes.get("classes") == "bulk"
        and modes.get("enrollments") == "bulk"
        and not enrollments_cut_short
    ):
        untaught = classes.lazy().join(
            teaching.lazy().select(pl.col("classSourcedId").alias("sourcedId")),
            on="sourcedId",
            how="anti",
        )
        found.append(
            issues_from(
                untaught,
                file="classes.csv",
                field="sourcedId",
                value=pl.col("sourcedId"),
                rule="class.no_teacher",
                severity="warning",
                message="no teacher is enrolled; the section gets no teacher base course",
            )
        )
    same_title = (
        teaching.lazy()
        .select("userSourcedId", pl.col("classSourcedId").alias("sourcedId"))
        .unique()
        .join(classes.lazy().select("sourcedId", "title", LINE), on="sourcedId", how="inner")
        # the windows below over the teachers' titles taught more than once alone (a few)
        .filter(pl.struct("userSourcedId", "title").is_duplicated())
        .with_columns(
            pl.col(LINE).rank("ordinal").over("userSourcedId", "title").alias("nth"),
            pl.col("sourcedId")
            .first()
            .over("userSourcedId", "title", order_by=LINE)
            .alias("first"),
        )
        .filter(pl.col("nth") > 1)
    )
    found.append(
        issues_from(
            same_title,
            file="classes.csv",
            field="title",
            value=pl.col("title"),
            rule="teacher.same_title",
            severity="warning",
            message=pl.format(
                "teacher {} also teaches class {} with this title",
                pl.col("userSourcedId"),
                pl.col("first"),
            ),
        )
    )
    return found


def list_length_issues(tables: Mapping[str, pl.DataFrame]) -> list[pl.LazyFrame]:
    """subjectCodes must pair with subjects (courses: an error; classes: a warning)."""
    found = []
    for name, severity in (("courses", "error"), ("classes", "warning")):
        if name not in tables:
            continue
        count = lambda c: pl.col(c).str.split(",").list.len()  # noqa: E731
        mismatched = tables[name].filter(
            pl.col("subjects").is_not_null()
            & pl.col("subjectCodes").is_not_null()
            & (count("subjects") != count("subjectCodes"))
        )
        found.append(
            issues_from(
                mismatched,
                file=FILE_SPECS[name].file_name,
                field="subjectCodes",
                value=pl.col("subjectCodes"),
                rule="list.length",
                severity=severity,
                message=pl.format(
                    "{} subject codes for {} subjects", count("subjectCodes"), count("subjects")
                ),
            )
        )
    return found


def date_order_issues(
    tables: Mapping[str, pl.DataFrame], changed_lines: ChangedLines | None = None
) -> list[pl.LazyFrame]:
    """A warning on each row that ends before it starts: of a file read by its changed lines
    (`changed_lines`), of those lines alone (see the module's docstring)."""
    found = []
    for name, start, end in (
        ("academicSessions", "startDate", "endDate"),
        ("enrollments", "beginDate", "endDate"),
    ):
        if name not in tables:
            continue
        # two valid dates, compared as dates; an invalid one is the models' to report. Two
        # valid ones in reverse order are in reverse order as text too: the text comparison
        # finds the few candidates, and only those are read as dates (1.3M enrollments
        # read as dates took 0.1 s of every sync)
        reversed_ = (
            changed_part(tables[name], name, changed_lines or {})
            .lazy()
            .select(LINE, start, end)
            .filter(pl.col(end) < pl.col(start))
            .filter(as_date(pl.col(end)) < as_date(pl.col(start)))
        )
        found.append(
            issues_from(
                reversed_,
                file=FILE_SPECS[name].file_name,
                field=end,
                value=pl.col(end),
                rule="date.order",
                severity="warning",
                # concat_str, not pl.format: the rows come straight from the filter above, and a
                # by-lines run's enrollments are in chunks (the changed lines', then the stored
                # records'); Polars' `pl.format` panics on a column whose chunks the filter
                # emptied (`assertion failed: i < self.len()`), concat_str does not, and
                # needs no copy of the table in one chunk
                message=pl.concat_str(
                    pl.lit("ends before it starts ("), pl.col(start), pl.lit(")")
                ),
            )
        )
    return found


def range_order_issues(tables: Mapping[str, pl.DataFrame]) -> list[pl.LazyFrame]:
    """A line item whose resultValueMax is below its resultValueMin: a warning, as a session
    that ends before it starts is (the bindings state no order; every score is out of such a
    range). Judged when both are numbers (finite ones: `-1e999` is none); a value that is none
    is the models' to report."""
    if "lineItems" not in tables:
        return []
    low, high = pl.col("resultValueMin"), pl.col("resultValueMax")
    reversed_ = (
        tables["lineItems"]
        .lazy()
        .select(LINE, "resultValueMin", "resultValueMax")
        .filter(as_number(high) < as_number(low))
    )
    return [
        issues_from(
            reversed_,
            file=FILE_SPECS["lineItems"].file_name,
            field="resultValueMax",
            value=high,
            rule="range.order",
            severity="warning",
            message=pl.format("below resultValueMin ({})", low),
        )
    ]


def title_variant_issues(
    tables: Mapping[str, pl.DataFrame],
    modes: Mapping[str, str] | None = None,
    carried: Mapping[str, pl.DataFrame] | None = None,
) -> list[pl.LazyFrame]:
    """A warning on each course whose title differs from another course's only in spaces or
    letter case (`"Algebra I "`, `"algebra  I"` beside `"Algebra I"`), naming the other
    spellings. The course hierarchy keys base courses by the exact title
    (`transforms.hierarchy`), so each spelling gets base courses of its own; changing that key
    would change the external IDs of base courses already made, so it is said instead.

    A courses.csv delta's courses are compared with the stored courses it does not send too
    (`carried["courses"]`), which were warned about when they were sent."""
    courses = tables.get("courses")
    if courses is None:
        return []
    sent = live(courses).lazy().select(LINE, "sourcedId", "title")
    stored = (carried or {}).get("courses")
    if (modes or {}).get("courses") == "delta" and stored is not None:
        unsent = (
            stored.lazy()
            .join(courses.lazy().select("sourcedId"), on="sourcedId", how="anti")
            .select(pl.lit(None, pl.Int64).alias(LINE), "sourcedId", "title")
        )
        sent = pl.concat([sent, unsent])
    titled = sent.drop_nulls("title").with_columns(
        # every kind of space (a no-break space too) and every character a screen does not
        # show taken out, letter case ignored, accents composed: what a person reading the
        # titles cannot tell apart (`Español` typed as one letter and as `n` and a tilde)
        pl.col("title")
        .str.replace_all(r"\s+", "")
        .str.replace_all(INVISIBLE_CHARACTER, "")
        .str.to_lowercase()
        .str.normalize(SIGN_IN_FORM)
        .alias("key")
    )
    spellings = (
        titled.group_by("key", "title")
        # the first course of a spelling in the feed, else a stored one
        .agg(pl.col("sourcedId").sort_by(LINE, nulls_last=True).first().alias("course"))
        # the titles spelt more than one way alone (a few)
        .filter(pl.len().over("key") > 1)
    )
    variants = (
        titled.drop_nulls(LINE)  # the feed's courses: a stored one has no line to warn on
        .join(spellings.rename({"title": "other"}), on="key", how="inner")
        .filter(pl.col("title") != pl.col("other"))
        .group_by(LINE, "title")
        .agg(pl.format('"{}" (course {})', "other", "course").sort().str.join(", ").alias("others"))
    )
    return [
        issues_from(
            variants,
            file=FILE_SPECS["courses"].file_name,
            field="title",
            value=pl.col("title"),
            rule="course.title_variants",
            severity="warning",
            message=pl.format(
                '"{}" differs only in spaces or letter case (or how its accents are stored, or '
                "characters a screen does not show) from {}: base courses are made per "
                "exact title, so each spelling gets district, state and teacher base courses "
                "of its own; spell the title alike in the SIS",
                "title",
                "others",
            ),
        )
    ]
