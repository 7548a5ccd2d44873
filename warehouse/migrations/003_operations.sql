-- rosterflow warehouse, version 3: held runs, approval, undo.
--
-- 1. A run over a safety guard is `held`: its change set is kept whole (audit.held_plans) so
--    that `rosterflow approve` can apply exactly that plan later, or `discard` drop it.
-- 2. Decisions about a run (approved, discarded, undone) are recorded in audit.decisions.
-- 3. The tenant's stored records and derived state are no longer deleted when a run replaces
--    them, only marked superseded by that run (kept 30 days), so that undoing a run restores
--    them as well as its lms rows.

-- grain: one row per held run and part of its plan: the change rows of an entity
-- (part 'changes', name = entity), a file's record write (part 'records', name = file), a
-- derived frame (part 'derived', name = its name), and the state the plan started from
-- (part 'state', name 'state': detail holds the lms checksum, next ids and more as JSON).
create table audit.held_plans (
    run_id bigint not null,
    part varchar not null,
    name varchar not null,
    detail varchar,                 -- JSON
    records blob                    -- Parquet
);

-- grain: one row per decision about a run.
create table audit.decisions (
    run_id bigint not null,         -- the run decided about
    decision varchar not null,      -- approved | discarded | undone
    decided_at timestamp not null,
    decided_by varchar,             -- the operating-system user who ran the command
    result_run_id bigint            -- the run that applied (approved) or undid (undone) it
);

alter table oneroster.snapshots add column superseded_run_id bigint;
alter table oneroster.snapshot_patches add column superseded_run_id bigint;
alter table oneroster.derived add column superseded_run_id bigint;
