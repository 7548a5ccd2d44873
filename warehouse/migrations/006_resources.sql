-- rosterflow warehouse, version 6: content assignment (docs/explanation/resources.md).
--
-- lms gains a row per resource (resources.csv) and a row per assignment of a resource to a
-- class (classResources.csv: on the class's section) or to a course (courseResources.csv: on the
-- org base course of the course's title at the course's org), with the same managed/hand-made
-- rule, change-set actions, history and audit as the other lms tables.

-- grain: one row per resource (same uniqueness as lms.domains).
create table lms.resources (
    resource_id bigint not null,
    tenant varchar not null,
    external_id varchar,
    vendor_resource_id varchar,    -- the vendor's identifier of the content
    title varchar,
    roles varchar,                 -- the roles it is meant for, as listed in resources.csv
    importance varchar,            -- primary | secondary
    vendor_id varchar,
    application_id varchar,
    status varchar not null default 'active',   -- active | inactive
    origin varchar not null default 'manual',
    updated_run_id bigint
);

-- grain: one row per resource assigned to a class.
create table lms.class_resources (
    class_resource_id bigint not null,
    tenant varchar not null,
    external_id varchar,
    resource_id bigint,
    course_id bigint,              -- the class's section
    title varchar,
    status varchar not null default 'active',   -- active | inactive
    origin varchar not null default 'manual',
    updated_run_id bigint
);

-- grain: one row per resource assigned to a course.
create table lms.course_resources (
    course_resource_id bigint not null,
    tenant varchar not null,
    external_id varchar,
    resource_id bigint,
    course_id bigint,              -- the org base course of the course's title at its org
    title varchar,
    status varchar not null default 'active',   -- active | inactive
    origin varchar not null default 'manual',
    updated_run_id bigint
);

-- grain: one row per ended version of a lms.resources row.
create table history.resources_closed as select * from lms.resources with no data;
alter table history.resources_closed add column valid_from timestamp;
alter table history.resources_closed add column valid_to timestamp;
alter table history.resources_closed add column opened_run_id bigint;
alter table history.resources_closed add column closed_run_id bigint;

-- grain: one row per version of a lms.resources row: its ended versions, then the row as it is.
create view history.resources as
select * from history.resources_closed
union all
select
    current_rows.*,
    runs.started_at as valid_from,
    null::timestamp as valid_to,
    current_rows.updated_run_id as opened_run_id,
    null::bigint as closed_run_id,
from lms.resources as current_rows
inner join audit.sync_runs as runs on runs.run_id = current_rows.updated_run_id
where current_rows.origin = 'sync';

-- grain: one row per ended version of a lms.class_resources row.
create table history.class_resources_closed as select * from lms.class_resources with no data;
alter table history.class_resources_closed add column valid_from timestamp;
alter table history.class_resources_closed add column valid_to timestamp;
alter table history.class_resources_closed add column opened_run_id bigint;
alter table history.class_resources_closed add column closed_run_id bigint;

-- grain: one row per version of a lms.class_resources row: its ended versions, then the row as it is.
create view history.class_resources as
select * from history.class_resources_closed
union all
select
    current_rows.*,
    runs.started_at as valid_from,
    null::timestamp as valid_to,
    current_rows.updated_run_id as opened_run_id,
    null::bigint as closed_run_id,
from lms.class_resources as current_rows
inner join audit.sync_runs as runs on runs.run_id = current_rows.updated_run_id
where current_rows.origin = 'sync';

-- grain: one row per ended version of a lms.course_resources row.
create table history.course_resources_closed as select * from lms.course_resources with no data;
alter table history.course_resources_closed add column valid_from timestamp;
alter table history.course_resources_closed add column valid_to timestamp;
alter table history.course_resources_closed add column opened_run_id bigint;
alter table history.course_resources_closed add column closed_run_id bigint;

-- grain: one row per version of a lms.course_resources row: its ended versions, then the row as it is.
create view history.course_resources as
select * from history.course_resources_closed
union all
select
    current_rows.*,
    runs.started_at as valid_from,
    null::timestamp as valid_to,
    current_rows.updated_run_id as opened_run_id,
    null::bigint as closed_run_id,
from lms.course_resources as current_rows
inner join audit.sync_runs as runs on runs.run_id = current_rows.updated_run_id
where current_rows.origin = 'sync';

-- audit.changes as in version 2, with the creates of the three new tables
create or replace view audit.changes as
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
where created.entity = 'observer'
union all
select created.run_id, 'resource', versions.external_id, 'create', null, versions.resource_id
from audit.created as created
inner join history.resources as versions
    on versions.opened_run_id = created.run_id
    and versions.resource_id between created.first_id and created.last_id
where created.entity = 'resource'
union all
select created.run_id, 'class_resource', versions.external_id, 'create', null, versions.class_resource_id
from audit.created as created
inner join history.class_resources as versions
    on versions.opened_run_id = created.run_id
    and versions.class_resource_id between created.first_id and created.last_id
where created.entity = 'class_resource'
union all
select created.run_id, 'course_resource', versions.external_id, 'create', null, versions.course_resource_id
from audit.created as created
inner join history.course_resources as versions
    on versions.opened_run_id = created.run_id
    and versions.course_resource_id between created.first_id and created.last_id
where created.entity = 'course_resource';
