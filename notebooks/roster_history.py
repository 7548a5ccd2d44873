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
"""Roster history: enrollments over time, a section's roster on a date, one student's timeline.

Reads the warehouse named by ROSTERFLOW_WAREHOUSE (default: rosterflow.duckdb), read-only:
one file, or with `{tenant}` in it (`wh/{tenant}.duckdb`) every tenant's file of that layout.
Open it with `marimo edit notebooks/roster_history.py` or `marimo run notebooks/roster_history.py`.
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Roster history")

with app.setup:
    from datetime import UTC, datetime

    import altair as alt
    import marimo as mo
    import polars as pl
    from _shared import (
        RUN_STEP,
        pick_tenant,
        picker_options,
        run_axis,
        sql_panel,
        with_run_label,
    )

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
    # Roster history

    What the learning platform's rosters looked like after each sync, read from the
    warehouse's `history` tables. Warehouse: {WAREHOUSE.label} (set
    `ROSTERFLOW_WAREHOUSE` to read another). Times are UTC. Each **SQL** panel runs as it is
    in the DuckDB CLI, `{WAREHOUSE.session}` (the CLI is not installed with rosterflow), or
    from Python with the `duckdb` package, which is (`docs/how-to/query.md`).
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
    ## Enrollments over time

    Active enrollments after each sync that changed any, per school (the domain of the
    enrollment's course, under its latest name: a school the SIS renamed is one school) and
    per role. Each point is a run that opened or closed versions of
    enrollments, labelled with its id and start; the runs stand evenly spaced in their order,
    however far apart in time, and the counts hold until the next one (a school or role whose
    last active enrollment ended shows 0 from that run on).
    """)
    return


@app.cell
def _():
    sections_only = mo.ui.switch(value=True, label="Sections only (leave out base courses)")
    sections_only
    return (sections_only,)


@app.cell
def _():
    ENROLLMENTS_OVER_TIME_SQL = """
    -- active enrollments at each point in time a run changed them, by school and role
    with

    enrollments as (
        select * from history.enrollments where tenant = $tenant
    ),

    courses as (
        select * from history.courses where tenant = $tenant
    ),

    latest_domains as (
        -- each school under its latest name: one the SIS renamed is one school, not one whose
        -- enrollments all ended at the next run and another that took them
        select domain_id, name
        from history.domains
        where tenant = $tenant
        qualify row_number() over (partition by domain_id order by valid_from desc) = 1
    ),

    snapshots as (
        -- a version made by hand (ended by the run that adopted it) opened at no run
        select distinct opened_run_id as run_id, valid_from as synced_at
        from enrollments
        where valid_from is not null
        union
        select distinct closed_run_id as run_id, valid_to as synced_at
        from enrollments
        where valid_to is not null
    ),

    enrolled as (
        select
            snapshots.run_id,
            snapshots.synced_at,
            enrollments.role,
            enrollments.course_id,
        from snapshots
        inner join enrollments
            on enrollments.valid_from <= snapshots.synced_at
            and (enrollments.valid_to is null or enrollments.valid_to > snapshots.synced_at)
        where enrollments.status = 'active'
    ),

    placed as (
        select
            enrolled.run_id,
            enrolled.synced_at,
            enrolled.role,
            courses.kind as course_kind,
            coalesce(latest_domains.name, '(no school)') as school,
        from enrolled
        inner join courses
            on courses.course_id = enrolled.course_id
            and courses.valid_from <= enrolled.synced_at
            and (courses.valid_to is null or courses.valid_to > enrolled.synced_at)
        left join latest_domains on latest_domains.domain_id = courses.domain_id
    ),

    counted as (
        select
            run_id,
            synced_at,
            school,
            role,
            count(*) as enrollments,
        from placed
        where not $sections_only or course_kind = 'section'
        group by all
    ),

    groups as (
        -- each school and role from the first run that counted an enrollment of it on: a
        -- run that ends the last of them counts none, and shows as 0 rather than no row (a
        -- line would hold its last count)
        select school, role, min(synced_at) as first_synced_at
        from counted
        group by all
    ),

    final as (
        select
            snapshots.run_id,
            snapshots.synced_at,
            groups.school,
            groups.role,
            coalesce(counted.enrollments, 0) as enrollments,
        from snapshots
        inner join groups on groups.first_synced_at <= snapshots.synced_at
        left join counted
            on counted.run_id = snapshots.run_id
            and counted.school = groups.school
            and counted.role = groups.role
    )

    select * from final
    order by synced_at, school, role
    """
    return (ENROLLMENTS_OVER_TIME_SQL,)


