# /// script
# requires-python = ">=3.11"
# dependencies = [
#     "marimo>=0.25",
#     "altair>=6",
#     "duckdb>=2.0",
#     "polars>=2.1",
#     "pyarrow>=17",
#     "rosterflow",
# ]
#
# [tool.uv.sources]
# rosterflow = { path = "..", editable = true }
# ///
"""Sync audit: what each run changed, the issues its feed had, rejected runs and why, held runs
and the decisions about runs (approved, discarded, undone); and the grades sent back to the
SIS: what each export and push sent, and what the SIS refused.

Reads the warehouse named by ROSTERFLOW_WAREHOUSE (default: rosterflow.duckdb), read-only:
one file, or with `{tenant}` in it (`wh/{tenant}.duckdb`) every tenant's file of that layout.
Open it with `marimo edit notebooks/sync_audit.py` or `marimo run notebooks/sync_audit.py`.
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Sync audit")

with app.setup:
    import altair as alt
    import marimo as mo
    import polars as pl
    from _shared import RUN_STEP, pick_tenant, run_axis, sql_panel, with_run_label

    from rosterflow.flows.notify import decide_commands
    from rosterflow.schemas.gradebook import REFUSED_RETRY
    from rosterflow.warehouse.readonly import ReadOnlyWarehouse

    # the warehouse ROSTERFLOW_WAREHOUSE names, read-only; it keeps the SQL each panel showed
    WAREHOUSE = ReadOnlyWarehouse.from_environment()
    query = WAREHOUSE.query  # the rows of one read-only query


@app.function
def show_sql(name: str, sql: str, **params: object) -> mo.Html:
    """A folded panel with the copyable form of the query."""
    return sql_panel(WAREHOUSE, name, sql, **params)


@app.cell(hide_code=True)
def _():
    mo.md(f"""
    # Sync audit

    What each sync run did (`audit.sync_runs`, `audit.changes`), what it found in its feed
    (`audit.issues`) and what became of it (`audit.decisions`). Warehouse:
    {WAREHOUSE.label} (set `ROSTERFLOW_WAREHOUSE` to read another). Times are UTC.
    Each **SQL** panel runs as it is in the DuckDB CLI, `{WAREHOUSE.session}` (the CLI is not
    installed with rosterflow), or from Python with the `duckdb` package, which is
    (`docs/how-to/query.md`).
    """)
    return


@app.cell(hide_code=True)
def _():
    tenant_picker = pick_tenant(WAREHOUSE)
    tenant_picker
    return (tenant_picker,)


@app.cell
def _(tenant_picker):
    tenant = tenant_picker.value
    return (tenant,)


@app.cell(hide_code=True)
def _():
    mo.md("""
    ## Runs
    """)
    return


@app.cell
def _():
    RUNS_SQL = """
    -- every run of the tenant, newest first, with how much it changed and found, and what
    -- became of it (a held run approved or discarded, an applied run undone: by which run)
    with

    runs as (
        select * from audit.sync_runs where tenant = $tenant
    ),

    changes as (
        select run_id, count(*) as changes
        from audit.changes
        where run_id in (select run_id from runs)
        group by run_id
    ),

    issues as (
        select
            run_id,
            count(*) filter (where severity = 'error') as errors,
            count(*) filter (where severity = 'warning') as warnings,
        from audit.issues
        where run_id in (select run_id from runs)
        group by run_id
    ),

    decisions as (
        select
            run_id,
            string_agg(
                decision || coalesce(' by run ' || result_run_id, ''), '; ' order by decided_at
            ) as decision,
        from audit.decisions
        where run_id in (select run_id from runs)
        group by run_id
    ),

    final as (
        select
            runs.run_id,
            runs.started_at,
            runs.finished_at,
            runs.feed_name,
            runs.outcome,
            decisions.decision,
            coalesce(changes.changes, 0) as changes,
            coalesce(issues.errors, 0) as errors,
            coalesce(issues.warnings, 0) as warnings,
            runs.message,
            runs.feed_sha256,
            runs.rosterflow_version,
        from runs
        left join changes on changes.run_id = runs.run_id
        left join issues on issues.run_id = runs.run_id
        left join decisions on decisions.run_id = runs.run_id
    )

    select * from final
    order by run_id desc
    """
    return (RUNS_SQL,)


@app.cell
def _(RUNS_SQL, tenant):
    runs = query(RUNS_SQL, tenant=tenant)
    return (runs,)


@app.cell(hide_code=True)
def _(RUNS_SQL, runs, tenant):
    _outcomes = dict(runs.group_by("outcome").len().iter_rows())
    _latest = runs.row(0, named=True)
    mo.vstack(
        [
            mo.hstack(
                [
                    mo.stat(runs.height, label="runs"),
                    *(
                        mo.stat(_outcomes.get(outcome, 0), label=outcome)
                        for outcome in ("applied", "planned", "held", "rejected", "failed")
                    ),
                    mo.stat(
                        _latest["outcome"],
                        label=f"latest run (#{_latest['run_id']})",
                        caption=f"{_latest['started_at']:%Y-%m-%d %H:%M} UTC",
                    ),
                ],
                justify="start",
                wrap=True,
            ),
            mo.ui.table(runs, selection=None, page_size=10),
            show_sql("runs", RUNS_SQL, tenant=tenant),
        ]
    )
    return


@app.cell(hide_code=True)
def _():
    mo.md("""
    ## Changes per run

    How many platform rows each run changed (or planned to change, for a dry run or a held
    run), by entity and action. The colour scale is logarithmic so that a first full load and
    a handful of daily changes show side by side.
    """)
    return


@app.cell
def _():
    last_runs = mo.ui.number(start=1, stop=1000, value=12, label="Show the last … runs")
    last_runs
    return (last_runs,)


@app.cell
def _():
    CHANGES_PER_RUN_SQL = """
    -- rows changed per run of the tenant, by entity and action (the last $last_runs runs)
    with

    runs as (
        select run_id, started_at, outcome
        from audit.sync_runs
        where tenant = $tenant
        order by run_id desc
        limit $last_runs
    ),

    final as (
        select
            runs.run_id,
            runs.started_at,
            runs.outcome,
            changes.entity,
            changes.action,
            count(*) as changes,
        from audit.changes as changes
        inner join runs on runs.run_id = changes.run_id
        group by all
    )

    select * from final
    order by run_id, entity, action
    """
    return (CHANGES_PER_RUN_SQL,)


@app.cell
def _(CHANGES_PER_RUN_SQL, last_runs, tenant):
    changes_per_run = query(CHANGES_PER_RUN_SQL, tenant=tenant, last_runs=int(last_runs.value))
    return (changes_per_run,)


@app.function
def changes_heatmap(frame: pl.DataFrame) -> alt.LayerChart:
    """Runs across, entity · action down, the count in each cell (colour on a log scale)."""
    cells = with_run_label(
        frame.with_columns(
            pl.concat_str("entity", pl.lit(" · "), "action").alias("change"),
            pl.col("started_at").dt.strftime("%Y-%m-%d %H:%M:%S UTC").alias("started"),
        ),
        at="started_at",
    )
    base = alt.Chart(cells).encode(
        x=run_axis(cells),
        y=alt.Y("change:N", title=None),
    )
    return (
        base.mark_rect().encode(
            color=alt.Color("changes:Q", title="rows", scale=alt.Scale(type="log", scheme="blues")),
            tooltip=["run_id:O", "started:N", "outcome:N", "entity:N", "action:N", "changes:Q"],
        )
        + base.mark_text(fontSize=10).encode(
            text=alt.Text("changes:Q", format=","),
            color=alt.condition(alt.datum.changes > 100, alt.value("white"), alt.value("black")),
        )
    ).properties(width=alt.Step(RUN_STEP), height=alt.Step(20), title="Rows changed per run")


@app.cell(hide_code=True)
def _(CHANGES_PER_RUN_SQL, changes_per_run, last_runs, tenant):
    mo.vstack(
        [
            changes_heatmap(changes_per_run)
            if not changes_per_run.is_empty()
            else mo.callout(
                mo.md(f"No run of tenant `{tenant}` changed anything yet."), kind="info"
            ),
            mo.accordion({"Data": mo.ui.table(changes_per_run, selection=None)}),
            show_sql(
                "changes_per_run",
                CHANGES_PER_RUN_SQL,
                tenant=tenant,
                last_runs=int(last_runs.value),
            ),
        ]
    )
    return


@app.cell(hide_code=True)
def _():
    mo.md("""
    ## Issues per run

    What validation found in each run's feed, by rule and severity. Errors reject a run;
    warnings do not.
    """)
    return


@app.cell
def _():
    ISSUES_PER_RUN_SQL = """
    -- issues per run of the tenant, by severity, rule and file (the last $last_runs runs)
    with

    runs as (
        select run_id, started_at, outcome
        from audit.sync_runs
        where tenant = $tenant
        order by run_id desc
        limit $last_runs
    ),

    final as (
        select
            runs.run_id,
            runs.started_at,
            runs.outcome,
            issues.severity,
            issues.rule,
            issues.file,
            count(*) as issues,
        from audit.issues as issues
        inner join runs on runs.run_id = issues.run_id
        group by all
    )

    select * from final
    order by run_id, severity, rule, file
    """
    return (ISSUES_PER_RUN_SQL,)


@app.cell
def _(ISSUES_PER_RUN_SQL, last_runs, tenant):
    issues_per_run = query(ISSUES_PER_RUN_SQL, tenant=tenant, last_runs=int(last_runs.value))
    return (issues_per_run,)


@app.function
def issues_chart(frame: pl.DataFrame) -> alt.FacetChart:
    """Issues per run, stacked by rule, one row per severity."""
    bars = with_run_label(frame, at="started_at")
    return (
        alt.Chart(bars)
        .mark_bar()
        .encode(
            x=run_axis(bars),
            y=alt.Y("sum(issues):Q", title="issues", axis=alt.Axis(format=",d", tickMinStep=1)),
            color=alt.Color("rule:N", title="rule"),
            tooltip=["run_id:O", "outcome:N", "severity:N", "rule:N", "file:N", "issues:Q"],
        )
        .properties(width=alt.Step(RUN_STEP), height=140)
        .facet(row=alt.Row("severity:N", title=None), title="Issues per run")
        .resolve_scale(y="independent")
    )


@app.cell(hide_code=True)
def _(ISSUES_PER_RUN_SQL, issues_per_run, last_runs, tenant):
    mo.vstack(
        [
            issues_chart(issues_per_run)
            if not issues_per_run.is_empty()
            else mo.callout(
                mo.md(f"No issues recorded for the runs of tenant `{tenant}`."), kind="success"
            ),
            mo.accordion({"Data": mo.ui.table(issues_per_run, selection=None)}),
            show_sql(
                "issues_per_run",
                ISSUES_PER_RUN_SQL,
                tenant=tenant,
                last_runs=int(last_runs.value),
            ),
        ]
    )
    return


@app.cell(hide_code=True)
def _():
    mo.md("""
    ## Rejected and failed runs

    A rejected or failed run changed nothing; its message says why (validation errors, what
    the warehouse holds that the sync must not guess at, or the error that stopped it), and
    its errors follow. A run over a safety guard is held instead: see the next section.
    """)
    return


@app.cell
def _():
    REJECTED_RUNS_SQL = """
    -- the tenant's rejected and failed runs, why, and their first errors
    with

    runs as (
        select * from audit.sync_runs
        where tenant = $tenant and outcome in ('rejected', 'failed')
    ),

    errors as (
        select
            run_id,
            count(*) as errors,
            list(
                concat_ws(' ', file || ':' || line, field, '= ' || value, '(' || rule || ')')
                order by file, line, field
            )[1:5] as first_errors,
        from audit.issues
        where severity = 'error' and run_id in (select run_id from runs)
        group by run_id
    ),

    final as (
        select
            runs.run_id,
            runs.started_at,
            runs.feed_name,
            runs.outcome,
            runs.message,
            coalesce(errors.errors, 0) as errors,
            array_to_string(errors.first_errors, '; ') as first_errors,
        from runs
        left join errors on errors.run_id = runs.run_id
    )

    select * from final
    order by run_id desc
    """
    REJECTED_ISSUES_SQL = """
    -- every issue of the tenant's rejected and failed runs
    select issues.*
    from audit.issues as issues
    inner join audit.sync_runs as runs on runs.run_id = issues.run_id
    where runs.tenant = $tenant and runs.outcome in ('rejected', 'failed')
    order by issues.run_id desc, issues.severity, issues.file, issues.line, issues.field
    """
    return REJECTED_ISSUES_SQL, REJECTED_RUNS_SQL


@app.cell(hide_code=True)
def _(REJECTED_ISSUES_SQL, REJECTED_RUNS_SQL, tenant):
    rejected_runs = query(REJECTED_RUNS_SQL, tenant=tenant)
    if rejected_runs.is_empty():
        _view = mo.callout(
            mo.md(f"No run of tenant `{tenant}` was rejected or failed."), kind="success"
        )
    else:
        _view = mo.vstack(
            [
                mo.ui.table(rejected_runs, selection=None, wrapped_columns=["message"]),
                mo.accordion(
                    {
                        "All their issues": mo.ui.table(
                            query(REJECTED_ISSUES_SQL, tenant=tenant), selection=None
                        )
                    }
                ),
            ]
        )
    mo.vstack(
        [
            _view,
            show_sql("rejected_runs", REJECTED_RUNS_SQL, tenant=tenant),
            show_sql("rejected_issues", REJECTED_ISSUES_SQL, tenant=tenant),
        ]
    )
    return


@app.cell(hide_code=True)
def _():
    mo.md("""
    ## Held runs and decisions

    A run over a safety guard (such as the share of users a feed would remove) is held: its
    change set is planned and kept, nothing is applied, and it waits for a decision.
    `rosterflow approve RUN` applies exactly that plan as a new run (refused once another run
    of the tenant was applied after it, or its rows were edited since: then sync the feed
    again); `rosterflow discard RUN` drops it. `rosterflow undo RUN` brings back what an
    applied run changed, as a new run. Every decision is logged in `audit.decisions`.
    """)
    return


@app.cell
def _():
    HELD_RUNS_SQL = """
    -- the tenant's held runs that wait for a decision, with the changes each planned
    with

    runs as (
        select * from audit.sync_runs
        where tenant = $tenant
            and outcome = 'held'
            and run_id not in (select run_id from audit.decisions)
    ),

    counts as (
        select run_id, entity, action, count(*) as changes
        from audit.changes
        where run_id in (select run_id from runs)
        group by all
    ),

    planned as (
        select
            run_id,
            sum(changes)::bigint as changes,
            string_agg(
                format('{:,} {} {}', changes, entity, action), ', ' order by entity, action
            ) as planned,
        from counts
        group by run_id
    ),

    applied_since as (
        select runs.run_id, max(applied.run_id) as applied_since
        from runs
        inner join audit.sync_runs as applied
            on applied.tenant = runs.tenant
            and applied.outcome = 'applied'
            and applied.run_id > runs.run_id
        group by runs.run_id
    ),

    final as (
        select
            runs.run_id,
            runs.started_at,
            runs.feed_name,
            coalesce(planned.changes, 0) as planned_changes,
            planned.planned,
            applied_since.applied_since,
            runs.message,
        from runs
        left join planned on planned.run_id = runs.run_id
        left join applied_since on applied_since.run_id = runs.run_id
    )

    select * from final
    order by run_id desc
    """
    DECISIONS_SQL = """
    -- every decision about the tenant's runs, newest first, and the run that carried it out
    with

    runs as (
        select * from audit.sync_runs where tenant = $tenant
    ),

    decisions as (
        select * from audit.decisions where run_id in (select run_id from runs)
    ),

    result_changes as (
        select run_id, count(*) as changes
        from audit.changes
        where run_id in (select result_run_id from decisions)
        group by run_id
    ),

    final as (
        select
            decisions.decided_at,
            decisions.run_id,
            runs.outcome,
            runs.feed_name,
            decisions.decision,
            decisions.decided_by,
            decisions.result_run_id,
            case
                when decisions.result_run_id is not null
                    then coalesce(result_changes.changes, 0)
            end as result_changes,
            results.message as result_message,
        from decisions
        inner join runs on runs.run_id = decisions.run_id
        left join runs as results on results.run_id = decisions.result_run_id
        left join result_changes on result_changes.run_id = decisions.result_run_id
    )

    select * from final
    order by decided_at desc, run_id desc
    """
    return DECISIONS_SQL, HELD_RUNS_SQL


@app.cell(hide_code=True)
def _(DECISIONS_SQL, HELD_RUNS_SQL, tenant):
    held_runs = query(HELD_RUNS_SQL, tenant=tenant)
    decisions = query(DECISIONS_SQL, tenant=tenant)
    _decided = dict(decisions.group_by("decision").len().iter_rows())
    if held_runs.is_empty():
        _waiting = mo.callout(
            mo.md(f"No held run of tenant `{tenant}` waits for a decision."), kind="success"
        )
    else:
        _lines = []
        for _run in held_runs.to_dicts():
            _since = (
                f" Run #{_run['applied_since']} was applied since, so approving it is refused:"
                " sync the feed again."
                if _run["applied_since"] is not None
                else ""
            )
            # the warehouse named: `rosterflow approve 8` alone reads ./rosterflow.duckdb, none
            # of a layout's runs, or run 8 of another district's one-file warehouse
            _approve, _discard = decide_commands(_run["run_id"], WAREHOUSE.location)
            _lines.append(
                f"- Run #{_run['run_id']} waits for a decision (`{_run['feed_name']}`, "
                f"{_run['started_at']:%Y-%m-%d %H:%M} UTC, {_run['planned_changes']:,} changes "
                f"planned): `{_approve}` applies exactly its plan, `{_discard}` drops it.{_since}"
            )
        _waiting = mo.vstack(
            [
                mo.callout(mo.md("\n".join(_lines)), kind="warn"),
                mo.ui.table(held_runs, selection=None, wrapped_columns=["planned", "message"]),
            ]
        )
    _log = (
        mo.ui.table(decisions, selection=None, wrapped_columns=["result_message"])
        if not decisions.is_empty()
        else mo.callout(
            mo.md(f"No run of tenant `{tenant}` was approved, discarded or undone."), kind="info"
        )
    )
    mo.vstack(
        [
            mo.hstack(
                [
                    mo.stat(held_runs.height, label="held, waiting"),
                    *(
                        mo.stat(_decided.get(decision, 0), label=decision)
                        for decision in ("approved", "discarded", "undone")
                    ),
                ],
                justify="start",
                wrap=True,
            ),
            _waiting,
            show_sql("held_runs", HELD_RUNS_SQL, tenant=tenant),
            mo.md("### Decisions"),
            _log,
            show_sql("decisions", DECISIONS_SQL, tenant=tenant),
        ]
    )
    return


@app.cell(hide_code=True)
def _():
    mo.md("""
    ## One run's changes

    Every row a run changed, with the change's detail (`{"field": {"from": …, "to": …}}`)
    and the same spelled out. The latest run that changed anything is shown first; pick
    another below.
    """)
    return


@app.cell(hide_code=True)
def _(runs):
    _labels = {
        f"#{row['run_id']} · {row['outcome']} · {row['feed_name']} · "
        f"{row['started_at']:%Y-%m-%d %H:%M} · {row['changes']:,} changes": row["run_id"]
        for row in runs.to_dicts()
    }
    _with_changes = runs.filter(pl.col("changes") > 0)
    _default = (_with_changes if not _with_changes.is_empty() else runs).item(0, "run_id")
    run_picker = mo.ui.dropdown(
        _labels,
        value=next(label for label, run_id in _labels.items() if run_id == _default),
        label="Run",
        searchable=True,
        full_width=True,
    )
    run_picker
    return (run_picker,)


@app.cell
def _():
    RUN_CHANGES_SQL = """
    -- every change of run $run_id, with its detail JSON spelled out
    with

    changes as (
        select * from audit.changes where run_id = $run_id
    ),

    fields as (
        select
            changes.*,
            map_entries(changes.detail::json::map(varchar, json)) as entries,
        from changes
    ),

    final as (
        select
            entity,
            action,
            external_id,
            entity_id,
            array_to_string(
                list_transform(
                    entries,
                    lambda entry: entry.key || ': ' || case
                        when json_type(entry.value) = 'OBJECT'
                            then coalesce(entry.value->>'from', '∅')
                                || ' → ' || coalesce(entry.value->>'to', '∅')
                        else coalesce(entry.value->>'$', '∅')
                    end
                ),
                '; '
            ) as changed,
            detail,
        from fields
    )

    select * from final
    order by entity, action, external_id
    """
    return (RUN_CHANGES_SQL,)


@app.cell(hide_code=True)
def _(RUN_CHANGES_SQL, run_picker, runs):
    _run = runs.filter(pl.col("run_id") == run_picker.value).row(0, named=True)
    run_changes = query(RUN_CHANGES_SQL, run_id=_run["run_id"])
    if run_changes.is_empty():
        _why = f": {_run['message']}" if _run["message"] else ""
        _view = mo.callout(
            mo.md(f"Run #{_run['run_id']} ({_run['outcome']}) changed nothing{_why}."),
            kind="info",
        )
    else:
        _planned = " (planned, not applied)" if _run["outcome"] in ("planned", "held") else ""
        _view = mo.vstack(
            [
                mo.md(
                    ", ".join(
                        f"{n:,} {entity} {action}"
                        for entity, action, n in run_changes.group_by("entity", "action")
                        .len()
                        .sort("entity", "action")
                        .iter_rows()
                    )
                    + _planned
                ),
                mo.ui.table(run_changes, selection=None, page_size=25, wrapped_columns=["changed"]),
            ]
        )
    mo.vstack([_view, show_sql("run_changes", RUN_CHANGES_SQL, run_id=_run["run_id"])])
    return


@app.cell(hide_code=True)
def _():
    mo.md("""
    ## Grades sent back to the SIS

    Each `rosterflow grades export` and `rosterflow grades push` of the tenant
    (`audit.grade_runs`): what it sent per file, what a push left out as the SIS already held
    it (`unchanged`), what the SIS refused or the push held back (`refused`), and what was not
    sent at all (`excluded`, with its reasons in `audit.grade_exclusions`). Below it, every
    record a push sent and the SIS acknowledged (`audit.grade_pushes`, outcome `sent`), then
    every record a push had refused or held back, or left unanswered (a push that stopped got
    no answer to its PUT: the SIS may hold the record), with the status and what the SIS said;
    `not_accepted` tells a refusal from a record left unanswered, and `accepted_since` whether
    a later push to the same SIS got it through.
    """)
    return


@app.cell
def _():
    GRADE_RUNS_SQL = """
    -- the tenant's grades runs, newest first: each export and push, where to, and what became
    -- of its records
    select
        grade_run_id,
        started_at,
        kind,
        oneroster_version,
        destination,
        outcome,
        categories,
        line_items,
        results,
        unchanged,
        refused,
        excluded,
        message,
    from audit.grade_runs
    where tenant = $tenant
    order by grade_run_id desc
    """
    GRADE_REFUSALS_SQL = """
    -- every record the SIS refused, a push held back, or a push that stopped left unanswered,
    -- in the tenant's pushes, newest first; not_accepted: refused or held back (as
    -- audit.grade_runs counts them), not a PUT unanswered, which the SIS may have stored,
    -- unless the SIS refused its retry ($refused_retry ends the reason); accepted_since: a
    -- later push to the same SIS got it acknowledged
    with

    runs as (
        select * from audit.grade_runs where tenant = $tenant and kind = 'push'
    ),

    pushes as (
        select pushes.*, runs.destination, runs.started_at
        from audit.grade_pushes as pushes
        inner join runs on runs.grade_run_id = pushes.grade_run_id
    ),

    acknowledged as (
        select destination, entity, sourced_id, max(grade_run_id) as last_sent_run
        from pushes
        where outcome = 'sent'
        group by destination, entity, sourced_id
    ),

    final as (
        select
            pushes.grade_run_id,
            pushes.started_at,
            pushes.destination,
            pushes.entity,
            pushes.sourced_id,
            pushes.outcome,
            pushes.status,
            pushes.reason,
            pushes.outcome <> 'unanswered' or coalesce(ends_with(pushes.reason, $refused_retry), false)
                as not_accepted,
            coalesce(acknowledged.last_sent_run > pushes.grade_run_id, false) as accepted_since,
        from pushes
        left join acknowledged
            on acknowledged.destination = pushes.destination
            and acknowledged.entity = pushes.entity
            and acknowledged.sourced_id = pushes.sourced_id
        where pushes.outcome <> 'sent'
    )

    select * from final
    order by grade_run_id desc, entity, sourced_id
    """
    GRADE_SENT_SQL = """
    -- every record the SIS acknowledged in the tenant's pushes, newest push first, each push's
    -- records in the order it sends them (categories, line items, results); a push that stopped
    -- midway (outcome failed) lists what was acknowledged before it stopped
    with

    runs as (
        select * from audit.grade_runs where tenant = $tenant and kind = 'push'
    ),

    sent as (
        select * from audit.grade_pushes where outcome = 'sent'
    ),

    final as (
        select
            sent.grade_run_id,
            runs.started_at,
            runs.destination,
            sent.entity,
            sent.sourced_id,
            sent.status,
        from sent
        inner join runs on runs.grade_run_id = sent.grade_run_id
    )

    select * from final
    order by
        grade_run_id desc,
        case entity when 'category' then 1 when 'lineItem' then 2 else 3 end,
        sourced_id
    """
    return GRADE_REFUSALS_SQL, GRADE_RUNS_SQL, GRADE_SENT_SQL


@app.cell(hide_code=True)
def _(GRADE_REFUSALS_SQL, GRADE_RUNS_SQL, GRADE_SENT_SQL, tenant):
    grade_runs = query(GRADE_RUNS_SQL, tenant=tenant)
    grade_refusals = query(GRADE_REFUSALS_SQL, tenant=tenant, refused_retry=REFUSED_RETRY)
    grade_sent = query(GRADE_SENT_SQL, tenant=tenant)
    if grade_runs.is_empty():
        _view = mo.callout(
            mo.md(
                f"No grades of tenant `{tenant}` were exported or pushed yet "
                "(`rosterflow grades export`, `rosterflow grades push`)."
            ),
            kind="info",
        )
    else:
        _pushes = grade_runs.filter(pl.col("kind") == "push")
        # a record the SIS goes on refusing is a row of every push that sent it again: it is
        # one record not accepted, however many pushes it was refused by, and what its latest
        # push made of it says which it is; a PUT left unanswered was not refused (the SIS may
        # hold it), as the push's own report says
        _pending = grade_refusals.filter(~pl.col("accepted_since")).unique(
            ["destination", "entity", "sourced_id"], keep="first", maintain_order=True
        )
        _outstanding = _pending.filter(pl.col("not_accepted"))
        _unanswered = _pending.filter(~pl.col("not_accepted"))
        if _pushes.is_empty():
            _sent = mo.md("")
        elif grade_sent.is_empty():
            _sent = mo.callout(
                mo.md(f"No push of tenant `{tenant}` got a record acknowledged by the SIS yet."),
                kind="warn",
            )
        else:
            # a push that sent nothing (the SIS held every record already) has no rows here:
            # the runs table above counts what it left out as `unchanged`
            _sent = mo.vstack(
                [
                    mo.md(
                        f"**{grade_sent.height:,} "
                        f"{'record' if grade_sent.height == 1 else 'records'} sent** "
                        f"and acknowledged by the SIS, in "
                        f"{grade_sent['grade_run_id'].n_unique():,} of "
                        f"{_pushes.height:,} {'push' if _pushes.height == 1 else 'pushes'}:"
                    ),
                    mo.ui.table(grade_sent, selection=None, page_size=10),
                ]
            )
        if _pushes.is_empty():
            _refusals = mo.md("")
        elif grade_refusals.is_empty():
            _refusals = mo.callout(
                mo.md(f"The SIS accepted every record pushed for tenant `{tenant}`."),
                kind="success",
            )
        else:
            _headlines = []
            if _outstanding.height:
                _headlines.append(
                    f"**{_outstanding.height:,} "
                    f"{'record' if _outstanding.height == 1 else 'records'} not accepted** "
                    "by the SIS since (the next push sends them again)."
                )
            if _unanswered.height:
                _one = _unanswered.height == 1
                _headlines.append(
                    f"**{_unanswered.height:,} {'record' if _one else 'records'} unanswered**, "
                    "not acknowledged since: a push stopped without the SIS's answer to "
                    f"{'its PUT' if _one else 'their PUTs'}, so the SIS may hold "
                    f"{'it' if _one else 'them'} (the next push sends "
                    f"{'it' if _one else 'them'} again)."
                )
            _refusals = mo.vstack(
                [
                    mo.md(
                        " ".join(_headlines)
                        or "Every record refused, held back or left unanswered was acknowledged "
                        "by a later push."
                    ),
                    mo.ui.table(
                        grade_refusals, selection=None, page_size=10, wrapped_columns=["reason"]
                    ),
                ]
            )
        _view = mo.vstack(
            [
                mo.hstack(
                    [
                        mo.stat(grade_runs.height - _pushes.height, label="exports"),
                        mo.stat(_pushes.height, label="pushes"),
                        mo.stat(
                            int(
                                _pushes.select(
                                    pl.sum_horizontal("categories", "line_items", "results").sum()
                                ).item()
                                or 0
                            ),
                            label="records pushed",
                        ),
                        mo.stat(_outstanding.height, label="refused, not accepted since"),
                        mo.stat(_unanswered.height, label="unanswered, not acknowledged since"),
                    ],
                    justify="start",
                    wrap=True,
                ),
                mo.ui.table(grade_runs, selection=None, page_size=10, wrapped_columns=["message"]),
                _sent,
                _refusals,
            ]
        )
    mo.vstack(
        [
            _view,
            show_sql("grade_runs", GRADE_RUNS_SQL, tenant=tenant),
            show_sql("grade_sent", GRADE_SENT_SQL, tenant=tenant),
            show_sql(
                "grade_refusals", GRADE_REFUSALS_SQL, tenant=tenant, refused_retry=REFUSED_RETRY
            ),
        ]
    )
    return


if __name__ == "__main__":
    app.run()
