-- One row per (school of a class, org on the chain from that school up to the root), with the
-- org's distance from the school (0 = the school itself). Validation rejects org cycles; the
-- depth bound only keeps a corrupt warehouse from looping forever.
with recursive

orgs as (
    select
        sourcedId as org_id,
        parentSourcedId as parent_id,
    from source_orgs
),

schools as (
    select distinct school_id from class_sections
),

chains(school_id, org_id, parent_id, depth) as (
    select
        orgs.org_id as school_id,
        orgs.org_id,
        orgs.parent_id,
        0 as depth,
    from orgs
    inner join schools on schools.school_id = orgs.org_id

    union all

    select
        chains.school_id,
        orgs.org_id,
        orgs.parent_id,
        chains.depth + 1 as depth,
    from chains
    inner join orgs on orgs.org_id = chains.parent_id
    where chains.depth < 64
),

final as (
    select school_id, org_id, depth from chains
)

select * from final