@app.cell
def _(ENROLLMENTS_OVER_TIME_SQL, sections_only, tenant):
    over_time = query(
        ENROLLMENTS_OVER_TIME_SQL, tenant=tenant, sections_only=sections_only.value
    ).with_columns(pl.col("synced_at").dt.replace_time_zone("UTC"))
    return (over_time,)


@app.function
def enrollment_trend(frame: pl.DataFrame, by: str, title: str) -> alt.FacetChart:
    """Active enrollments after each run that changed any, one small chart per value of `by`,
    each with its own scale so that a change of a few enrollments shows; a step, as counts
    hold until the next run."""
    points = with_run_label(
        frame.group_by("run_id", "synced_at", by)
        .agg(pl.col("enrollments").sum())
        .with_columns(pl.col("synced_at").dt.strftime("%Y-%m-%d %H:%M:%S UTC").alias("synced")),
        at="synced_at",
    )
    return (
        alt.Chart(points)
        .mark_line(point=True, interpolate="step-after")
        .encode(
            x=run_axis(points),
            y=alt.Y(
                "enrollments:Q",
                title="active enrollments",
                scale=alt.Scale(zero=False),
                axis=alt.Axis(format=",d", tickMinStep=1),
            ),
            tooltip=[
                alt.Tooltip("run_id:O", title="run"),
                alt.Tooltip("synced:N", title="synced"),
                alt.Tooltip(f"{by}:N"),
                alt.Tooltip("enrollments:Q", title="active enrollments", format=","),
            ],
        )
        .properties(width=170, height=130)
        .facet(facet=alt.Facet(f"{by}:N", title=None), columns=4, title=title)
        .resolve_scale(y="independent")
    )


@app.cell(hide_code=True)
def _(ENROLLMENTS_OVER_TIME_SQL, over_time, sections_only, tenant):
    if over_time.is_empty():
        _view = mo.callout(
            mo.md(f"No enrollments in the history of tenant `{tenant}` yet (no applied sync)."),
            kind="info",
        )
    else:
        _view = mo.vstack(
            [
                enrollment_trend(over_time, "school", "Per school"),
                enrollment_trend(over_time, "role", "Per role"),
                mo.accordion({"Data": mo.ui.table(over_time, selection=None)}),
            ]
        )
    mo.vstack(
        [
            _view,
            show_sql(
                "enrollments_over_time",
                ENROLLMENTS_OVER_TIME_SQL,
                tenant=tenant,
                sections_only=sections_only.value,
            ),
        ]
    )
    return


@app.cell(hide_code=True)
def _():
    mo.md("""
    ## A section's roster on a date

    Who was enrolled in the section at the end of the chosen day (UTC), that is after the
    last sync of that day: the versions of enrollments and users valid at that moment.
    """)
    return


@app.cell
def _():
    SECTIONS_SQL = """
    -- the tenant's sections (courses of kind 'section'), latest title and school, the most
    -- recently changed roster first
    with

    sections as (
        select * from history.courses where tenant = $tenant and kind = 'section'
    ),

    domains as (
        select * from history.domains where tenant = $tenant
    ),

    enrollments as (
        select * from history.enrollments where tenant = $tenant
    ),

    latest_sections as (
        select *
        from sections
        qualify row_number() over (partition by course_id order by valid_from desc) = 1
    ),

    latest_domains as (
        select *
        from domains
        qualify row_number() over (partition by domain_id order by valid_from desc) = 1
    ),

    roster_changes as (
        select
            course_id,
            max(greatest(valid_from, coalesce(valid_to, valid_from))) as last_roster_change,
        from enrollments
        group by course_id
    ),

    final as (
        select
            latest_sections.course_id,
            latest_sections.external_id,
            latest_sections.title,
            latest_domains.name as school,
            latest_sections.valid_to is not null as deleted,
            roster_changes.last_roster_change,
        from latest_sections
        left join latest_domains on latest_domains.domain_id = latest_sections.domain_id
        left join roster_changes on roster_changes.course_id = latest_sections.course_id
    )

    select * from final
    order by last_roster_change desc nulls last, school, title, external_id
    """
    return (SECTIONS_SQL,)


