-- lms.users and history.users_closed as version 5 makes them, for a warehouse whose version 5
-- was applied by a build before 005 gave them login (`schema.repair_drift`): rebuilt with every
-- row, columns by name (login empty, as version 5 leaves it on the rows synced before: the next
-- run fills it, an update).

create table lms.users_repaired (
    user_id bigint not null,
    tenant varchar not null,
    external_id varchar,
    domain_id bigint,
    role varchar,
    username varchar,
    given_name varchar,
    family_name varchar,
    email varchar,
    grade_level varchar,
    login varchar,
    status varchar not null default 'active',
    origin varchar not null default 'manual',
    updated_run_id bigint
);
insert into lms.users_repaired by name select * from lms.users;
drop table lms.users;
alter table lms.users_repaired rename to users;

create table history.users_closed_repaired as select * from lms.users with no data;
alter table history.users_closed_repaired add column valid_from timestamp;
alter table history.users_closed_repaired add column valid_to timestamp;
alter table history.users_closed_repaired add column opened_run_id bigint;
alter table history.users_closed_repaired add column closed_run_id bigint;
insert into history.users_closed_repaired by name select * from history.users_closed;
drop table history.users_closed;
alter table history.users_closed_repaired rename to users_closed;

-- the view as in version 5, bound anew to the columns above
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
