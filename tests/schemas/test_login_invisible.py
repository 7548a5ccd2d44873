"""Logins holding a character a screen does not show (a zero-width space, a joiner, a soft
hyphen, a byte-order mark inside the value: `schemas.identity.INVISIBLE_CHARACTER`): warned of
on their row (`identity.login_invisible`, naming the character), and compared without it
wherever logins are compared (`same_login`): `ann` and `ann` + U+200B are one login, shared by
two users, not two accounts that look alike, and no login change."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.changes import Plan
from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.identity import login, login_issues, same_login
from rosterflow.schemas.settings import Identity, Settings
from rosterflow.schemas.validate import stored_login_issues, validate_feed
from rosterflow.schemas.writer import write_feed
from rosterflow.transforms.adoption import adoptions
from rosterflow.transforms.logins import relogins
from rosterflow.warehouse.schema import connect
from rosterflow.warehouse.state import hand_made_logins, synced_logins
from tests.feeds import frame, tiny_district, with_cell
from tests.feeds12 import as_v12
from tests.syncing import Warehouse
from tests.transforms.test_logins import user_changes as planned_user_changes
from tests.transforms.test_logins_case import login_change

ZWSP = "\u200b"  # a zero-width space
# each character a screen shows as nothing that a SIS export may leave in a value, as
# `identity.login_invisible` names it
INVISIBLE = {
    "\u200b": "\\u200b",  # zero-width space
    "\u200c": "\\u200c",  # zero-width non-joiner
    "\u200d": "\\u200d",  # zero-width joiner
    "\u2060": "\\u2060",  # word joiner
    "\ufeff": "\\ufeff",  # byte-order mark, inside the value
    "\u00ad": "\\u00ad",  # soft hyphen
}
# (key, users.csv column, the value holding a login `{}`)
KEYS = [
    ("username", "username", "{}"),
    ("email", "email", "{}@example.org"),
    ("identifier", "identifier", "{}"),
    ("userId", "userIds", "{{LDAP:{}}},{{LTI:15}}"),
]


def by(key: str) -> Settings:
    return Settings(identity=Identity(key=key))


def user_cell(district, sourced_id: str, column: str, value: str | None):
    index = district["users"]["sourcedId"].to_list().index(sourced_id)
    return with_cell(district, "users", index, column, value)


def validated(tmp_path, district, key: str, version: str = "1.1"):
    frames = district if version == "1.1" else as_v12(district)
    feed = write_feed(tmp_path / "feed.zip", frames, version=version)
    return validate_feed(open_feed(feed), by(key))


def invisible_logins(result) -> list[tuple]:
    issues = result.issues.filter(pl.col("rule") == "identity.login_invisible")
    return issues.select("file", "line", "field", "value", "severity").rows()


@pytest.mark.parametrize("version", ["1.1", "1.2"])
@pytest.mark.parametrize(("key", "column", "value"), KEYS)
def test_a_login_holding_an_invisible_character_is_warned_of_on_its_row(
    tmp_path, version, key, column, value
):
    # u-s2 (line 5) signs in as kim.lee with a zero-width space in it
    district = user_cell(tiny_district(), "u-s2", column, value.format(f"kim{ZWSP}.lee"))
    found = validated(tmp_path, district, key, version)
    assert invisible_logins(found) == [
        ("users.csv", 5, column, value.format("kim\\u200b.lee"), "warning")
    ]
    message = found.issues.filter(pl.col("rule") == "identity.login_invisible")["message"][0]
    assert message.startswith("the value holds \\u200b, a character a screen does not show")
    assert f"[identity] key = {key!r}" in message


@pytest.mark.parametrize(("character", "shown"), INVISIBLE.items(), ids=INVISIBLE.values())
def test_each_invisible_character_is_named_in_value_and_message(tmp_path, character, shown):
    district = user_cell(tiny_district(), "u-s1", "username", f"sam.stone{character}")
    found = validated(tmp_path, district, "username")
    assert invisible_logins(found) == [("users.csv", 4, "username", f"sam.stone{shown}", "warning")]
    message = found.issues.filter(pl.col("rule") == "identity.login_invisible")["message"][0]
    assert f"holds {shown}," in message
    assert found.ok  # a warning alone: the login is no other user's


def test_only_the_field_users_sign_in_with_is_warned_of_as_a_login(tmp_path):
    district = user_cell(tiny_district(), "u-s1", "email", f"sam{ZWSP}@example.org")
    district = user_cell(district, "u-s2", "givenName", f"Kim{ZWSP}")
    assert invisible_logins(validated(tmp_path, district, "username")) == []
    # under the default key the login is the sourcedId: an ID, warned of as one (once)
    district = user_cell(district, "u-s2", "username", f"kim{ZWSP}.lee")
    district = user_cell(district, "u-p1", "sourcedId", f"u-p1{ZWSP}")
    found = validated(tmp_path, district, "sourcedId")
    assert invisible_logins(found) == []
    assert found.issues.filter(pl.col("rule") == "id.invisible").select(
        "file", "line", "field", "value"
    ).rows() == [("users.csv", 6, "sourcedId", "u-p1\\u200b")]


def users(column: str, *logins: str | None) -> pl.DataFrame:
    """users.csv records u1, u2, ... with these values of `column`, on lines 2, 3, ..."""
    return frame(
        "users", *({"sourcedId": f"u{n}", column: v} for n, v in enumerate(logins, start=1))
    ).with_columns(pl.int_range(2, pl.len() + 2).alias("__line"))


def login_errors(stated: pl.DataFrame, key: str) -> pl.DataFrame:
    return pl.concat([issues.collect() for issues in login_issues(stated, key)]).sort("line")


@pytest.mark.parametrize(("key", "column", "value"), KEYS)
def test_logins_that_differ_only_by_invisible_characters_are_shared(key, column, value):
    stated = users(
        column,
        value.format("ann"),
        value.format(f"ANN{ZWSP}"),  # and in another letter case
        value.format("\u00ad\u2060ann\u200d"),
        value.format("anne"),  # another login
    )
    found = login_errors(stated, key)
    assert found.select("line", "value", "rule").rows() == [
        (2, value.format("ann"), "identity.login_duplicate"),
        (3, value.format(f"ANN{ZWSP}"), "identity.login_duplicate"),
        (4, value.format("\u00ad\u2060ann\u200d"), "identity.login_duplicate"),
    ]
    # the values print alike: the rows holding such a character say why they are one login
    prefix = f"[identity] key = {key!r}: another user signs in with this {column} too"
    hint = "; it holds a character a screen does not show, which sign-in leaves out"
    assert found["message"].to_list() == [
        f"{prefix} (u2, u3)",
        f"{prefix} (u1, u3){hint}",
        f"{prefix} (u1, u2){hint}",
    ]


def test_an_accent_stored_apart_and_an_invisible_character_are_both_said():
    found = login_errors(users("username", "jos\u00e9", f"jose\u0301{ZWSP}"), "username")
    assert found["message"][1].endswith(
        "(Unicode NFD), which sign-in reads as the accented letters; it holds a character a "
        "screen does not show, which sign-in leaves out"
    )


@pytest.mark.parametrize(
    ("sent", "compared"),
    [
        (f"Ann{ZWSP}", "ann"),
        (" ann \u200d", "ann"),  # a space it hid is trimmed too
        ("a\u00adn\u2060n", "ann"),
        (f"e{ZWSP}\u0301", "\u00e9"),  # an accent it kept from its letter composes with it
        ("\u00e9", "\u00e9"),
        ("ann", "ann"),
    ],
)
def test_same_login_leaves_out_invisible_characters(sent, compared):
    assert pl.select(same_login(pl.lit(sent))).item() == compared


def test_a_login_of_invisible_characters_alone_is_no_login():
    stated = users("username", "\ufeff", f"{ZWSP} \u00ad", "ann")
    assert login_errors(stated, "username").select("line", "rule").rows() == [
        (2, "identity.login_missing"),
        (3, "identity.login_missing"),
    ]
    assert stated.select(same_login(login("username"))).to_series().to_list() == [
        None,
        None,
        "ann",
    ]


# letters of logins in both cases, spaces that are trimmed, an accent as a mark of its own, and
# characters a screen does not show
LETTERS = "aAnN. \u00e9\u0301\u00a0\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=LETTERS, max_size=4), max_size=8))
@example(["ann", f"ann{ZWSP}", f"ann {ZWSP}", "\u00ad", "e\u200b\u0301", "\u00e9"])
def test_validation_shares_a_login_exactly_when_same_login_makes_it_one(logins):
    """Validation and the sync (login changes, adoption, accounts made by hand) agree on what
    one login is, characters a screen does not show and all."""
    stated = users("username", *logins)
    keys = stated.select(same_login(login("username"))).to_series().to_list()
    expected = [
        line
        for line, key in zip(stated["__line"], keys, strict=True)
        if key is not None and keys.count(key) > 1
    ]
    found = login_errors(stated, "username").filter(pl.col("rule") == "identity.login_duplicate")
    assert found["line"].to_list() == expected
    missing = login_errors(stated, "username").filter(pl.col("rule") == "identity.login_missing")
    assert missing["line"].to_list() == [
        line for line, key in zip(stated["__line"], keys, strict=True) if key is None
    ]
    # none is left in a login compared
    assert not any(k is not None and ZWSP in k for k in keys)


def user_changes(*rows: tuple[str, int, str, str]) -> Plan:
    """A plan updating users: (external_id, user_id, login before, login after)."""
    return planned_user_changes(
        *(
            (external_id, user_id, after, "update", login_change(before, after))
            for external_id, user_id, before, after in rows
        )
    )


def test_a_login_gaining_or_losing_an_invisible_character_is_no_login_change():
    planned = user_changes(
        ("or--u1", 11, "sam.stone", f"sam.stone{ZWSP}"),
        ("or--u2", 12, "\u00adkim.lee", "kim.lee"),
        ("or--u3", 13, f"ada{ZWSP}", "ada.l"),  # another login
    )
    assert relogins(planned).select("external_id", "login_before", "login").rows() == [
        ("or--u3", f"ada{ZWSP}", "ada.l")
    ]


def test_a_delta_user_sharing_a_stored_login_but_for_an_invisible_character_is_refused():
    """A delta's users combine with those stored: a user sent as `sam.stone` + U+200B signs in
    as the stored `sam.stone` does."""
    combined = pl.DataFrame(
        {"sourcedId": ["u1", "u2", "u3"], "username": ["sam.stone", "kim.lee", f"sam.stone{ZWSP}"]}
    )
    sent = combined.filter(pl.col("sourcedId") == "u3").with_columns(
        status=pl.lit("active"), __line=pl.lit(2, pl.Int64)
    )
    found = stored_login_issues(combined, sent, "username").collect()
    assert found.select("line", "value", "rule").rows() == [
        (2, f"sam.stone{ZWSP}", "identity.login_duplicate")
    ]
    assert found["message"][0].endswith(
        "; one of them holds a character a screen does not show, which sign-in leaves out; "
        "fix it in the SIS, or send users.csv whole"
    )
    assert "Unicode NFD" not in found["message"][0]


@pytest.mark.parametrize(("sis", "by_hand"), [(f"ada.l{ZWSP}", "ada.l"), ("ada.l", "\ufeffAda.L")])
def test_an_account_made_by_hand_is_adopted_whichever_holds_the_character(sis, by_hand):
    record = {"external_id": "or--s1", "role": "student", "username": sis, "email": None}
    account = {"user_id": 7, "external_id": None, "role": "student", "username": by_hand}
    found = adoptions(
        pl.DataFrame(
            [record | {"login": "s1"}], schema=dict.fromkeys(record | {"login": 0}, pl.String)
        ),
        pl.DataFrame(
            [account | {"email": None, "login": "x"}],
            schema={"user_id": pl.Int64}
            | dict.fromkeys(["external_id", "role", "username", "email", "login"], pl.String),
        ),
        Identity(adopt_by="username"),
    )
    assert found.matches.select("user_id", "external_id").rows() == [(7, "or--s1")]


def test_accounts_in_the_warehouse_are_found_whichever_holds_the_character(tmp_path):
    """A login sent with a character a screen does not show finds the account of the login
    without it, and the other way round, both among the synced accounts (which DuckDB narrows
    before Polars compares them) and among those made by hand."""
    warehouse = Warehouse(tmp_path)
    connect(warehouse.path).close()
    for user_id, external_id, account_login in [
        (1, "or--u-1", "sam.stone"),
        (2, "or--u-2", f"kim{ZWSP}.lee"),
        (3, None, "sam.stone"),
        (4, None, f"kim{ZWSP}.lee"),
    ]:
        warehouse.execute(
            "insert into lms.users (user_id, tenant, external_id, role, login, status, origin) "
            "values (?, 'district', ?, 'student', ?, 'active', 'sync')",
            [user_id, external_id, account_login],
        )
    sent = pl.Series(["\u2060sam.stone", "KIM.LEE"])
    with connect(warehouse.path, read_only=True) as con:
        assert synced_logins(con, "district", sent)["user_id"].to_list() == [1, 2]
        assert hand_made_logins(con, "district", sent)["user_id"].to_list() == [3, 4]


BY_USERNAME = Settings(identity=Identity(key="username"))


def lms_logins(warehouse) -> dict[str, str]:
    with connect(warehouse, read_only=True) as con:
        return dict(con.sql("select external_id, login from lms.users order by all").fetchall())


def test_two_users_whose_logins_differ_by_an_invisible_character_are_refused(tmp_path):
    district = user_cell(tiny_district(), "u-s2", "username", f"sam.stone{ZWSP}")  # u-s1's
    warehouse = tmp_path / "w.duckdb"
    feed = write_feed(tmp_path / "f.zip", district)
    result = run_sync(feed, warehouse, BY_USERNAME, "north")
    assert result.outcome == "rejected"
    assert result.issues.filter(pl.col("severity") == "error").select("line", "value", "rule").sort(
        "line"
    ).rows() == [
        (4, "sam.stone", "identity.login_duplicate"),
        (5, f"sam.stone{ZWSP}", "identity.login_duplicate"),
    ]
    assert lms_logins(warehouse) == {}


def test_a_login_sent_with_an_invisible_character_is_no_login_change_to_hold(tmp_path):
    """Under `[safety] login_changes = "hold"` (the default) a run changing a login waits for a
    person; the login a user signs in with today, sent with a zero-width space, is not another
    login: the run is applied, stored as sent, with the warning naming the character."""
    district = tiny_district()
    warehouse = tmp_path / "w.duckdb"
    first = run_sync(write_feed(tmp_path / "1.zip", district), warehouse, BY_USERNAME, "north")
    assert first.outcome == "applied"
    sent = user_cell(district, "u-s1", "username", f"sam.stone{ZWSP}")
    result = run_sync(write_feed(tmp_path / "2.zip", sent), warehouse, BY_USERNAME, "north")
    assert result.outcome == "applied", result.message
    assert lms_logins(warehouse)["or--u-s1"] == f"sam.stone{ZWSP}"
    with connect(warehouse, read_only=True) as con:
        recorded = con.sql(
            "select rule, line, value from audit.issues where run_id = ? order by all",
            params=[result.run_id],
        ).fetchall()
    assert recorded == [("identity.login_invisible", 4, "sam.stone\\u200b")]