@app.cell
def _(SECTIONS_SQL, tenant):
    sections = query(SECTIONS_SQL, tenant=tenant)
    run_dates = query(
        "select min(started_at)::date as first, max(started_at)::date as last "
        "from audit.sync_runs where tenant = $tenant",
        tenant=tenant,
    )
    return run_dates, sections


@app.cell(hide_code=True)
def _(run_dates, sections, tenant):
    mo.stop(
        sections.is_empty(),
        mo.callout(mo.md(f"Tenant `{tenant}` has no sections in its history yet."), kind="info"),
    )
    _labels = picker_options(
        [
            (
                f"{row['title']} · {row['school']} ({row['external_id']})"
                + (" [deleted]" if row["deleted"] else ""),
                row["course_id"],
            )
            for row in sections.to_dicts()
        ],
        "course",
    )
    section_picker = mo.ui.dropdown(
        _labels, value=next(iter(_labels)), label="Section", searchable=True, full_width=True
    )
    _today = datetime.now(UTC).date()
    _first, _last = run_dates.row(0)
    day_picker = mo.ui.date(
        start=_first, stop=max(_today, _last), value=max(_today, _last), label="On"
    )
    include_inactive = mo.ui.checkbox(label="Include inactive and withdrawn enrollments")
    mo.vstack([section_picker, mo.hstack([day_picker, include_inactive], justify="start")])
    return day_picker, include_inactive, section_picker


@app.cell
def _():
    ROSTER_SQL = """
    -- who was enrolled in section $course_id at the end of day $day (UTC)
    with

    moment as (
        select cast($day as date) + interval 1 day as end_of_day
    ),

    enrollment_versions as (
        select * from history.enrollments where tenant = $tenant and course_id = $course_id
    ),

    user_versions as (
        select * from history.users where tenant = $tenant
    ),

    enrollments as (
        select enrollment_versions.*
        from enrollment_versions, moment
        where enrollment_versions.valid_from < moment.end_of_day
            and (enrollment_versions.valid_to is null or enrollment_versions.valid_to >= moment.end_of_day)
    ),

    other_user_until as (
        -- when each enrollment last belonged to another user (the SIS gave the enrollment to
        -- another teacher or student: the same row, updated), before the version shown
        select enrollments.enrollment_id, max(enrollment_versions.valid_to) as until
        from enrollments
        inner join enrollment_versions
            on enrollment_versions.enrollment_id = enrollments.enrollment_id
            and enrollment_versions.user_id is distinct from enrollments.user_id
            and enrollment_versions.valid_from < enrollments.valid_from
        group by enrollments.enrollment_id
    ),

    enrolled_since as (
        -- since the first version of the enrollment that was the shown user's, after any
        -- version that was another's
        select enrollments.enrollment_id, min(enrollment_versions.valid_from) as enrolled_since
        from enrollments
        inner join enrollment_versions
            on enrollment_versions.enrollment_id = enrollments.enrollment_id
            and enrollment_versions.user_id = enrollments.user_id
            and enrollment_versions.valid_from <= enrollments.valid_from
        left join other_user_until on other_user_until.enrollment_id = enrollments.enrollment_id
        where other_user_until.until is null or enrollment_versions.valid_from >= other_user_until.until
        group by enrollments.enrollment_id
    ),

    users as (
        select user_versions.*
        from user_versions, moment
        where user_versions.valid_from < moment.end_of_day
            and (user_versions.valid_to is null or user_versions.valid_to >= moment.end_of_day)
    ),

    final as (
        select
            enrollments.role,
            enrollments.is_primary,
            users.family_name,
            users.given_name,
            users.username,
            users.external_id as user_external_id,
            enrollments.status,
            enrollments.begin_date,
            enrollments.end_date,
            enrolled_since.enrolled_since,
            enrollments.external_id as enrollment_external_id,
        from enrollments
        left join users on users.user_id = enrollments.user_id
        left join enrolled_since on enrolled_since.enrollment_id = enrollments.enrollment_id
        where $include_inactive or enrollments.status = 'active'
    )

    select * from final
    order by role desc, is_primary desc, family_name, given_name, user_external_id
    """
    return (ROSTER_SQL,)


