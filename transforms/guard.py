"""The safety guards: whether a planned run may be applied, or must be held for a person.

A truncated export must not wipe a district: a run that would remove too large a share of the
tenant's active managed users or enrollments, or of one school's, is held. So is, under
`[safety] login_changes = "hold"`, a run that changes how existing users sign in.
"""

from __future__ import annotations

import polars as pl

from rosterflow.schemas.changes import REMOVALS, Plan
from rosterflow.schemas.settings import Identity, Safety
from rosterflow.transforms.adoption import Adoption

GUARDED = ("user", "enrollment")
# at least this many active users (or enrollments) for a school's removal share to be judged:
# one of three students leaving a tiny school is no truncated export
MIN_SCHOOL_ACTIVE = 20


def removals(plan: Plan) -> dict[str, pl.DataFrame]:
    """Per guarded entity, the rows the plan removes that were active."""
    # an inactivated or withdrawn row was active; a deleted one keeps its status
    removal = pl.col("action").is_in(REMOVALS) & (
        (pl.col("action") != "delete") | (pl.col("status") == "active")
    )
    return {name: plan.entities[name].changes.filter(removal) for name in GUARDED}


def refusal(
    plan: Plan,
    schools: pl.DataFrame,
    relogins: pl.DataFrame,
    safety: Safety,
    identity: Identity,
    adoption: Adoption | None = None,
) -> str | None:
    """Why the run must not be applied, or None. `schools` holds per school and guarded entity
    the active rows removed and the active rows (`entity, domain_id, school, removed,
    active`); `relogins` the users whose login changes (`transforms.logins.relogins`);
    `adoption` the accounts made by hand that new users take over (`transforms.adoption`)."""
    limit = safety.max_removal_share
    removed_active = removals(plan)
    for name in GUARDED:
        # the share of the tenant's active rows: a deleted row that was inactive already
        # (a district purging users disabled long ago) takes no active row away
        removed = removed_active[name].height
        base = plan.entities[name].managed_active
        if base and removed / base > limit:
            return (
                f"this feed would remove {removed:,} of the tenant's {base:,} active managed "
                f"{name}s ({removed / base:.0%}), above [safety] max_removal_share = {limit:g}. "
                "If the export is complete and this is intended, run again with "
                f"--max-removal-share {min(1.0, round(removed / base + 0.005, 2)):g} "
                "(or set it in --config)"
            )
    if relogins.height and safety.login_changes == "hold":
        first = relogins.row(0, named=True)
        count = relogins.height
        return (
            f"this feed would change the login of {count:,} existing user{'s' if count > 1 else ''}"
            f" (e.g. {first['external_id']}: {first['login_before']!r} -> {first['login']!r}), "
            f"who would no longer sign in as before ([identity] key = "
            f"{identity.key!r}). If that is intended, approve the run, or set [safety] "
            'login_changes = "warn"'
        )
    adopted = 0 if adoption is None else adoption.matches.height
    adopt_limit = safety.max_adoption_share
    if adopted and adopted / max(adoption.tenant_users, 1) > adopt_limit:
        share = adopted / max(adoption.tenant_users, 1)
        return (
            f"this feed would adopt {adopted:,} of the tenant's {adoption.tenant_users:,} users "
            f"({share:.0%}), accounts made by hand that [identity] adopt_by = "
            f"{identity.adopt_by!r} matched, above [safety] max_adoption_share = "
            f"{adopt_limit:g}. If the matches are right (the dry run lists them), approve the "
            "run, or raise the share"
        )
    school_limit = safety.max_school_removal_share
    over = (
        schools.with_columns((pl.col("removed") / pl.col("active")).alias("share"))
        .filter(pl.col("active") >= MIN_SCHOOL_ACTIVE, pl.col("share") > school_limit)
        .sort("share", "entity", "domain_id", descending=[True, False, False])
    )
    if over.height:
        worst = over.row(0, named=True)
        others = f" (and {over.height - 1} more)" if over.height > 1 else ""
        return (
            f"this feed would remove {worst['removed']:,} of the {worst['active']:,} active "
            f"managed {worst['entity']}s of {worst['school'] or 'domain ' + str(worst['domain_id'])}"
            f" ({worst['share']:.0%}){others}, above [safety] max_school_removal_share = "
            f"{school_limit:g}: one school's export may be truncated"
        )
    return None
