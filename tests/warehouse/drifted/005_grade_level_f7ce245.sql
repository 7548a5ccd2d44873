-- rosterflow warehouse, version 5: a student's grade level on lms.users.
--
-- grade_level is derived by the sync (README, "Grade level"): the highest grade of the
-- student's classes (a class without grades gives its course's), else of the student's own
-- users.csv grades, else 'NA'; null for other roles. It goes after email, where the sync's
-- fields are, in lms.users and in the ended versions alike: a version is copied from lms by
-- position. Rows synced before this version get theirs from the next run (an update).

create table lms.users_v5 (
    user_id bigint not null,
    tenant varchar not null,
    external_id varchar,
    domain_id bigint,
    role varchar,
    username varchar,
    given_name varchar,
    family_name varchar,
    email varchar,
    grade_level varchar,           -- CEDS code (KG, 01 .. 13, PS, ...) or NA; students only
    status varchar not null default 'active',
    origin varchar not null default 'manual',
    updated_run_id bigint
);
insert into lms.users_v5
select user_id, tenant, external_id, domain_id, role, username, given_name, family_name, email,
    null, status, origin, updated_run_id
from lms.users;
drop table lms.users;
alter table lms.users_v5 rename to users;

create table history.users_closed_v5 as select * from lms.users with no data;
alter table history.users_closed_v5 add column valid_from timestamp;
alter table history.users_closed_v5 add column valid_to timestamp;
alter table history.users_closed_v5 add column opened_run_id bigint;
alter table history.users_closed_v5 add column closed_run_id bigint;
insert into history.users_closed_v5
select user_id, tenant, external_id, domain_id, role, username, given_name, family_name, email,
    null, status, origin, updated_run_id, valid_from, valid_to, opened_run_id, closed_run_id
from history.users_closed;
drop table history.users_closed;
alter table history.users_closed_v5 rename to users_closed;

-- the view as in version 1, bound anew to the columns above
create or replace view history.users as
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
