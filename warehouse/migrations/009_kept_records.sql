-- rosterflow warehouse, version 9: what a run replaces no longer weighs on the runs after it.
--
-- DuckDB reads the blob of every row of a table's row group whenever a query reads one, kept
-- or not. So the stored records a run replaces (kept 30 days for undo) keep their blob in a
-- table of its own, which only an undo reads: the row in oneroster.snapshots or
-- oneroster.snapshot_patches stays, marked superseded_run_id, with records null. The derived
-- state a run replaces is not kept at all (the run after an undo plans in full).

alter table oneroster.snapshots alter column records drop not null;
alter table oneroster.snapshot_patches alter column records drop not null;

-- (Each statement may meet its own work done: a warehouse taken back to version 8 by hand keeps
-- this table and its null blobs.)

-- grain: one row per stored record set (a base or a patch) that a run superseded, while it is
-- kept (30 days): its blob, which undoing that run puts back.
create table if not exists oneroster.kept_records (
    tenant varchar not null,
    source varchar not null,        -- snapshots | snapshot_patches: where its row is
    file varchar not null,
    run_id bigint not null,         -- the run that wrote it (its row's run_id)
    records blob not null           -- Parquet, as it was in its row
);

insert into oneroster.kept_records
select tenant, 'snapshots', file, run_id, records
from oneroster.snapshots where superseded_run_id is not null and records is not null;
update oneroster.snapshots set records = null where superseded_run_id is not null;

insert into oneroster.kept_records
select tenant, 'snapshot_patches', file, run_id, records
from oneroster.snapshot_patches where superseded_run_id is not null and records is not null;
update oneroster.snapshot_patches set records = null where superseded_run_id is not null;

delete from oneroster.derived where superseded_run_id is not null;
