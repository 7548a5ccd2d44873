-- One row per class of the SIS: its school, course title, primary teacher and first term.
-- The primary teacher is the teacher enrollment marked primary=true, else the first teacher
-- enrollment of the class in file order (run, then line). A class listed in several terms
-- uses its first term.
with

classes as (
    select * from source_classes
),

courses as (
    select * from source_courses
),

users as (
    select * from source_users
),

teacher_enrollments as (
    select
        enrollments.classSourcedId as class_id,
        enrollments.userSourcedId as teacher_id,
        coalesce(enrollments."primary" = 'true', false) as is_marked_primary,
        enrollments.run_id,
        enrollments.line,
    from source_enrollments as enrollments
    inner join users on users.sourcedId = enrollments.userSourcedId
    where enrollments.role = 'teacher'
),

primary_teachers as (
    select
        class_id,
        first(teacher_id order by is_marked_primary desc, run_id, line) as teacher_id,
    from teacher_enrollments
    group by class_id
),

final as (
    select
        classes.sourcedId as class_id,
        classes.title as class_title,
        classes.schoolSourcedId as school_id,
        coalesce(classes.status = 'inactive', false) as is_inactive,
        courses.title as course_title,
        primary_teachers.teacher_id,
        nullif(trim(split_part(classes.termSourcedIds, ',', 1)), '') as term_id,
    from classes
    left join courses on courses.sourcedId = classes.courseSourcedId
    left join primary_teachers on primary_teachers.class_id = classes.sourcedId
)

select * from final