@app.cell(hide_code=True)
def _(ROSTER_SQL, day_picker, include_inactive, section_picker, tenant):
    _params = dict(
        tenant=tenant,
        course_id=section_picker.value,
        day=day_picker.value,
        include_inactive=include_inactive.value,
    )
    roster = query(ROSTER_SQL, **_params)
    _counts = roster.group_by("role").len().sort("role")
    _summary = ", ".join(f"{n} {role}{'s' if n != 1 else ''}" for role, n in _counts.iter_rows())
    mo.vstack(
        [
            mo.md(
                f"**{section_picker.selected_key}** on {day_picker.value:%Y-%m-%d}: "
                + (_summary or "nobody enrolled")
            ),
            mo.ui.table(roster, selection=None, page_size=25),
            show_sql("section_roster", ROSTER_SQL, **_params),
        ]
    )
    return


@app.cell(hide_code=True)
def _():
    mo.md("""
    ## One student's timeline

    The schools the student was placed in (each version of their user row and its domain,
    named as it was then), what the syncs did to them (`audit.changes`: moves between
    schools, enrollments created, inactivated, withdrawn, deleted) and each enrollment's
    status after every run that changed it. Students who moved school are listed first.

    A move is any change of the student's school, whatever action recorded it: a `move`, or
    a `reactivate`, `inactivate` or `adopt` that changed the school as well (its detail names
    the old and new `domain_id`). *Schools over time* lists each stay in order, so a return
    to an earlier school shows as one. A version made by hand (the row as it was before a run
    adopted it: origin `manual`, no `valid_from`) is part of the timeline, before the run
    that ended it, with its school as it was then. A change made by a run that was undone
    later is marked *(undone by run N)*; the undo's own changes are listed as well.
    """)
    return


@app.cell
def _():
    student_search = mo.ui.text(
        label="Find a student (name, username or sourcedId)", placeholder="e.g. usr-stu-12"
    )
    student_search
    return (student_search,)


@app.cell
def _():
    STUDENTS_SQL = """
    -- the tenant's students matching $search, those who moved school first
    with

    students as (
        select * from history.users where tenant = $tenant and role = 'student'
    ),

    latest_students as (
        select *
        from students
        qualify row_number() over (partition by user_id order by valid_from desc) = 1
    ),

    moves as (
        -- every change of the school, whatever action recorded it: a move, or a status
        -- change (or an adoption) that changed the domain as well
        select changes.entity_id as user_id, count(*) as moves
        from audit.changes as changes
        inner join audit.sync_runs as runs on runs.run_id = changes.run_id
        where runs.tenant = $tenant
            and runs.outcome = 'applied'
            and changes.entity = 'user'
            and (changes.detail->>'$.domain_id.from')
                is distinct from (changes.detail->>'$.domain_id.to')
        group by changes.entity_id
    ),

    final as (
        select
            latest_students.user_id,
            latest_students.external_id,
            latest_students.family_name,
            latest_students.given_name,
            latest_students.username,
            -- a student deleted (and maybe sent again since, under a new user_id)
            latest_students.valid_to is not null as deleted,
            coalesce(moves.moves, 0) as moves,
        from latest_students
        left join moves on moves.user_id = latest_students.user_id
        -- composed on both sides: a name the SIS sent with its accents as marks of their
        -- own (`Jose` and U+0301) is found by the `José` a keyboard types, and the other way
        where $search = ''
            or contains(
                nfc_normalize(lower(concat_ws(' ', latest_students.external_id,
                    latest_students.username, latest_students.given_name,
                    latest_students.family_name))),
                nfc_normalize(lower($search))
            )
    )

    select * from final
    order by moves desc, family_name, given_name, external_id
    limit 500
    """
    return (STUDENTS_SQL,)


