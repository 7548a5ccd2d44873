-- rosterflow warehouse, version 8: grades pushed to the SIS's gradebook API (docs/how-to/grades.md).
--
-- 1. `rosterflow grades push URL` PUTs the tenant's gradebook records (categories, then line
--    items, then results) to the SIS's OneRoster gradebook API. Each push is a grades run
--    (audit.grade_runs, kind push, destination the base URL), with its exclusions and its
--    history snapshot as an export has.
-- 2. audit.grade_pushes holds what each push sent or held back, one row per record, with the
--    md5 of its JSON record (the body without dateLastModified, the one field that changes at
--    every push) and what the SIS answered. The body the SIS last acknowledged (outcome sent),
--    per tenant, destination and record, is what the SIS holds as far as rosterflow knows: a
--    push sends only the records whose hash differs from it, so a second push with nothing
--    changed sends nothing, and a record refused or held back is sent again by the next push.
--    Nothing the SIS did not acknowledge is ever recorded as sent: a push that stops midway
--    records what it acknowledged before (outcome failed), one that stops before any record was
--    acknowledged records nothing.

alter table audit.grade_runs add column unchanged bigint;   -- a push: records not sent, as the SIS holds them already
alter table audit.grade_runs add column refused bigint;     -- a push: records the SIS refused, or held back as their category or line item was not accepted
alter table audit.grade_runs add column message varchar;    -- a push that stopped: why

-- grain: one row per record a grades push sent, or held back, to its destination: its body's
-- hash and what the SIS answered.
create table audit.grade_pushes (
    grade_run_id bigint not null,      -- audit.grade_runs (kind push)
    entity varchar not null,           -- category | lineItem | result
    sourced_id varchar not null,
    body_hash varchar not null,        -- md5 of the JSON record sent, dateLastModified left out
    status integer,                    -- the HTTP status the SIS answered; null: held back, never sent
    outcome varchar not null,          -- sent (acknowledged) | refused | held (its category or line item was not accepted)
    reason varchar                     -- a refusal: what the SIS said, else the status's phrase; held: why
);
