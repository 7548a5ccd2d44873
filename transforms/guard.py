"""The safety guards: whether a planned run may be applied, or must be held for a person.

A truncated export must not wipe a district: a run that would remove too large a share of the
tenant's active managed users or enrollments, or of one school's, is held. So is, under
`[safety] login_changes = "hold"`, a run that changes how existing users sign in. A run over
several guards names each: approving it lets every one of them through.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import polars as pl

from rosterflow.schemas.changes import REMOVALS, Plan
from rosterflow.schemas.settings import Identity, Safety
from rosterflow.transforms.adoption import Adoption

GUARDED = ("user", "enrollment")
# at least this many active users (or enrollments) for a school's removal share to be judged:
# one of three students leaving a tiny school is no truncated export
MIN_SCHOOL_ACTIVE = 20
TENANTS = "the tenant's"


# the column that places a guarded row in a school (a user's domain, an enrollment's course)
SCHOOL_COLUMNS = {"user": "domain_id", "enrollment": "course_id"}


def removals(plan: Plan) -> dict[str, pl.DataFrame]:
    """Per guarded entity, the rows the plan removes that were active, each where it was
    before the run: a user inactivated by the run that also moves them (to a school for
    graduates, say) is taken from the school they leave, not from the one they join
    (`domain_id`, and an enrollment's `course_id`, as their change's detail says they were)."""
    # an inactivated or withdrawn row was active; a deleted one keeps its status
    removal = pl.col("action").is_in(REMOVALS) & (
        (pl.col("action") != "delete") | (pl.col("status") == "active")
    )
    return {
        name: _where_it_was(plan.entities[name].changes.filter(removal), SCHOOL_COLUMNS[name])
        for name in GUARDED
    }


def _where_it_was(changes: pl.DataFrame, column: str) -> pl.DataFrame:
    """`changes` with `column` as it was before each change (its `detail` names a column the
    change altered: `{"domain_id": {"from": 2, "to": 3}, ...}`). A change set of only what the
    tenant share reads (external ID, status, action) places no row and is returned as is."""
    if column not in changes.columns or "detail" not in changes.columns:
        return changes
    before = (
        pl.col("detail")
        .cast(pl.String)  # (a literal change set types a detail of nulls alone Null)
        .str.json_path_match(f"$.{column}.from")
        .cast(changes.schema[column])
    )
    return changes.with_columns(pl.coalesce(before, column).alias(column))


def refusal(
    plan: Plan,
    schools: pl.DataFrame,
    relogins: pl.DataFrame,
    safety: Safety,
    identity: Identity,
    adoption: Adoption | None = None,
    dry_run: bool = False,
) -> str | None:
    """Why the run must not be applied, or None. `schools` holds per school and guarded entity
    the active rows removed and the active rows (`warehouse.state.school_removals`, a frame
    of `schemas.guard.SCHOOL_REMOVALS_SCHEMA`); `relogins` the users whose login changes
    (`transforms.logins.relogins`, of `schemas.guard.RELOGINS_SCHEMA`); `adoption` the
    accounts made by hand that new users take over (`transforms.adoption`). Of a `dry_run`,
    it says how to go on from a dry run: no run is held to approve yet."""
    # a dry run holds nothing, and `rosterflow approve` of it is refused ("not held")
    approve = (
        "sync without --dry-run and approve the run it holds" if dry_run else "approve the run"
    )
    # every guard the run is over is named: approving the run lets all of them through (a
    # login change approved must not carry a school's truncated export along unannounced).
    # A tenant's share over its limit names no school: the school's share only measures more
    # finely what that already says
    tenant = _tenant_reason(plan, safety, schools)
    held_for = [
        reason
        for reason in (
            tenant,
            _login_change_reason(relogins, safety, identity, approve),
            _adoption_reason(adoption, safety, identity, approve, dry_run),
            None if tenant is not None else _school_reason(schools, safety),
        )
        if reason is not None
    ]
    if not held_for:
        return None
    first, *besides = held_for
    approving = "Approving the run it holds" if dry_run else "Approving the run"
    return "".join(
        [first, *(f". {approving} also lets this through: {reason}" for reason in besides)]
    )


def _tenant_reason(plan: Plan, safety: Safety, schools: pl.DataFrame) -> str | None:
    """Why the run is held for the share of the tenant's active rows it removes
    (`[safety] max_removal_share`), or None. Its advice lets the run through at the next try:
    when one school's share (`schools`, as `refusal` takes them) is over its own limit too, it
    names the `[safety] max_school_removal_share` that admits every school as well."""
    limit = safety.max_removal_share
    removed_active = removals(plan)
    # the share of the tenant's active rows: a deleted row that was inactive already (a
    # district purging users disabled long ago) takes no active row away
    shares = {
        name: (removed_active[name].height, plan.entities[name].managed_active)
        for name in GUARDED
        if plan.entities[name].managed_active
    }
    over = {name: counts for name, counts in shares.items() if counts[0] / counts[1] > limit}
    if not over:
        return None
    # every entity over the limit is named, each share shown precisely enough to read above
    # it, and the share suggested admits every guarded entity (rounded up, never down)
    decimals = max(decimals_above(removed / base, limit) for removed, base in over.values())
    removing = " and ".join(
        f"{removed:,} of {'its' if i else TENANTS} {base:,} active managed {name}s "
        f"({percent(removed / base, decimals)})"
        for i, (name, (removed, base)) in enumerate(over.items())
    )
    largest = max(Fraction(removed, base) for removed, base in shares.values())
    return (
        f"this feed would remove {removing}, above [safety] max_removal_share = {limit:g}. "
        "If the export is complete and this is intended, run again with "
        f"--max-removal-share {share_at_least(largest, decimals)} (or set it in --config)"
        f"{_school_share_too(schools, safety)}"
    )


def _school_share_too(schools: pl.DataFrame, safety: Safety) -> str:
    """The rest of the tenant share's advice when a school's share is over its own limit
    too: a run again with the tenant's share raised alone would be held for that school. The
    school is not named (the tenant's share already says the export lost that much); the share
    suggested admits every school judged, rounded up as the tenant's is."""
    over = _schools_over(schools, safety.max_school_removal_share)
    if over.height == 0:
        return ""
    school_limit = safety.max_school_removal_share
    # the largest share exactly (the schools over the limit are a handful of rows)
    largest, entity = max(
        (Fraction(removed, active), entity)
        for entity, removed, active in over.select("entity", "removed", "active").rows()
    )
    decimals = decimals_above(float(largest), school_limit)
    return (
        f", and [safety] max_school_removal_share = {share_at_least(largest, decimals)} in "
        f"--config: one school would lose {percent(float(largest), decimals)} of its active "
        f"managed {entity}s, above [safety] max_school_removal_share = {school_limit:g}"
    )


def _schools_over(schools: pl.DataFrame, school_limit: float) -> pl.DataFrame:
    """The schools judged (at least `MIN_SCHOOL_ACTIVE` active rows) whose removal share is
    above `school_limit`, the largest share first."""
    return (
        schools.with_columns((pl.col("removed") / pl.col("active")).alias("share"))
        .filter(pl.col("active") >= MIN_SCHOOL_ACTIVE, pl.col("share") > school_limit)
        .sort("share", "entity", "domain_id", descending=[True, False, False])
    )


def _login_change_reason(
    relogins: pl.DataFrame, safety: Safety, identity: Identity, approve: str
) -> str | None:
    """Why the run is held for the logins it changes (`[safety] login_changes`), or None."""
    if relogins.height == 0 or safety.login_changes != "hold":
        return None
    first = relogins.row(0, named=True)
    count = relogins.height
    return (
        f"this feed would change the login of {count:,} existing user{'s' if count > 1 else ''}"
        f" (e.g. {first['external_id']}: {first['login_before']!r} -> {first['login']!r}), "
        f"who would no longer sign in as before ([identity] key = "
        f"{identity.key!r}). If that is intended, {approve}, or set [safety] "
        'login_changes = "warn"'
    )


def _adoption_reason(
    adoption: Adoption | None, safety: Safety, identity: Identity, approve: str, dry_run: bool
) -> str | None:
    """Why the run is held for the accounts it adopts (`[safety] max_adoption_share`), or
    None."""
    adopted = 0 if adoption is None else adoption.matches.height
    if not adopted:
        return None
    share = adopted / max(adoption.tenant_users, 1)
    adopt_limit = safety.max_adoption_share
    if share <= adopt_limit:
        return None
    # shown precisely enough to read above the limit (20.1% above 0.2, not 20%), as the
    # removal shares are
    decimals = decimals_above(share, adopt_limit)
    lists = "this dry run lists them" if dry_run else "the dry run lists them"
    return (
        f"this feed would adopt {adopted:,} of the tenant's {adoption.tenant_users:,} users "
        f"({percent(share, decimals)}), accounts made by hand that [identity] adopt_by = "
        f"{identity.adopt_by!r} matched, above [safety] max_adoption_share = "
        f"{adopt_limit:g}. If the matches are right ({lists}), {approve}, or raise the share"
    )


def _school_reason(schools: pl.DataFrame, safety: Safety) -> str | None:
    """Why the run is held for one school's removal share
    (`[safety] max_school_removal_share`), or None."""
    school_limit = safety.max_school_removal_share
    over = _schools_over(schools, school_limit)
    if over.height == 0:
        return None
    worst = over.row(0, named=True)
    # the other schools over the limit: a school over it for its users and its enrollments
    # both (as a truncated export is) is one school, counted once, and the worst not again
    other_schools = over.filter(pl.col("domain_id") != worst["domain_id"])["domain_id"].n_unique()
    others = f" (and {other_schools} more)" if other_schools else ""
    share = percent(worst["share"], decimals_above(worst["share"], school_limit))
    return (
        f"this feed would remove {worst['removed']:,} of the {worst['active']:,} active "
        f"managed {worst['entity']}s of {worst['school'] or 'domain ' + str(worst['domain_id'])}"
        f" ({share}){others}, above [safety] max_school_removal_share = "
        f"{school_limit:g}: one school's export may be truncated"
    )


# a share is shown with at most this many decimals of a percent
MAX_DECIMALS = 6


def decimals_above(share: float, limit: float) -> int:
    """How many decimals of a percent show `share` (above `limit`) as above it: at least as
    many as `limit` takes as a percent (0.9% above 0.005, not 1%), more while the shown
    share does not read above the limit (50.4% above 0.5, not 50%)."""
    limit_percent = Decimal(repr(limit)).scaleb(2).normalize()
    exponent = limit_percent.as_tuple().exponent
    decimals = min(max(0, -exponent), MAX_DECIMALS) if isinstance(exponent, int) else 0
    while decimals < MAX_DECIMALS and Decimal(percent(share, decimals)[:-1]) <= limit_percent:
        decimals += 1
    return decimals


def percent(share: float, decimals: int) -> str:
    """`share` as a percentage: `percent(0.0092, 1)` is `0.9%`."""
    return f"{share:.{decimals}%}"


def share_at_least(share: Fraction, decimals: int) -> str:
    """`share`, rounded up (never down) to `decimals` decimals of a percent, as a number a
    share setting takes: under it, a run removing `share` is not held (the guard holds what is
    above the setting)."""
    scale = 10 ** (decimals + 2)
    rounded = min(Fraction(-(-share.numerator * scale // share.denominator), scale), Fraction(1))
    return f"{(Decimal(rounded.numerator) / Decimal(rounded.denominator)).normalize():f}"
