"""What a run reads of the tenant before it plans: the stored records and their hashes, and
whether lms and the stored state are exactly as the last applied run left them (the basis of an
incremental plan)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import duckdb
import polars as pl

from rosterflow.schemas.by_lines import StoredRecords, kept_fields
from rosterflow.schemas.lines import KEYED_FILES, LINE_KEY
from rosterflow.schemas.lms import ENTITIES
from rosterflow.schemas.records import ROW_HASH, source_columns, validation_key
from rosterflow.schemas.references import Reference
from rosterflow.schemas.runs import RunRecord
from rosterflow.schemas.spec import SYNCED_FILES
from rosterflow.warehouse.operations import last_undo
from rosterflow.warehouse.records import (
    CLOSED_REFERENCES,
    StoredFile,
    derived,
    derived_states,
    stored_files,
    stored_hashes,
)
from rosterflow.warehouse.state import TableSummary, checksum_text, lms_summary


@dataclass
class StoredState:
    """What the warehouse holds of the tenant's OneRoster records when a run starts."""

    files: dict[str, StoredFile]  # per file stored
    # per file stored: sourcedId, row_hash (and an enrollment's userSourcedId: whose grade
    # level a changed enrollment may move)
    hashes: dict[str, pl.DataFrame]
    # the tenant's lms summary when the run may be planned incrementally (read now: nothing
    # writes lms between validate and plan, the run holds the file)
    lms_summary: dict[str, TableSummary] | None = None
    # the references the stored records hold closed (none when they cannot be trusted)
    closed: set[Reference] = field(default_factory=set)


# what a run keeps of a file's stored records beside `sourcedId, row_hash`, to compare with
# and plan from
_COMPARED_FIELDS = {"enrollments": ["userSourcedId"]}


def stored_state(
    con: duckdb.DuckDBPyConnection, run: RunRecord, read: StoredRecords | None = None
) -> StoredState:
    """The tenant's stored records as a run compares its feed with them (their hashes, or
    those `read` already: `stored_records_by_lines`)."""
    files = stored_files(con, run.tenant)
    hashes = (
        {
            name: records.select("sourcedId", ROW_HASH, *_COMPARED_FIELDS.get(name, ()))
            for name, records in read.records.items()
        }
        if read is not None
        else stored_hashes(
            con, run.tenant, [name for name in SYNCED_FILES if name in files], _COMPARED_FIELDS
        )
    )
    if run.full or not hashes:  # nothing to compare with, or every record is to be looked at
        return StoredState(files, hashes)
    closed = (
        set(read.closed)
        if read is not None
        else stored_closed_references(con, run.tenant, run.settings_key, files)
    )
    return StoredState(files, hashes, lms_summary(con, run.tenant), closed)


def stored_closed_references(
    con: duckdb.DuckDBPyConnection, tenant: str, settings_key: str, files: dict[str, StoredFile]
) -> set[Reference]:
    """The references the tenant's stored records hold closed (`ValidatedFeed.closed` of the
    run that stored the newest of them, under these settings and rosterflow), or none when
    records were stored after it was found, or under other settings."""
    state = derived_states(con, tenant).get(CLOSED_REFERENCES)
    newest = max((part.last_run_id for part in files.values()), default=0)
    if state is None or state.settings_key != settings_key or state.run_id < newest:
        return set()
    found = derived(con, tenant, CLOSED_REFERENCES)
    return set(found.iter_rows()) if found is not None else set()


def stored_records_by_lines(
    con: duckdb.DuckDBPyConnection,
    tenant: str,
    settings_key: str,
    identity_key: str,
    whole: bool = False,
) -> StoredRecords:
    """The tenant's records as a OneRoster 1.1 feed is validated by its changed lines
    (`schemas.validate.validate_by_lines`) under the settings of `settings_key`: their hashes,
    the fields of users and enrollments the checks read, or with `whole` every field of theirs
    (a sync plans from them), with their line keys."""
    files = stored_files(con, tenant)
    names = [name for name in SYNCED_FILES if name in files]
    # (not the run and line a record was stored from: a kept record is on its line now)
    fields = (
        {
            name: [*(c for c in source_columns(name) if c != "sourcedId"), LINE_KEY]
            for name in KEYED_FILES
        }
        if whole
        else kept_fields(identity_key)
    )
    records = stored_hashes(con, tenant, names, fields)
    under = validation_key(settings_key, "1.1")
    return StoredRecords(
        records,
        [name for name in records if files[name].validated_under == under],
        stored_closed_references(con, tenant, settings_key, files),
    )


@dataclass(frozen=True)
class IncrementalBasis:
    """What an incremental plan starts from: lms as the last applied run left it."""

    run_id: int  # the run that left lms and the stored state as they are
    summary: dict[str, TableSummary]  # the tenant's lms rows now
    previous_courses: pl.DataFrame  # that run's desired courses: external_id, row_hash
    previous_grades: pl.DataFrame  # that run's students' grade levels: sourcedId, grade_level
    # its teacher enrollments in file order (sourcedId, run_id, line): None from an older one
    previous_teacher_order: pl.DataFrame | None = None

    def stored_derived(self) -> dict[str, pl.DataFrame]:
        """The derived state of this basis, by its name in `oneroster.derived`: as stored."""
        stored = {"desired_courses": self.previous_courses, "grade_levels": self.previous_grades}
        if self.previous_teacher_order is not None:
            stored["teacher_order"] = self.previous_teacher_order
        return stored


