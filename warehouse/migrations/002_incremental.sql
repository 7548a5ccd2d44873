-- rosterflow warehouse, version 2: what incremental planning needs, and cheaper writes.
--
-- 1. Source records as a base plus patches. A run that changes 1% of a district's records
--    writes a patch of those records instead of rewriting the whole snapshot:
--    oneroster.snapshots stays the base (one per tenant and file), oneroster.snapshot_patches
--    holds the records each later run upserted or removed. The records of a file are the base,
--    then every patch in run order (the last statement of a sourcedId wins; `removed` drops it).
--    Every record carries `row_hash`, a hash of its fields: a new file is compared with the
--    stored one on these hashes, so only the records that changed are validated and planned.
--    A base is written again (and its patches dropped) when the patches grow past a share of it.
-- 2. Derived state a run leaves for the next one (oneroster.derived): the hash of every desired
--    course (the course hierarchy is recomputed whole and compared) and the file order of
--    teacher enrollments (which picks a class's primary teacher when none is marked primary).
-- 3. audit.changes becomes a view: the changes a run stored (audit.changes_stored), and the rows
--    an applied run created, read from history by the id range the run gave them
--    (audit.created): a first load of a million enrollments no longer writes a second copy of
--    every row into audit.
-- 4. audit.sync_runs says how each run was planned.

-- which settings the records of a snapshot or patch were validated under (null: mixed)
alter table oneroster.snapshots add column validated_under varchar;

-- grain: one row per tenant, file and run that changed the file's records since its base.
create table oneroster.snapshot_patches (
    tenant varchar not null,
    file varchar not null,
    run_id bigint not null,
    record_count bigint not null,   -- records upserted or removed
    validated_under varchar,
    records blob not null           -- Parquet: the file's columns, run_id, line, row_hash, removed
);

-- grain: one row per tenant and name ('desired_courses', 'teacher_order', 'grade_levels',
-- 'closed_references'), and per run that superseded it.
create table oneroster.derived (
    tenant varchar not null,
    name varchar not null,
    run_id bigint not null,         -- the run that wrote it
    settings_key varchar,           -- the settings and rosterflow version of that run
    lms_checksum varchar,           -- the tenant's managed lms rows right after that run
    record_count bigint not null,
    records blob not null           -- Parquet
);

-- grain: one row per applied run and entity that created rows: their ids are first_id..last_id.
create table audit.created (
    run_id bigint not null,
    entity varchar not null,        -- domain | user | course | enrollment | observer
    first_id bigint not null,
    last_id bigint not null
);

alter table audit.changes rename to changes_stored;

-- grain: one row per change a run made (or planned, for a dry run) to one lms row: what the
-- run stored, and the creates of applied runs, each read from the version of the row that the
-- creating run opened (history keeps it after later changes and deletes)
create view audit.changes as
select run_id, entity, external_id, action, detail, entity_id from audit.changes_stored
union all
select created.run_id, 'domain', versions.external_id, 'create', null, versions.domain_id
from audit.created as created
inner join history.domains as versions
    on versions.opened_run_id = created.run_id
    and versions.domain_id between created.first_id and created.last_id
where created.entity = 'domain'
union all
select created.run_id, 'user', versions.external_id, 'create', null, versions.user_id
from audit.created as created
inner join history.users as versions
    on versions.opened_run_id = created.run_id
    and versions.user_id between created.first_id and created.last_id
where created.entity = 'user'
union all
select created.run_id, 'course', versions.external_id, 'create', null, versions.course_id
from audit.created as created
inner join history.courses as versions
    on versions.opened_run_id = created.run_id
    and versions.course_id between created.first_id and created.last_id
where created.entity = 'course'
union all
select created.run_id, 'enrollment', versions.external_id, 'create', null, versions.enrollment_id
from audit.created as created
inner join history.enrollments as versions
    on versions.opened_run_id = created.run_id
    and versions.enrollment_id between created.first_id and created.last_id
where created.entity = 'enrollment'
union all
select created.run_id, 'observer', versions.external_id, 'create', null, versions.observer_id
from audit.created as created
inner join history.observers as versions
    on versions.opened_run_id = created.run_id
    and versions.observer_id between created.first_id and created.last_id
where created.entity = 'observer';

-- how the run was planned: incremental (only the records that changed, and what depends on
-- them), full (every record; planning_note says why), or recalled (the same feed as the last
-- applied run, lms untouched since: nothing to plan)
alter table audit.sync_runs add column planning varchar;
alter table audit.sync_runs add column planning_note varchar;
