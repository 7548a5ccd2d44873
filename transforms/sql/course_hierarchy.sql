-- The desired courses: org base courses down the org chain, teacher base courses, session base
-- courses and one section per class, each naming the course it derives from by external ID.
-- External IDs (README, "Base courses"):
--   org base      or--obc--<org>--<course title>
--   teacher base  or--tbc--<school>--<teacher>--<course title>
--   session base  or--sbc--<school>--<teacher>--<term>--<course title>
--   section       or--<class sourcedId>
with

sections as (
    select * from class_sections
),

chains as (
    select * from org_chains
),

titled_sections as (
    select * from sections where course_title is not null
),

org_base_keys as (
    select distinct
        chains.org_id,
        titled_sections.course_title,
        parents.org_id as parent_org_id,
    from titled_sections
    inner join chains on chains.school_id = titled_sections.school_id
    left join chains as parents
        on parents.school_id = chains.school_id and parents.depth = chains.depth + 1
    where $org_base_courses
),

org_base_courses as (
    select
        'or--obc--' || org_id || '--' || course_title as external_id,
        'or--' || org_id as domain_external_id,
        'org_base' as kind,
        course_title as title,
        case
            when parent_org_id is not null
                then 'or--obc--' || parent_org_id || '--' || course_title
        end as base_course_external_id,
        null::varchar as teacher_id,
    from org_base_keys
),

teacher_base_keys as (
    select distinct school_id, teacher_id, course_title
    from titled_sections
    where teacher_id is not null
),

teacher_base_courses as (
    select
        'or--tbc--' || keys.school_id || '--' || keys.teacher_id || '--' || keys.course_title
            as external_id,
        'or--' || keys.school_id as domain_external_id,
        'teacher_base' as kind,
        keys.course_title as title,
        case
            when org_base_keys.org_id is not null
                then 'or--obc--' || keys.school_id || '--' || keys.course_title
        end as base_course_external_id,
        keys.teacher_id,
    from teacher_base_keys as keys
    left join org_base_keys
        on org_base_keys.org_id = keys.school_id and org_base_keys.course_title = keys.course_title
),

session_base_keys as (
    select distinct school_id, teacher_id, course_title, term_id
    from titled_sections
    where teacher_id is not null and term_id is not null and $session_base_courses
),

session_base_courses as (
    select
        'or--sbc--' || school_id || '--' || teacher_id || '--' || term_id || '--' || course_title
            as external_id,
        'or--' || school_id as domain_external_id,
        'session_base' as kind,
        course_title as title,
        'or--tbc--' || school_id || '--' || teacher_id || '--' || course_title
            as base_course_external_id,
        teacher_id,
    from session_base_keys
),

section_courses as (
    select
        'or--' || sections.class_id as external_id,
        'or--' || sections.school_id as domain_external_id,
        'section' as kind,
        sections.class_title as title,
        coalesce(
            session_base_courses.external_id,
            teacher_base_courses.external_id,
            org_base_courses.external_id
        ) as base_course_external_id,
        null::varchar as teacher_id,
        sections.is_inactive,
    from sections
    left join session_base_courses
        on session_base_courses.external_id = 'or--sbc--' || sections.school_id || '--'
            || sections.teacher_id || '--' || sections.term_id || '--' || sections.course_title
    left join teacher_base_courses
        on teacher_base_courses.external_id = 'or--tbc--' || sections.school_id || '--'
            || sections.teacher_id || '--' || sections.course_title
    left join org_base_courses
        on org_base_courses.external_id = 'or--obc--' || sections.school_id || '--'
            || sections.course_title
),

final as (
    select *, 'active' as status from org_base_courses
    union all by name
    select *, 'active' as status from teacher_base_courses
    union all by name
    select *, 'active' as status from session_base_courses
    union all by name
    select
        * exclude (is_inactive),
        case when is_inactive then 'inactive' else 'active' end as status,
    from section_courses
)

select
    external_id,
    domain_external_id,
    kind,
    title,
    base_course_external_id,
    status,
    teacher_id,
from final