@app.cell(hide_code=True)
def _(STUDENTS_SQL, student_search, tenant):
    students = query(STUDENTS_SQL, tenant=tenant, search=student_search.value.strip())
    mo.stop(
        students.is_empty(),
        mo.callout(mo.md("No student matches (or no students in the history yet)."), kind="info"),
    )
    _labels = picker_options(
        [
            (
                f"{row['family_name']}, {row['given_name']} ({row['external_id']})"
                + (" [deleted]" if row["deleted"] else "")
                + (f" · moved {row['moves']}×" if row["moves"] else ""),
                row["user_id"],
            )
            for row in students.to_dicts()
        ],
        "user",
    )
    student_picker = mo.ui.dropdown(
        _labels, value=next(iter(_labels)), label="Student", searchable=True, full_width=True
    )
    student_picker
    return (student_picker,)


@app.cell
def _():
    STUDENT_SCHOOLS_SQL = """
    -- each version of the student's user row, with the school (domain) it placed them in,
    -- named as it was then
    with

    versions as (
        select
            *,
            -- a version made by hand (the row before a run adopted it) has no valid_from:
            -- it is seen at the moment before the run that ended it
            coalesce(valid_from, valid_to - interval 1 microsecond) as seen_at,
        from history.users
        where tenant = $tenant and user_id = $user_id
    ),

    domains as (
        select * from history.domains where tenant = $tenant
    ),

    final as (
        select
            versions.valid_from,
            versions.valid_to,
            versions.domain_id,
            domains.name as school,
            versions.status,
            versions.origin,
            versions.opened_run_id,
            versions.closed_run_id,
        from versions
        left join domains
            on domains.domain_id = versions.domain_id
            and domains.valid_from <= versions.seen_at
            and (domains.valid_to is null or domains.valid_to > versions.seen_at)
    )

    select * from final
    -- a version made by hand before the one its run opened (they meet at its valid_to)
    order by coalesce(valid_from, valid_to), valid_from nulls first
    """
    STUDENT_EVENTS_SQL = """
    -- what the applied runs did to the student and to the student's enrollments
    with

    runs as (
        select run_id, started_at from audit.sync_runs
        where tenant = $tenant and outcome = 'applied'
    ),

    student_enrollments as (
        select distinct enrollment_id, course_id
        from history.enrollments
        where tenant = $tenant and user_id = $user_id
    ),

    student_enrollment_runs as (
        -- the runs that opened or closed a version of an enrollment while it was the
        -- student's: one the SIS gave another student since changes theirs, not this one's
        select enrollment_id, opened_run_id as run_id
        from history.enrollments
        where tenant = $tenant and user_id = $user_id
        union
        select enrollment_id, closed_run_id as run_id
        from history.enrollments
        where tenant = $tenant and user_id = $user_id and closed_run_id is not null
    ),

    latest_courses as (
        select course_id, title, domain_id
        from history.courses
        where tenant = $tenant
        qualify row_number() over (partition by course_id order by valid_from desc) = 1
    ),

    latest_domains as (
        select domain_id, name
        from history.domains
        where tenant = $tenant
        qualify row_number() over (partition by domain_id order by valid_from desc) = 1
    ),

    undone as (
        -- the runs an undo took back, and the run that did it
        select run_id, max(result_run_id) as undone_by_run_id
        from audit.decisions
        where decision = 'undone'
        group by run_id
    ),

    changes as (
        select
            changes.*,
            runs.started_at,
            -- a change of school, whatever action recorded it: a move, or a status change
            -- (or an adoption) that changed the domain as well
            changes.entity = 'user'
                and (changes.detail->>'$.domain_id.from')
                    is distinct from (changes.detail->>'$.domain_id.to') as school_change,
        from audit.changes as changes
        inner join runs on runs.run_id = changes.run_id
        where (changes.entity = 'user' and changes.entity_id = $user_id)
            or (changes.entity = 'enrollment'
                and exists (
                    select 1 from student_enrollment_runs as mine
                    where mine.enrollment_id = changes.entity_id and mine.run_id = changes.run_id
                ))
    ),

    final as (
        select
            changes.started_at as synced_at,
            changes.run_id,
            changes.entity,
            changes.action,
            -- the parts there are, blank when none
            concat_ws(
                ' ',
                case
                    when changes.school_change
                        -- no domain id: no school (as "Schools over time" says); an id
                        -- history does not name: '?'
                        then coalesce(
                            from_school.name,
                            if(changes.detail->>'$.domain_id.from' is null, '(no school)', '?')
                        )
                        || ' → '
                        || coalesce(
                            to_school.name,
                            if(changes.detail->>'$.domain_id.to' is null, '(no school)', '?')
                        )
                    else latest_courses.title
                end,
                '(undone by run ' || undone.undone_by_run_id || ')'
            ) as what,
            changes.school_change,
            undone.undone_by_run_id,
            changes.external_id,
            changes.detail,
        from changes
        left join student_enrollments
            on changes.entity = 'enrollment'
            and student_enrollments.enrollment_id = changes.entity_id
        left join latest_courses on latest_courses.course_id = student_enrollments.course_id
        left join latest_domains as from_school
            on changes.school_change
            and from_school.domain_id = try_cast(changes.detail->>'$.domain_id.from' as bigint)
        left join latest_domains as to_school
            on changes.school_change
            and to_school.domain_id = try_cast(changes.detail->>'$.domain_id.to' as bigint)
        left join undone on undone.run_id = changes.run_id
    )

    select * from final
    order by synced_at, entity desc, action, what
    """
    STUDENT_ENROLLMENTS_SQL = """
    -- every version of the student's enrollments: the course, its school, status and when
    with

    versions as (
        select * from history.enrollments where tenant = $tenant and user_id = $user_id
    ),

    latest_courses as (
        select course_id, title, kind, domain_id
        from history.courses
        where tenant = $tenant
        qualify row_number() over (partition by course_id order by valid_from desc) = 1
    ),

    latest_domains as (
        select domain_id, name
        from history.domains
        where tenant = $tenant
        qualify row_number() over (partition by domain_id order by valid_from desc) = 1
    ),

    final as (
        select
            latest_courses.title as course,
            latest_domains.name as school,
            latest_courses.kind as course_kind,
            versions.role,
            versions.status,
            versions.valid_from,
            versions.valid_to,
            versions.opened_run_id,
            versions.closed_run_id,
            versions.external_id,
        from versions
        left join latest_courses on latest_courses.course_id = versions.course_id
        left join latest_domains on latest_domains.domain_id = latest_courses.domain_id
    )

    select * from final
    order by course_kind = 'section' desc, course, valid_from
    """
    return STUDENT_ENROLLMENTS_SQL, STUDENT_EVENTS_SQL, STUDENT_SCHOOLS_SQL


