-- rosterflow warehouse, version 10: the next free id of each lms table, for rows made by hand.
--
-- A sync gives a new row an id above every id lms holds and history remembers (a deleted row's
-- id is never given to another row: undoing the run that deleted it brings the row back under
-- it), and above the file's id range in a per-tenant layout. A row made by hand must take its
-- id the same way; `max(id) + 1` over lms alone can take the id of a deleted row.

-- grain: one row per lms table: the first id that no row of it has had, the one the next new
-- row takes, e.g. `select next_id from audit.next_ids where table_name = 'users'`.
create or replace view audit.next_ids as
with id_floor as (
    select coalesce(max(base), 0) as base from audit.id_space
),
final as (
    select
        'domains' as table_name,
        'domain_id' as id_column,
        greatest(
            (select coalesce(max(domain_id), 0) from lms.domains),
            (select coalesce(max(domain_id), 0) from history.domains_closed),
            (select base from id_floor)
        ) + 1 as next_id
    union all
    select
        'users' as table_name,
        'user_id' as id_column,
        greatest(
            (select coalesce(max(user_id), 0) from lms.users),
            (select coalesce(max(user_id), 0) from history.users_closed),
            (select base from id_floor)
        ) + 1 as next_id
    union all
    select
        'courses' as table_name,
        'course_id' as id_column,
        greatest(
            (select coalesce(max(course_id), 0) from lms.courses),
            (select coalesce(max(course_id), 0) from history.courses_closed),
            (select base from id_floor)
        ) + 1 as next_id
    union all
    select
        'enrollments' as table_name,
        'enrollment_id' as id_column,
        greatest(
            (select coalesce(max(enrollment_id), 0) from lms.enrollments),
            (select coalesce(max(enrollment_id), 0) from history.enrollments_closed),
            (select base from id_floor)
        ) + 1 as next_id
    union all
    select
        'observers' as table_name,
        'observer_id' as id_column,
        greatest(
            (select coalesce(max(observer_id), 0) from lms.observers),
            (select coalesce(max(observer_id), 0) from history.observers_closed),
            (select base from id_floor)
        ) + 1 as next_id
    union all
    select
        'resources' as table_name,
        'resource_id' as id_column,
        greatest(
            (select coalesce(max(resource_id), 0) from lms.resources),
            (select coalesce(max(resource_id), 0) from history.resources_closed),
            (select base from id_floor)
        ) + 1 as next_id
    union all
    select
        'class_resources' as table_name,
        'class_resource_id' as id_column,
        greatest(
            (select coalesce(max(class_resource_id), 0) from lms.class_resources),
            (select coalesce(max(class_resource_id), 0) from history.class_resources_closed),
            (select base from id_floor)
        ) + 1 as next_id
    union all
    select
        'course_resources' as table_name,
        'course_resource_id' as id_column,
        greatest(
            (select coalesce(max(course_resource_id), 0) from lms.course_resources),
            (select coalesce(max(course_resource_id), 0) from history.course_resources_closed),
            (select base from id_floor)
        ) + 1 as next_id
)
select * from final;
