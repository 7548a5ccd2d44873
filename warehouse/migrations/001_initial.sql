-- rosterflow warehouse, version 1.
-- Four schemas: lms (the learning platform's current state), history (every version of every
-- lms row), audit (what each run did) and oneroster (the SIS's records as last received).
-- No primary-key constraints: bulk loads of millions of rows stay fast, and the sync itself
-- guarantees each grain stated below (tests check it). Timestamps are UTC.

create schema if not exists lms;
create schema if not exists history;
create schema if not exists audit;
create schema if not exists oneroster;

-- grain: one row per domain. Managed rows (external_id 'or-...') are unique per tenant and
-- external_id; hand-made rows (origin 'manual', any other external_id) are never touched.
create table lms.domains (
    domain_id bigint not null,
    tenant varchar not null,
    external_id varchar,
    name varchar,
    kind varchar,                  -- the OneRoster org type: state, district, school, ...
    parent_domain_id bigint,
    status varchar not null default 'active',   -- active | inactive
    origin varchar not null default 'manual',   -- sync: created or adopted by a sync
    updated_run_id bigint                        -- the run that last wrote the row
);

-- grain: one row per user (same uniqueness as domains).
create table lms.users (
    user_id bigint not null,
    tenant varchar not null,
    external_id varchar,
    domain_id bigint,              -- the domain of the first org in orgSourcedIds
    role varchar,                  -- the OneRoster role; the sync never grants platform admin
    username varchar,
    given_name varchar,
    family_name varchar,
    email varchar,
    status varchar not null default 'active',   -- active | inactive
    origin varchar not null default 'manual',
    updated_run_id bigint
);

-- grain: one row per course: a section (one per class) or a base course of the hierarchy.
create table lms.courses (
    course_id bigint not null,
    tenant varchar not null,
    external_id varchar,
    domain_id bigint,
    kind varchar,                  -- org_base | teacher_base | session_base | section
    title varchar,
    base_course_id bigint,         -- the course this one derives from (null: a root)
    status varchar not null default 'active',   -- active | inactive
    origin varchar not null default 'manual',
    updated_run_id bigint
);

-- grain: one row per user in a course with a role.
create table lms.enrollments (
    enrollment_id bigint not null,
    tenant varchar not null,
    external_id varchar,
    user_id bigint,
    course_id bigint,
    role varchar,                  -- administrator | proctor | student | teacher
    is_primary boolean,
    begin_date date,
    end_date date,
    status varchar not null default 'active',   -- active | inactive | withdrawn
    origin varchar not null default 'manual',
    updated_run_id bigint
);

-- grain: one row per (observer, student) link: a parent, guardian or relative and a student.
create table lms.observers (
    observer_id bigint not null,
    tenant varchar not null,
    external_id varchar,
    observer_user_id bigint,
    student_user_id bigint,
    relationship varchar,          -- parent | guardian | relative
    status varchar not null default 'active',   -- active | inactive
    origin varchar not null default 'manual',
    updated_run_id bigint
);

-- history: every version of every lms row the sync wrote, one view per lms table with the lms
-- columns plus valid_from (inclusive), valid_to (exclusive; null while current), opened_run_id
-- and closed_run_id. A version ends when a run changes or deletes the row; the ended versions
-- are stored in history.<table>_closed (grain: one row per ended version), the current ones are
-- the lms rows themselves, so a first load of a million rows writes them once, not twice.
-- Hand-made rows (origin 'manual') have no history; a hand edit of a managed row shows as that
-- row's value until the next run reverts it.
-- grain: one row per ended version of a lms.domains row.
create table history.domains_closed as select * from lms.domains with no data;
alter table history.domains_closed add column valid_from timestamp;
alter table history.domains_closed add column valid_to timestamp;
alter table history.domains_closed add column opened_run_id bigint;
alter table history.domains_closed add column closed_run_id bigint;
-- grain: one row per ended version of a lms.users row.
create table history.users_closed as select * from lms.users with no data;
alter table history.users_closed add column valid_from timestamp;
alter table history.users_closed add column valid_to timestamp;
alter table history.users_closed add column opened_run_id bigint;
alter table history.users_closed add column closed_run_id bigint;
-- grain: one row per ended version of a lms.courses row.
create table history.courses_closed as select * from lms.courses with no data;
alter table history.courses_closed add column valid_from timestamp;
alter table history.courses_closed add column valid_to timestamp;
alter table history.courses_closed add column opened_run_id bigint;
alter table history.courses_closed add column closed_run_id bigint;
-- grain: one row per ended version of a lms.enrollments row.
create table history.enrollments_closed as select * from lms.enrollments with no data;
alter table history.enrollments_closed add column valid_from timestamp;
alter table history.enrollments_closed add column valid_to timestamp;
alter table history.enrollments_closed add column opened_run_id bigint;
alter table history.enrollments_closed add column closed_run_id bigint;
-- grain: one row per ended version of a lms.observers row.
create table history.observers_closed as select * from lms.observers with no data;
alter table history.observers_closed add column valid_from timestamp;
alter table history.observers_closed add column valid_to timestamp;
alter table history.observers_closed add column opened_run_id bigint;
alter table history.observers_closed add column closed_run_id bigint;

-- grain: one row per sync run (applied, planned, held, rejected or failed).
create table audit.sync_runs (
    run_id bigint not null,
    tenant varchar not null,
    feed_name varchar,
    feed_sha256 varchar,
    started_at timestamp not null,
    finished_at timestamp,
    outcome varchar not null,      -- applied | planned | held | rejected | failed
    message varchar,               -- why a run was held, rejected or failed
    rosterflow_version varchar,
    content_sha256 varchar,        -- the feed's contents however zipped (manifest and files read)
    settings_key varchar,          -- what in the settings and rosterflow shapes the result
    lms_checksum varchar           -- the tenant's managed lms rows right after an applied run
);

-- grain: one row per issue found in a run's feed.
create table audit.issues (
    run_id bigint not null,
    file varchar,
    line bigint,                   -- the line the record starts on; the header is line 1
    field varchar,
    value varchar,
    rule varchar,
    severity varchar,              -- error | warning
    message varchar
);

-- grain: one row per change a run made (or planned, for a dry run) to one lms row.
create table audit.changes (
    run_id bigint not null,
    entity varchar not null,       -- domain | user | course | enrollment | observer | resource | class_resource | course_resource
    external_id varchar,
    action varchar not null,       -- create | update | delete | inactivate | withdraw | reactivate | move | adopt
    detail varchar,                -- JSON: {"field": {"from": ..., "to": ...}, ...}
    entity_id bigint               -- the lms row's id (domain_id, user_id, ...)
);

-- oneroster: the SIS's records as last received, per tenant and OneRoster file: a bulk file
-- replaces its entity's records, a delta file upserts and removes rows, an absent file keeps
-- what was there. The desired lms state is computed from these, so delta and absent files need
-- no special case downstream. Each record set is one Parquet snapshot (columns as in the file,
-- all text, plus run_id and line, which keep the order records arrived in; users.csv's password
-- is never stored): a district's million enrollments are written in a fraction of a second,
-- atomically with the run. Read one with polars.read_parquet(blob), or with rosterflow's
-- rosterflow.warehouse.records.stored_records.
-- grain: one row per tenant and file.
create table oneroster.snapshots (
    tenant varchar not null,
    file varchar not null,          -- orgs, academicSessions, courses, classes, users, enrollments, resources, classResources, courseResources
    run_id bigint not null,         -- the run that wrote this snapshot
    record_count bigint not null,
    fingerprint varchar,            -- CRC-32 and size of the bulk file it came from (null after a delta)
    records blob not null           -- Parquet
);

-- the history views (see above): ended versions, then the current ones
-- grain: one row per version of a lms.domains row: its ended versions, then the row as it is.
create view history.domains as
select * from history.domains_closed
union all
select
    current_rows.*,
    runs.started_at as valid_from,
    null::timestamp as valid_to,
    current_rows.updated_run_id as opened_run_id,
    null::bigint as closed_run_id,
from lms.domains as current_rows
inner join audit.sync_runs as runs on runs.run_id = current_rows.updated_run_id
where current_rows.origin = 'sync';
-- grain: one row per version of a lms.users row: its ended versions, then the row as it is.
create view history.users as
select * from history.users_closed
union all
select
    current_rows.*,
    runs.started_at as valid_from,
    null::timestamp as valid_to,
    current_rows.updated_run_id as opened_run_id,
    null::bigint as closed_run_id,
from lms.users as current_rows
inner join audit.sync_runs as runs on runs.run_id = current_rows.updated_run_id
where current_rows.origin = 'sync';
-- grain: one row per version of a lms.courses row: its ended versions, then the row as it is.
create view history.courses as
select * from history.courses_closed
union all
select
    current_rows.*,
    runs.started_at as valid_from,
    null::timestamp as valid_to,
    current_rows.updated_run_id as opened_run_id,
    null::bigint as closed_run_id,
from lms.courses as current_rows
inner join audit.sync_runs as runs on runs.run_id = current_rows.updated_run_id
where current_rows.origin = 'sync';
-- grain: one row per version of a lms.enrollments row: its ended versions, then the row as it is.
create view history.enrollments as
select * from history.enrollments_closed
union all
select
    current_rows.*,
    runs.started_at as valid_from,
    null::timestamp as valid_to,
    current_rows.updated_run_id as opened_run_id,
    null::bigint as closed_run_id,
from lms.enrollments as current_rows
inner join audit.sync_runs as runs on runs.run_id = current_rows.updated_run_id
where current_rows.origin = 'sync';
-- grain: one row per version of a lms.observers row: its ended versions, then the row as it is.
create view history.observers as
select * from history.observers_closed
union all
select
    current_rows.*,
    runs.started_at as valid_from,
    null::timestamp as valid_to,
    current_rows.updated_run_id as opened_run_id,
    null::bigint as closed_run_id,
from lms.observers as current_rows
inner join audit.sync_runs as runs on runs.run_id = current_rows.updated_run_id
where current_rows.origin = 'sync';