@app.cell
def _(
    STUDENT_ENROLLMENTS_SQL,
    STUDENT_EVENTS_SQL,
    STUDENT_SCHOOLS_SQL,
    student_picker,
    tenant,
):
    student_params = dict(tenant=tenant, user_id=student_picker.value)
    student_schools = query(STUDENT_SCHOOLS_SQL, **student_params)
    student_events = query(STUDENT_EVENTS_SQL, **student_params)
    student_enrollments = query(STUDENT_ENROLLMENTS_SQL, **student_params)
    return student_enrollments, student_events, student_params, student_schools


@app.function
def schools_over_time(schools: pl.DataFrame) -> list[str]:
    """The student's schools in order, from `schools` (STUDENT_SCHOOLS_SQL's versions): one
    entry per stay, the versions that kept the school (a status or name change) together, so
    that a return to an earlier school shows again."""
    stay_starts = pl.col("domain_id").ne_missing(pl.col("domain_id").shift()) | (
        pl.int_range(pl.len()) == 0
    )
    return schools.filter(stay_starts).get_column("school").fill_null("(no school)").to_list()


@app.function
def move_summary(events: pl.DataFrame) -> str:
    """How many times the student changed schools, from `events` (STUDENT_EVENTS_SQL's), and
    how many of those changes a later run undid."""
    moves = events.filter(pl.col("school_change"))
    undone = moves.filter(pl.col("undone_by_run_id").is_not_null()).height
    return f"moves: {moves.height}" + (f" ({undone} undone)" if undone else "")


