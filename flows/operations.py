"""The operator's commands on runs: approve or discard a held run, undo an applied one.

Each is a plain function over a warehouse path, like `pipeline.run_sync`. Approving and undoing
write a new run, in one transaction like a sync's (lms, history, audit, the tenant's stored
records), recorded in `audit.sync_runs` with its changes in `audit.changes` and the decision in
`audit.decisions`. A refusal (`OperationRefused`) writes nothing.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from pathlib import Path

import duckdb
import polars as pl

from rosterflow.flows.report import names_warehouse
from rosterflow.schemas.changes import EntityPlan, Plan
from rosterflow.schemas.lms import ENTITIES
from rosterflow.schemas.reads import answered
from rosterflow.schemas.runs import RunRecord, SyncResult
from rosterflow.transforms.plan import (
    course_left_behind_issues,
    deleted_ids,
    left_behind_issues,
    left_in_deleted_domains,
    renumber_new_ids,
    resource_left_behind_issues,
)
from rosterflow.transforms.undo import made_exact, rows_of, undo_changes
from rosterflow.warehouse.apply import RunWrites, record_or_fail
from rosterflow.warehouse.held import load_held
from rosterflow.warehouse.layout import (
    ID_BITS,
    Layout,
    LayoutError,
    NoSuchRun,
    is_layout,
    open_warehouse,
    same_text,
    warehouse_of_run,
    while_each_locked,
)
from rosterflow.warehouse.operations import (
    OperationRefused,
    RunInfo,
    UndoInputs,
    answer_undo_read,
    applied_since,
    drop_held,
    gave_back_to_hand,
    later_changes,
    list_runs,
    record_decision,
    rows_changed_again,
    run_info,
    tenants_with_runs,
    touched_rows,
    undo_inputs,
    undos_after,
)
from rosterflow.warehouse.records import KEEP_DAYS, later_records, restore_records
from rosterflow.warehouse.runs import after_latest_run, next_run_id, run_issues, utc_now
from rosterflow.warehouse.schema import (
    WarehouseError,
    connect,
    is_lock,
    schema_version,
    transaction,
    version_refusal,
)
from rosterflow.warehouse.state import (
    hand_made_course_references,
    hand_made_references,
    hand_made_resource_references,
    hand_made_users_checksum,
    lms_checksum,
    next_ids,
    rows_in_domains,
)

__all__ = [
    "ListedRuns",
    "OperationRefused",
    "approve_run",
    "discard_run",
    "list_runs_read",
    "runs",
    "undo_run",
]


@dataclass(frozen=True)
class ListedRuns:
    """What `rosterflow runs` lists: the runs read, newest first; of a per-tenant layout, a
    line per tenant file that could not be read (locked by another tenant's sync, say), naming
    the tenant, the file and why; and, when a `tenant` asked for has no runs, the tenants that
    have runs (so that a name mistyped does not read as a district that never synced)."""

    runs: pl.DataFrame
    unread: tuple[str, ...] = ()
    tenants_with_runs: tuple[str, ...] = ()


def list_runs_read(
    warehouse: str | Path, tenant: str | None = None, limit: int | None = None
) -> ListedRuns:
    """The runs, newest first; of every tenant of a per-tenant layout, or of `tenant` (as
    written, else in another Unicode form: `list_runs`). Each file is opened read-only:
    listing creates and migrates nothing, and needs no write access. In a layout, a tenant
    file that cannot be read is left out and named in `unread`, and the other tenants' runs
    are listed all the same; a one-file warehouse that cannot be read is a WarehouseError."""
    if not is_layout(warehouse):
        with connect(warehouse, read_only=True) as con:
            found = list_runs(con, tenant, limit)
            named = () if found.height or tenant is None else tuple(tenants_with_runs(con))
        return ListedRuns(found, (), named)
    layout = Layout(str(warehouse))
    files = layout.files()
    if tenant is not None:
        # the tenant as registered, else its one text in another Unicode form (`same_text`)
        files = {name: path for name, path in files.items() if name == tenant} or {
            name: path for name, path in files.items() if same_text(name, tenant)
        }
    found, unread = _read_each(files, lambda con: list_runs(con, tenant, limit))
    if not found:  # no tenant has synced yet, or none could be read: in list_runs' columns
        with open_warehouse(":memory:") as con:
            found = [list_runs(con, tenant, limit)]
    listed = pl.concat(found, how="vertical_relaxed").sort("started_at", descending=True)
    if limit is not None and limit < listed.height:
        listed = listed.head(limit)
    named: tuple[str, ...] = ()
    if listed.height == 0 and tenant is not None and not unread:
        # the registered tenants with a file, but those just read and found without runs:
        # each file holds its tenant's runs, and naming them waits on no file another
        # process holds
        named = tuple(sorted(name for name in layout.files() if name not in files))
    return ListedRuns(listed, unread, named)


def _read_each(
    files: Mapping[str, Path], read: Callable[[duckdb.DuckDBPyConnection], pl.DataFrame]
) -> tuple[list[pl.DataFrame], tuple[str, ...]]:
    """`read` of each tenant file opened read-only, the files other processes hold waited for
    side by side (`warehouse.layout.while_each_locked`: one lock wait in all, which Ctrl-C
    ends), and a line per file that could not be read (held past the wait, of another schema
    version, no DuckDB file), naming its tenant: a file's name percent-encodes the tenant's
    (`Montr%C3%A9al.duckdb`)."""

    def attempt(path: Path) -> pl.DataFrame | str:
        """The file's `read`, or why it is none; DuckDB's lock raised, for the wait."""
        try:
            con = duckdb.connect(str(path), read_only=True)
        except duckdb.Error as error:
            if is_lock(error):
                raise
            return f"{path}: cannot open the warehouse ({error})"
        try:
            refusal = version_refusal(path, schema_version(con))
            return read(con) if refusal is None else refusal
        finally:
            con.close()

    answers, held = while_each_locked(
        {tenant: (path, partial(attempt, path)) for tenant, path in files.items()}
    )
    unread = {tenant: answer for tenant, answer in answers.items() if isinstance(answer, str)}
    unread |= held
    found = [answer for answer in answers.values() if not isinstance(answer, str)]
    return found, tuple(
        f"the runs of tenant {tenant!r} are not listed: {unread[tenant]}"
        for tenant in files
        if tenant in unread
    )


def runs(
    warehouse: str | Path, tenant: str | None = None, limit: int | None = None
) -> pl.DataFrame:
    """The runs, newest first (`list_runs_read`); a tenant file of a layout that cannot be
    read is a WarehouseError naming it, as a one-file warehouse that cannot be read is."""
    listed = list_runs_read(warehouse, tenant, limit)
    if listed.unread:
        raise WarehouseError(listed.unread[0])
    return listed.runs


def run_file(warehouse: str | Path, run_id: int) -> Path:
    """The file holding run `run_id` (its tenant's, in a per-tenant layout). A run id two
    tenant files hold is a usage mistake (LayoutError, exit 2), not a refusal."""
    try:
        return warehouse_of_run(warehouse, run_id)
    except NoSuchRun:
        raise OperationRefused(
            f"there is no run {run_id} in {warehouse} (`{_command('runs', None, warehouse)}`)"
        ) from None
    except LayoutError:  # (the run in two files: its own words say so)
        raise
    except WarehouseError as error:
        # a run id below a layout's id ranges is looked for in every tenant file (a one-file
        # warehouse copied in holds such runs): a file another tenant's sync holds stopped
        # it, which its own words leave unexplained for a run of another tenant
        raise WarehouseError(
            f"run {run_id} is numbered as a one-file warehouse's runs are (below "
            f"{1 << ID_BITS:,}, where the tenants of {warehouse} number theirs), so it is "
            f"looked for in every tenant file, and one could not be read: {error}"
        ) from None


@contextmanager
def _run_warehouse(
    warehouse: str | Path, run_id: int
) -> Iterator[tuple[Path, duckdb.DuckDBPyConnection]]:
    """The file holding run `run_id` (`run_file`), open for writing while the block lasts. In
    a layout, a file that cannot be opened (held past the wait by its tenant's sync, say) is
    named with its tenant too: the file's name percent-encodes the tenant's
    (`Montr%C3%A9al%2FEst.duckdb`)."""
    file = run_file(warehouse, run_id)
    with ExitStack() as opened:
        try:
            con = opened.enter_context(open_warehouse(file, existing=True))
        except WarehouseError as error:
            tenant = Layout(str(warehouse)).tenant_of_run(run_id) if is_layout(warehouse) else None
            if tenant is None:  # a one-file warehouse: the file is the one the user named
                raise
            raise WarehouseError(f"run {run_id} of tenant {tenant!r}: {error}") from None
        yield file, con


def _run_in(con: duckdb.DuckDBPyConnection, warehouse: str | Path, file: Path, run_id: int):
    """The run, refused naming where it was looked for: in a layout, the tenant's file its id
    points to (a run id of the tenant's range that its file does not have)."""
    listing = f"`{_command('runs', None, warehouse)}`"
    if not is_layout(warehouse):  # the file the user named: a cron log shows which
        if run_id >= 1 << ID_BITS:
            # an id a per-tenant layout gives: copied from its runs with this file named
            listing += (
                f"; run ids from {1 << ID_BITS:,} up are a per-tenant layout's: name its "
                "template, --warehouse 'dir/{tenant}.duckdb'"
            )
        return run_info(con, run_id, f"this warehouse, {file}", listing)
    return run_info(con, run_id, f"{file}, the file of {warehouse} its id points to", listing)


def _command(verb: str, run_id: int | None, warehouse: str | Path) -> str:
    """`rosterflow <verb> <run>` (`rosterflow <verb>` without a run) as a refusal suggests
    it, with `--warehouse` naming the warehouse unless it is the default one-file warehouse:
    copied without it, the command reads `rosterflow.duckdb` of the current folder, which
    holds none of a layout's runs ("no such warehouse", exit 2) and, of another one-file
    warehouse, a run of the same number that is another district's (undone by mistake)."""
    words = f"rosterflow {verb}" if run_id is None else f"rosterflow {verb} {run_id}"
    if not names_warehouse(warehouse):
        return words
    return f"{words} --warehouse {shlex.quote(str(warehouse))}"


def _undecided_held(info: RunInfo, decision: str) -> None:
    """Refuse `decision` (approve, discard) of a run that is not held, or was decided."""
    if info.outcome != "held":
        raise OperationRefused(
            f"run {info.run_id} is not held (its outcome is {info.outcome}): only a run held by "
            f"a safety guard can be {decision}"
        )
    if info.decision is not None:
        by = f" (run {info.decided_run_id})" if info.decided_run_id is not None else ""
        raise OperationRefused(f"run {info.run_id} was already {info.decision}{by}")


def approve_run(warehouse: str | Path, run_id: int) -> SyncResult:
    """Apply a held run's plan, exactly as it was planned, as a new run. Refused unless the
    tenant's lms and stored records are as the plan found them: no run applied since, the
    managed lms rows' checksum unchanged (a hand edit since), and of a plan that adopts
    accounts made by hand, those accounts' checksum unchanged too (one deleted, edited, or a
    second candidate made since: the plan's match may be wrong now)."""
    with _run_warehouse(warehouse, run_id) as (file, con):
        info = _run_in(con, warehouse, file, run_id)
        _undecided_held(info, "approved")
        since = applied_since(con, info.tenant, run_id)
        if since:
            raise OperationRefused(
                f"run {since[-1]} was applied to tenant {info.tenant} after run {run_id} was "
                "planned, so its plan no longer fits: sync the feed again, and approve that run "
                f"if it is held too (`{_command('discard', run_id, warehouse)}` drops this one)"
            )
        writes, state = load_held(con, run_id, _command("discard", run_id, warehouse))
        if lms_checksum(con, info.tenant) != state.lms_checksum:
            raise OperationRefused(
                f"tenant {info.tenant}'s lms rows changed since run {run_id} was planned (edited "
                "by hand?), so its plan no longer fits: sync the feed again"
            )
        if (
            state.hand_made_checksum is not None
            and hand_made_users_checksum(con, info.tenant) != state.hand_made_checksum
        ):
            raise OperationRefused(
                f"tenant {info.tenant}'s users made by hand changed since run {run_id} was "
                "planned (an account deleted, edited or added), and its plan adopts accounts made "
                "by hand or creates users, so its matches may be wrong now: sync the feed again"
            )
        # other tenants may have created rows since: the plan's new ids move up past theirs
        plan = renumber_new_ids(writes.plan, state.next_ids, next_ids(con))
        run = RunRecord(
            run_id=next_run_id(con),
            tenant=info.tenant,
            feed_name=info.feed_name,
            feed_sha256=info.feed_sha256,
            started_at=after_latest_run(con, info.tenant, utc_now()),
            outcome="applied",
            message=f"approved held run {run_id}",
            content_sha256=info.content_sha256,
            settings_key=info.settings_key,
            planning=state.planning,
            planning_note=state.planning_note,
        )
        issues = run_issues(con, run_id)

        def decide(con_: duckdb.DuckDBPyConnection) -> None:
            record_decision(con_, run_id, "approved", run.run_id)
            drop_held(con_, run_id)

        return record_or_fail(con, run, issues, replace(writes, plan=plan), also=decide)


def discard_run(warehouse: str | Path, run_id: int) -> RunInfo:
    """Drop a held run's plan; nothing else changes. The run stays in audit as held, with the
    decision beside it."""
    with _run_warehouse(warehouse, run_id) as (file, con):
        info = _run_in(con, warehouse, file, run_id)
        _undecided_held(info, "discarded")
        with transaction(con):
            record_decision(con, run_id, "discarded", None)
            drop_held(con, run_id)
        return info


def _refuse_reused_ids(
    run_id: int, touched: pl.DataFrame, inputs: Mapping[str, UndoInputs]
) -> None:
    """Refuse to undo a run that deleted a row whose id another row holds now (one inserted
    by hand under it): bringing the row back would give two rows one id, and what pointed at
    the deleted row (a student's enrollments, a parent's links) would point at the other."""
    for name, entity in ENTITIES.items():
        holders = inputs[name].holders
        if holders.height == 0:
            continue
        first = holders.row(0, named=True)
        deleted = touched.filter(
            (pl.col("entity") == name) & (pl.col("entity_id") == first["entity_id"])
        ).get_column("external_id")
        was = f" ({deleted[0]})" if deleted.len() and deleted[0] is not None else ""
        now = (
            "a row made by hand"
            if first["external_id"] is None
            else f"the row {first['external_id']!r}"
        )
        more = f" (and {holders.height - 1:,} more rows of lms.{entity.table})" * (
            holders.height > 1
        )
        raise OperationRefused(
            f"run {run_id} deleted {name} {first['entity_id']}{was}, and {now} of tenant "
            f"{first['tenant']!r} holds that id now{more}: undoing run {run_id} would bring the "
            f"deleted row back under an id another row has. Give that row an id of its own "
            f"(select next_id from audit.next_ids where table_name = '{entity.table}'), then "
            "undo again"
        )


def _already_undone(
    con: duckdb.DuckDBPyConnection, warehouse: str | Path, run_id: int, undone_by: int
) -> str:
    """Why run `run_id`, undone by run `undone_by`, is not undone again, and which run to undo
    instead: its undo, unless that was undone too, and so on down the chain of undos (an
    undone undo brought the changes back: undoing it again would not take them back)."""
    later_undos = dict(undos_after(con, run_id))  # (every link of the chain is a later run)
    chain = [undone_by]
    while chain[-1] in later_undos:
        chain.append(later_undos[chain[-1]])
    taken_back = len(chain) % 2 == 1  # the last undo took `run_id`'s changes back
    undone = (
        f"run {run_id} was {'already ' if taken_back else ''}undone by run {undone_by}"
        + "".join(f", itself undone by run {r}" for r in chain[1:])
    )
    if taken_back:
        if gave_back_to_hand(con, chain[-1]):
            # that undo is refused (`_refuse_taking_back_from_the_hand`): a sync brings the
            # changes back, adopting the accounts anew
            return (
                f"{undone}, so its changes are taken back; run {chain[-1]} gave accounts back "
                "to the hands that made them, which an undo never takes: sync the tenant's feed "
                "again to bring the changes back (its new users adopt the accounts anew)"
            )
        return (
            f"{undone}, so its changes are taken back (`{_command('undo', chain[-1], warehouse)}` would "
            "bring them back)"
        )
    again = _command("undo", chain[-1], warehouse)
    return f"{undone}, so its changes are back: `{again}` takes them back again"


def cancelled_out(undos: list[tuple[int, int]]) -> set[int]:
    """The runs among `undos` ((the run undone, the run that undid it), of runs after the one
    being undone) whose changes are taken back by another: a run undone by an undo that is
    still in effect, and that undo. An undo undone in turn is not in effect, so a chain of undos
    cancels out in pairs: 5 undone by 6 (both cancel out), 5 by 6 and 6 by 7 (5 is in effect
    again; 6 and 7 cancel out). Undoing the older run then does not wait on them: asking for
    them to be undone first would bring back what they took back."""
    undone_by = dict(undos)
    cancelled: set[int] = set()
    # an undo is newer than the run it undoes: from the newest down, each undo's own fate is
    # known when its target's is decided (a decision per run: a few, never lms rows)
    for target in sorted(undone_by, reverse=True):
        if undone_by[target] not in cancelled:
            cancelled.add(target)
    return cancelled | {undo for target, undo in undone_by.items() if target in cancelled}


def _refuse_taking_back_from_the_hand(run_id: int, touched: pl.DataFrame) -> None:
    """Refuse to undo a run that gave accounts back to the hands that made them (it undid an
    adoption). An undo never takes a row made by hand: the account would stay the hand's while
    the rows the adopting run made (its enrollments, observer links) came back pointing at it.
    Syncing the feed again adopts it anew, as `[identity] adopt_by` says."""
    given_back = touched.filter(pl.col("to_hand"))
    if given_back.height == 0:
        return
    first = given_back.row(0, named=True)
    more = f" (and {given_back.height - 1:,} more)" * (given_back.height > 1)
    raise OperationRefused(
        f"run {run_id} gave {first['entity']} {first['entity_id']} back to the account made by "
        f"hand that an earlier run had adopted{more}: an undo never takes an account made by "
        f"hand, so undoing run {run_id} would bring back rows pointing at an account the sync "
        "does not manage. Sync the tenant's feed again instead: its new users adopt the "
        "accounts anew ([identity] adopt_by)"
    )


def undo_run(warehouse: str | Path, run_id: int, force: bool = False) -> SyncResult:
    """A new run that brings every lms row `run_id` changed back to its version before it
    (`transforms.undo`), and the tenant's stored records too when no later run stored any.
    Refused when a later run changed any of the same rows, unless `force`: then those rows
    are brought back all the same. No managed row is left pointing at nothing: a row that
    would come back pointing at a row gone since stays as it is, and the managed rows later
    runs made that point at a row the undo deletes (an enrollment of the user it created) are
    deleted with it under `force`, else the undo is refused as overwriting later runs
    (`transforms.undo.made_exact`). Rows made by hand
    are never touched: those left pointing at a row the undo deletes are warnings of the run
    (`_undo_warnings`). The tenant's next sync is planned in full."""
    with _run_warehouse(warehouse, run_id) as (file, con):
        info = _run_in(con, warehouse, file, run_id)
        if info.outcome != "applied":
            hint = ""
            if info.outcome == "held" and info.decision == "approved":
                # its changes were applied by the run that approved it: that one is undone,
                # unless it was undone already (then undoing it again is refused in turn)
                approving = run_info(con, info.decided_run_id)
                hint = f"; it was approved by run {approving.run_id}, which applied its plan" + (
                    f": `{_command('undo', approving.run_id, warehouse)}` undoes that"
                    if approving.decision != "undone"
                    else ", and "
                    + _already_undone(con, warehouse, approving.run_id, approving.decided_run_id)
                )
            elif info.outcome == "held" and info.decision is None:
                hint = f"; `{_command('discard', run_id, warehouse)}` drops a held run"
            raise OperationRefused(
                f"run {run_id} was {info.outcome}, not applied: it changed nothing to undo{hint}"
            )
        if info.decision == "undone":
            raise OperationRefused(_already_undone(con, warehouse, run_id, info.decided_run_id))
        touched = touched_rows(con, run_id)
        if touched.height == 0:
            raise OperationRefused(f"run {run_id} changed no lms row: nothing to undo")
        _refuse_taking_back_from_the_hand(run_id, touched)
        later = later_changes(con, info.tenant, run_id, touched).filter(
            ~pl.col("run_id").is_in(sorted(cancelled_out(undos_after(con, run_id))))
        )
        if later.height and not force:
            later_runs = later["run_id"].to_list()
            again = rows_changed_again(con, info.tenant, run_id, touched, later_runs)
            names = ", ".join(str(r) for r in later_runs)
            raise OperationRefused(
                f"{again:,} of the rows run {run_id} changed {'was' if again == 1 else 'were'} "
                f"changed again by later run(s) {names}; undoing run {run_id} would overwrite "
                "that. Undo the later runs first (newest first), or give --force to bring back "
                f"the versions from before run {run_id} all the same"
            )
        plan = Plan(info.tenant)
        inputs_by_entity = {
            name: undo_inputs(con, info.tenant, run_id, entity, touched)
            for name, entity in ENTITIES.items()
        }
        _refuse_reused_ids(run_id, touched, inputs_by_entity)
        for name, entity in ENTITIES.items():
            inputs = inputs_by_entity[name]
            changes = undo_changes(
                entity, run_id, inputs.touched, inputs.before, inputs.current, inputs.taken
            )
            plan.entities[name] = EntityPlan(entity, changes, 0)
        exact = answered(made_exact(plan, run_id), partial(answer_undo_read, con, info.tenant))
        plan = exact.plan
        if exact.cascaded and not force:
            names = ", ".join(str(r) for r in exact.later_runs)
            raise OperationRefused(
                f"later run(s) {names} made rows pointing at rows undoing run {run_id} deletes "
                f"({rows_of(exact.cascaded)}); undoing run {run_id} would delete them too. Undo "
                "the later runs first (newest first), or give --force to delete them with it"
            )
        # what the run replaced is kept for KEEP_DAYS: an older run's may be gone already
        recent = info.started_at >= utc_now() - timedelta(days=KEEP_DAYS)
        restores_records = recent and not later_records(con, info.tenant, run_id)
        if restores_records:
            records_note = "; the tenant's stored OneRoster records are as before it"
        elif recent:
            records_note = (
                "; the tenant's stored OneRoster records stay as the later runs left them"
            )
        else:
            records_note = (
                f"; the tenant's stored OneRoster records stay as they are (what run {run_id} "
                f"replaced is kept for {KEEP_DAYS} days only)"
            )
        run = RunRecord(
            run_id=next_run_id(con),
            tenant=info.tenant,
            feed_name=f"undo of run {run_id}",
            feed_sha256=None,
            started_at=after_latest_run(con, info.tenant, utc_now()),
            outcome="applied",
            message=f"undid run {run_id}{' (--force)' if force else ''}{exact.note}{records_note}",
            settings_key=info.settings_key,
        )

        def decide(con_: duckdb.DuckDBPyConnection) -> None:
            if restores_records:
                restore_records(con_, info.tenant, run_id)
            record_decision(con_, run_id, "undone", run.run_id)

        return record_or_fail(con, run, _undo_warnings(con, plan), RunWrites(plan), also=decide)


def _undo_warnings(con: duckdb.DuckDBPyConnection, plan: Plan) -> pl.DataFrame:
    """The warnings a sync's plan gets for what it leaves pointing at nothing, for an undo's
    `plan`: the users, courses and domains it deletes (those the undone run created) that
    rows made by hand point at or belong to (an enrollment made by hand of the user the run
    created, a line item in its section). An undo never touches a row made by hand, as a sync
    does not: it used to delete the row beneath them without a word, where a sync warns. The
    sync's advice to keep such rows by a `[policy]` is left out: an undo deletes what the run
    created, whatever the policy. A resource it deletes that content assignments made by hand
    point at is warned of likewise."""
    tenant = plan.tenant
    return pl.concat(
        [
            left_behind_issues(
                plan,
                hand_made_references(con, tenant, deleted_ids(plan, "user")),
                advice=False,
            ),
            course_left_behind_issues(
                plan,
                hand_made_course_references(con, tenant, deleted_ids(plan, "course")),
                advice=False,
            ),
            resource_left_behind_issues(
                plan,
                hand_made_resource_references(con, tenant, deleted_ids(plan, "resource")),
                advice=False,
            ),
            left_in_deleted_domains(
                plan, rows_in_domains(con, tenant, deleted_ids(plan, "domain")), advice=False
            ),
        ]
    )
