-- rosterflow warehouse, version 4: one warehouse file per tenant, synced concurrently.
--
-- 1. A per-tenant warehouse (`--warehouse 'wh/{tenant}.duckdb'`) takes its ids and run ids
--    from the tenant's own range (audit.id_space), so that ids stay unique across the files
--    a catalog reads together. The one-file warehouse has no row here: its range starts at 0.
-- 2. A run started by a Prefect flow run carries that flow run's id (attempt_key): a retry of
--    the flow run finds the run it already recorded instead of applying the feed again.

-- grain: one row per warehouse file that has its own id range.
create table audit.id_space (
    tenant varchar not null,        -- the tenant the range was registered for
    base bigint not null            -- every id and run id in this file is above it
);

alter table audit.sync_runs add column attempt_key varchar;
