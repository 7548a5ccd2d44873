-- rosterflow warehouse, version 7: the platform's gradebook, sent back to the SIS
-- (docs/how-to/grades.md).
--
-- 1. lms.line_items and lms.scores are the learning platform's gradebook: the platform writes
--    them, a sync never does. They are not sync entities: no external_id, origin or
--    updated_run_id, and a sync's plan, lms checksum and undo never read them. Only the
--    columns a gradebook cannot do without are required; every other column is nullable or
--    has a default, so that a platform writing only those works.
-- 2. Their history is kept by rosterflow's grades runs, not by the platform. DuckDB has no
--    triggers and the platform writes with its own statements, so no write can be seen as it
--    happens; instead every grades run (`rosterflow grades export`) compares the tenant's
--    gradebook with the versions history holds, in the transaction that records the run:
--    a row that is new or changed opens a version, a version whose row changed or went is
--    closed. History thus holds, at every export, exactly the rows that export read (and,
--    with audit.grade_exclusions, exactly what it sent). Its resolution is the exports: a
--    change made and undone between two exports is not seen, and valid_from is when an export
--    first saw a version (scores.graded_at says when the score was given).
-- 3. audit.grade_runs and audit.grade_exclusions record each export: what was sent, what was
--    not and why. Grades runs are numbered apart from sync runs (grade_run_id).

-- grain: one row per gradebook column (line item) of a section: an assignment, a quiz, a test.
create table lms.line_items (
    line_item_id bigint not null,      -- the platform's id of the column; its sourcedId is li-<line_item_id>
    tenant varchar not null,
    course_id bigint not null,         -- the section (lms.courses, kind section) it belongs to
    title varchar not null,
    due_date date not null,
    points_possible double not null,   -- the highest score a result can have (resultValueMax)
    min_score double not null default 0,   -- the lowest score a result can have (resultValueMin)
    category varchar,                  -- the platform's category (assignment group); null: the default category
    description varchar,
    assign_date date,                  -- when it was assigned; null: its due date is sent as assignDate
    status varchar not null default 'active' check (status in ('active', 'inactive'))   -- active, or inactive (a draft or hidden column: not sent)
);

-- grain: one row per line item and student: the student's score on that column.
create table lms.scores (
    line_item_id bigint not null,      -- lms.line_items; the result's sourcedId is res-<line_item_id>-<user_id>
    user_id bigint not null,           -- the student (lms.users)
    score double,                      -- null: no score (exempt, not submitted)
    graded_at timestamp not null default (current_timestamp at time zone 'UTC'),   -- when it was graded (scoreDate); the insert's time by default
    status varchar not null default 'fully graded' check (status in ('exempt', 'fully graded', 'not submitted', 'partially graded', 'submitted')),   -- the scoreStatus: exempt, fully graded, not submitted, partially graded or submitted
    comment varchar,                   -- the teacher's comment to the student
    text_score varchar,                -- a letter or text grade (OneRoster 1.2 textScore)
    late boolean,                      -- handed in late (1.2)
    missing boolean                    -- not handed in (1.2)
);

-- grain: one row per version of a lms.line_items row that a grades run saw: the row's columns
-- as that run found them, from valid_from (inclusive) to valid_to (exclusive; null while the
-- row is as the last run found it).
create table history.line_items as select * from lms.line_items with no data;
alter table history.line_items add column valid_from timestamp;   -- when the grades run that first saw this version started
alter table history.line_items add column valid_to timestamp;     -- when the first grades run that found it changed or gone started
alter table history.line_items add column opened_grade_run_id bigint;   -- audit.grade_runs
alter table history.line_items add column closed_grade_run_id bigint;   -- audit.grade_runs

-- grain: one row per version of a lms.scores row that a grades run saw (as history.line_items).
create table history.scores as select * from lms.scores with no data;
alter table history.scores add column tenant varchar;   -- the tenant of its line item
alter table history.scores add column valid_from timestamp;   -- as in history.line_items
alter table history.scores add column valid_to timestamp;     -- as in history.line_items
alter table history.scores add column opened_grade_run_id bigint;   -- audit.grade_runs
alter table history.scores add column closed_grade_run_id bigint;   -- audit.grade_runs

-- grain: one row per grades run: an export of a tenant's gradebook.
create table audit.grade_runs (
    grade_run_id bigint not null,
    tenant varchar not null,
    kind varchar not null,             -- export
    oneroster_version varchar,         -- 1.1 | 1.2
    destination varchar,               -- the feed written: a zip or a folder
    started_at timestamp not null,
    finished_at timestamp,
    outcome varchar not null,          -- exported
    categories bigint,                 -- records sent, per file
    line_items bigint,
    results bigint,
    excluded bigint,                   -- line items and scores not sent (audit.grade_exclusions)
    rosterflow_version varchar
);

-- grain: one row per line item or score a grades run did not send.
create table audit.grade_exclusions (
    grade_run_id bigint not null,
    entity varchar not null,           -- lineItem | result
    sourced_id varchar,                -- the sourcedId it would have been sent with
    line_item_id bigint,
    user_id bigint,                    -- a result's student
    reason varchar not null,           -- e.g. result.not_enrolled (docs/how-to/grades.md lists them)
    message varchar
);
