"""The observer links an incremental plan derives for the users it touched
(`desired_observers(users, touching=...)`) are exactly the links the whole derivation gives
those users; and `refuse_shared_observer_ids` refuses their run, as the whole derivation's
refusal words it, when the whole derivation shares an external ID and a touched link has a
part that may read as two.

The users are drawn from a pool of sourcedIds that are prefixes and suffixes of each other and
hold '--', with agent lists holding spaces (Unicode ones included), duplicates, empty entries,
names of no user, empty lists and no list at all; the touched users are users of every role
in the file (new or changed) and users no longer in it (removed).
"""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from rosterflow.schemas.changes import PlanError
from rosterflow.transforms.desired import (
    MANAGED,
    desired_observers,
    refuse_shared_observer_ids,
)
from tests.feeds import frame

# prefixes and suffixes of each other, and parts that join into one external ID ('p--x' and
# 'y' give 'or--obs--p--x--y', as 'p' and 'x--y' do)
POOL = ("p", "p1", "p10", "1", "x-p1", "s", "s1", "s11", "1s1", "p--x", "x--y", "y", "x")
ROLES = ("student", "parent", "guardian", "relative", "teacher", "administrator")
SPACES = ("", " ", "  ", "\t", "\u00a0")


def entries(names: list[str]) -> st.SearchStrategy[str]:
    """One entry of an agent list: a name (mostly of a user in the file; else of a user in the
    pool, of none, or empty) with spaces around it."""
    name = st.sampled_from(names) if names else st.nothing()
    return st.tuples(
        st.sampled_from(SPACES),
        name | name | st.sampled_from((*POOL, "", "nobody")),
        st.sampled_from(SPACES),
    ).map("".join)


@st.composite
def users_and_touched(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.Series]:
    """A users file and the sourcedIds a run touched: mostly users of the file, perhaps one
    no longer in it."""
    sourced_ids = draw(st.lists(st.sampled_from(POOL), unique=True, min_size=2, max_size=8))
    roles = st.sampled_from(("student", "parent")) | st.sampled_from(ROLES)
    lists = st.lists(entries(sourced_ids), min_size=1, max_size=4).map(",".join)
    rows = [
        {
            "sourcedId": sourced_id,
            "role": draw(roles),
            "agentSourcedIds": draw(lists | lists | lists | st.sampled_from((None, ""))),
        }
        for sourced_id in sourced_ids
    ]
    touched = draw(
        st.lists(st.sampled_from((*sourced_ids, "gone")), unique=True, min_size=1, max_size=3)
    )
    return frame("users", *rows), pl.Series("sourcedId", touched, pl.String)


def of_touched(links: pl.DataFrame, touched: pl.Series) -> pl.DataFrame:
    parties = (MANAGED + touched).implode()
    return links.filter(
        pl.col("observer_user_external_id").is_in(parties)
        | pl.col("student_user_external_id").is_in(parties)
    )


def refusal(users: pl.DataFrame, links: pl.DataFrame) -> str | None:
    try:
        refuse_shared_observer_ids(users, links)
    except PlanError as refused:
        return str(refused)
    return None


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(users_and_touched())
def test_the_touched_users_links_are_the_whole_derivations_links_of_them(drawn):
    users, touched = drawn
    whole = desired_observers(users.lazy()).collect()
    found = desired_observers(users.lazy(), touching=touched).collect()
    assert_frame_equal(found.sort(pl.all()), of_touched(whole, touched).sort(pl.all()))

    # the run is refused when the whole derivation shares an external ID and a touched link
    # has a part that may read as two, with the message the whole derivation's refusal gives
    shared = whole.filter(pl.col("external_id").is_duplicated()).height > 0
    parties = pl.concat(
        [found["observer_user_external_id"], found["student_user_external_id"]]
    ).str.strip_prefix(MANAGED)
    unclear = parties.str.contains(r"--|^-|-$").any()
    expected = refusal(users, whole) if shared and unclear else None
    assert refusal(users, found) == expected


def test_a_list_naming_a_touched_user_among_spaces_and_empty_entries_gives_its_link():
    users = frame(
        "users",
        {"sourcedId": "p1", "role": "parent", "agentSourcedIds": " ,\u00a0s1 ,, s1"},
        {"sourcedId": "s1", "role": "student", "agentSourcedIds": None},
        {"sourcedId": "s11", "role": "student", "agentSourcedIds": "p10"},
        {"sourcedId": "p10", "role": "parent", "agentSourcedIds": ""},
    )
    found = desired_observers(users.lazy(), touching=pl.Series(["s1"])).collect()
    assert found["external_id"].to_list() == ["or--obs--p1--s1"]


@pytest.mark.parametrize("touched", [[], ["gone"]])
def test_no_touched_user_in_the_file_gives_no_link(touched):
    users = frame(
        "users",
        {"sourcedId": "p1", "role": "parent", "agentSourcedIds": "s1"},
        {"sourcedId": "s1", "role": "student", "agentSourcedIds": "p1"},
    )
    found = desired_observers(users.lazy(), touching=pl.Series(touched, dtype=pl.String))
    assert found.collect().height == 0


def test_a_touched_link_sharing_its_external_id_with_an_untouched_one_refuses_the_run():
    users = frame(
        "users",
        {"sourcedId": "p--x", "role": "parent", "agentSourcedIds": "y"},
        {"sourcedId": "y", "role": "student", "agentSourcedIds": None},
        {"sourcedId": "p", "role": "guardian", "agentSourcedIds": "x--y"},
        {"sourcedId": "x--y", "role": "student", "agentSourcedIds": None},
    )
    found = desired_observers(users.lazy(), touching=pl.Series(["y"])).collect()
    assert found["external_id"].to_list() == ["or--obs--p--x--y"]
    with pytest.raises(PlanError) as refused:
        refuse_shared_observer_ids(users, found)
    assert str(refused.value) == refusal(users, desired_observers(users.lazy()).collect())
    assert "the link of guardian p to student x--y and the link of parent p--x to student y" in (
        str(refused.value)
    )