def incremental_basis(
    con: duckdb.DuckDBPyConnection,
    run: RunRecord,
    summary: dict[str, TableSummary] | None = None,
) -> IncrementalBasis | str:
    """The basis for planning only what changed, or why the run is planned in full;
    `summary` is the tenant's `lms_summary` when it was read already in this run."""
    if run.full:
        return "--full was given"
    state = derived_states(con, run.tenant).get("desired_courses")
    undone = last_undo(con, run.tenant)
    # an undo takes away what the run it undid derived (`restore_records`), and gives back no
    # earlier derived state: none is kept
    if undone is not None and (state is None or undone[0] > state.run_id):
        left = "the runs before it left" if state is None else f"run {state.run_id} left"
        return (
            f"run {undone[0]} undid run {undone[1]}: lms and the stored records need not be "
            f"what {left}"
        )
    if state is None:
        return "the tenant's first run: nothing stored to compare with"
    if state.settings_key != run.settings_key:
        differ = f"the settings or the rosterflow version differ from those of run {state.run_id}"
        differences = settings_differences(state.settings_key, run.settings_key)
        return differ if differences is None else f"{differ}: {differences}"
    summary = summary or lms_summary(con, run.tenant)
    if checksum_text(summary) != state.lms_checksum:
        made_managed = _rows_made_managed(state.lms_checksum, summary)
        if made_managed:
            # a row given a record's external ID by hand is taken over, not reverted
            return (
                f"lms was changed outside rosterflow since run {state.run_id}: {made_managed} "
                "inserted or given a managed external ID (`or-`) by hand, which this run takes "
                "over for its record (`adopt`), or treats as a row whose record left the SIS "
                "when the feed has no such record"
            )
        return (
            f"lms was changed outside rosterflow since run {state.run_id}: a hand edit, "
            "which this run reverts"
        )
    grades = derived(con, run.tenant, "grade_levels")
    if grades is None:
        return f"run {state.run_id} stored no grade levels to compare with (an older rosterflow)"
    return IncrementalBasis(
        state.run_id,
        summary,
        derived(con, run.tenant, "desired_courses"),
        grades,
        derived(con, run.tenant, "teacher_order"),
    )


def _rows_made_managed(checksum: str | None, summary: dict[str, TableSummary]) -> str:
    """How many managed rows lms holds more of than the run that left `checksum`
    (`checksum_text`) did, per table (`1 row of lms.users and 2 rows of lms.enrollments`):
    rows inserted with a managed external ID, or given one, by hand. Empty when no table has
    more."""
    if checksum is None:
        return ""
    rows_before = {
        table: int(rows) for table, rows, _ in (part.split(":") for part in checksum.split(";"))
    }
    more = {
        entity.table: summary[name].rows - rows_before[entity.table]
        for name, entity in ENTITIES.items()
        if summary[name].rows > rows_before.get(entity.table, summary[name].rows)
    }
    return " and ".join(
        f"{rows:,} {'row' if rows == 1 else 'rows'} of lms.{table}" for table, rows in more.items()
    )


def _settings_of(key: str) -> tuple[str, dict[str, object]] | None:
    """The rosterflow version and each shaping setting (`[table] name` -> value) a run's
    settings key holds (`flows.steps.settings_key`: `rosterflow <version> <JSON>`), or None
    for a key of another form."""
    product, _, rest = key.partition(" ")
    version, _, text = rest.partition(" ")
    try:
        tables = json.loads(text)
    except ValueError:
        return None
    if product != "rosterflow" or not isinstance(tables, dict):
        return None
    return version, {
        f"[{table}] {name}": value
        for table, values in tables.items()
        if isinstance(values, dict)
        for name, value in values.items()
    }


# a setting one of two runs' keys does not hold: a key keeps a setting such as
# `[identity] adopt_by` only when it is not the default
_UNSET = object()


def settings_differences(before: str, now: str) -> str | None:
    """What differs between the settings keys of two runs, said as a settings file says it:
    `[hierarchy] session_base_courses = false (was true)`, `rosterflow version 0.9.1 (was
    0.9.0)`; None when either key is of another form, or none differs. A person whose run is
    planned in full is told which change made it so, not left to compare two settings files."""
    parsed_before, parsed_now = _settings_of(before), _settings_of(now)
    if parsed_before is None or parsed_now is None:
        return None
    (version_before, settings_before), (version_now, settings_now) = parsed_before, parsed_now
    same_version = version_before == version_now
    said = [] if same_version else [f"rosterflow version {version_now} (was {version_before})"]
    # a key on one side only: under one version, a setting stored only when set (adopt_by);
    # across versions, one that the older did not have, which says nothing of the settings
    names = settings_before.keys() | settings_now.keys()
    if not same_version:
        names = settings_before.keys() & settings_now.keys()
    for name in sorted(names):
        was, value = settings_before.get(name, _UNSET), settings_now.get(name, _UNSET)
        if was != value:
            said.append(f"{name} = {_shown(value)} (was {_shown(was)})")
    return "; ".join(said) if said else None


def _shown(value: object) -> str:
    """A setting's value as TOML writes it (true, "login", ["orgs"]), or `the default`."""
    return "the default" if value is _UNSET else json.dumps(value)
