-- rosterflow warehouse, version 11: the ids an applied run created count as used.
--
-- `audit.next_ids` (version 10) took the next id above every id lms holds and history
-- remembers. A managed row deleted by hand (not by a sync) leaves no closed version in history:
-- when it held the highest id, the next new row took that id, and what still names it (the
-- platform's scores, an analyst's saved list) named another person. The ids every applied run
-- created are in audit: as ranges (`audit.created`), or row by row (`audit.changes_stored`,
-- action `create`; a dry or held run's planned creates are no ids taken).

-- grain: one row per lms table: the first id that no row of it has had, the one the next new
-- row takes, e.g. `select next_id from audit.next_ids where table_name = 'users'`.
create or replace view audit.next_ids as
with entities (entity, table_name, id_column) as (
    values
        ('domain', 'domains', 'domain_id'),
        ('user', 'users', 'user_id'),
        ('course', 'courses', 'course_id'),
        ('enrollment', 'enrollments', 'enrollment_id'),
        ('observer', 'observers', 'observer_id'),
        ('resource', 'resources', 'resource_id'),
        ('class_resource', 'class_resources', 'class_resource_id'),
        ('course_resource', 'course_resources', 'course_resource_id')
),
used (table_name, id_column, most) as (
    select 'domains', 'domain_id', max(domain_id) from lms.domains
    union all
    select 'domains', 'domain_id', max(domain_id) from history.domains_closed
    union all
    select 'users', 'user_id', max(user_id) from lms.users
    union all
    select 'users', 'user_id', max(user_id) from history.users_closed
    union all
    select 'courses', 'course_id', max(course_id) from lms.courses
    union all
    select 'courses', 'course_id', max(course_id) from history.courses_closed
    union all
    select 'enrollments', 'enrollment_id', max(enrollment_id) from lms.enrollments
    union all
    select 'enrollments', 'enrollment_id', max(enrollment_id) from history.enrollments_closed
    union all
    select 'observers', 'observer_id', max(observer_id) from lms.observers
    union all
    select 'observers', 'observer_id', max(observer_id) from history.observers_closed
    union all
    select 'resources', 'resource_id', max(resource_id) from lms.resources
    union all
    select 'resources', 'resource_id', max(resource_id) from history.resources_closed
    union all
    select 'class_resources', 'class_resource_id', max(class_resource_id) from lms.class_resources
    union all
    select 'class_resources', 'class_resource_id', max(class_resource_id) from history.class_resources_closed
    union all
    select 'course_resources', 'course_resource_id', max(course_resource_id) from lms.course_resources
    union all
    select 'course_resources', 'course_resource_id', max(course_resource_id) from history.course_resources_closed
    union all
    select entities.table_name, entities.id_column, max(created.last_id)
    from audit.created as created
    join entities on entities.entity = created.entity
    group by entities.table_name, entities.id_column
    union all
    select entities.table_name, entities.id_column, max(stored.entity_id)
    from audit.changes_stored as stored
    join entities on entities.entity = stored.entity
    where stored.action = 'create'
        and stored.run_id in (select run_id from audit.sync_runs where outcome = 'applied')
    group by entities.table_name, entities.id_column
),
id_floor as (
    select coalesce(max(base), 0) as base from audit.id_space
),
final as (
    select
        used.table_name,
        used.id_column,
        greatest(coalesce(max(used.most), 0), any_value(id_floor.base)) + 1 as next_id
    from used
    cross join id_floor
    group by used.table_name, used.id_column
)
select * from final;