@app.function
def enrollment_runs(frame: pl.DataFrame) -> alt.Chart:
    """Each of the student's enrollments (down) after each run that opened or closed a version
    of one (across): its status then, blank while it was not in the feed."""
    runs = pl.concat(
        [
            frame.select(run_id="opened_run_id", at="valid_from"),
            frame.select(run_id="closed_run_id", at="valid_to").drop_nulls(),
        ]
    ).unique()
    versions = frame.with_columns(
        pl.concat_str("course", pl.lit(" · "), "school", ignore_nulls=True).alias("section")
    )
    cells = with_run_label(
        versions.join_where(
            runs,
            pl.col("valid_from") <= pl.col("at"),
            pl.col("valid_to").is_null() | (pl.col("valid_to") > pl.col("at")),
        ).with_columns(pl.col("at").dt.strftime("%Y-%m-%d %H:%M:%S UTC").alias("synced")),
        at="at",
    )
    return (
        alt.Chart(cells, title="Enrollments after each run that changed them")
        .mark_rect(stroke="white", strokeWidth=1)
        .encode(
            x=run_axis(cells),
            y=alt.Y(
                "section:N",
                title=None,
                sort=versions.get_column("section").unique(maintain_order=True).to_list(),
                axis=alt.Axis(labelLimit=400),
            ),
            color=alt.Color("status:N", title="status"),
            tooltip=[
                "course:N",
                "school:N",
                "role:N",
                "status:N",
                alt.Tooltip("run_id:O", title="after run"),
                alt.Tooltip("synced:N", title="synced"),
                alt.Tooltip("opened_run_id:O", title="version opened by run"),
                alt.Tooltip("closed_run_id:O", title="closed by run"),
            ],
        )
        .properties(width=alt.Step(RUN_STEP), height=alt.Step(18))
    )


@app.cell(hide_code=True)
def _(
    STUDENT_ENROLLMENTS_SQL,
    STUDENT_EVENTS_SQL,
    STUDENT_SCHOOLS_SQL,
    student_enrollments,
    student_events,
    student_params,
    student_picker,
    student_schools,
):
    _schools = schools_over_time(student_schools)
    mo.vstack(
        [
            mo.md(
                f"### {student_picker.selected_key}\n\n"
                f"Schools over time: {' → '.join(_schools) or 'none'}"
                f" · {move_summary(student_events)} · enrollments: "
                f"{student_enrollments.get_column('external_id').n_unique()}"
            ),
            mo.md("**Placement** (each version of the user row)"),
            mo.ui.table(student_schools, selection=None),
            show_sql("student_schools", STUDENT_SCHOOLS_SQL, **student_params),
            mo.md("**What the syncs did** (`audit.changes`)"),
            mo.ui.table(student_events, selection=None, page_size=20),
            show_sql("student_events", STUDENT_EVENTS_SQL, **student_params),
            enrollment_runs(student_enrollments)
            if not student_enrollments.is_empty()
            else mo.md("_No enrollments in the history._"),
            mo.accordion({"Data": mo.ui.table(student_enrollments, selection=None)}),
            show_sql("student_enrollments", STUDENT_ENROLLMENTS_SQL, **student_params),
        ]
    )
    return


if __name__ == "__main__":
    app.run()
