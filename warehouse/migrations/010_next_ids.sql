-- rosterflow warehouse, version 10: the next free id of each lms table, for rows made by hand.
--
-- A sync gives a new row an id above every id lms holds and history remembers (a deleted row's
-- id is never given to another row: undoing the run that deleted it brings the row back under
-- it), and above the file's id range in a per-tenant layout. A row made by hand must take its
-- id the same way; `max(id) + 1` over lms alone can take the id of a deleted row.

-- grain: one row per lms table: the first id that no row of it has had, the one the next new
-- row takes, e.g. `select next_id from audit.next_ids where table_name = 'users'`.
create or replace view audit.next_ids as
with used (table_name, id_column, most) as (
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
