"""The pre-screen flags every row pandera's model rejects (it may flag more, never fewer)."""

import pandera.polars as pa
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_series_equal

from rosterflow.schemas.models import Enrollments, LineItems, Orgs, Users
from rosterflow.schemas.models12 import Roles
from rosterflow.schemas.prescreen import suspect_rows
from rosterflow.schemas.spec import MODELS_BY_VERSION, SPECS_BY_VERSION, Column, FileSpec, Kind

# values that break, or nearly break, each kind of check; every column also gets the values
# of every other kind, and random text
_JUNK = ("", " ", "\t", "x", " x ", "a,b", ",", "a,,b", "{a:b}", "é", "\n", "null", "NULL")
_BY_KIND: dict[Kind, tuple[str, ...]] = {
    Kind.ID: ("u1", "u2", "007", "u1 "),
    Kind.REF: ("u1", "o1"),
    Kind.TEXT: ("Ana", "O'Neil, Jr."),
    Kind.DATE: (
        "2023-02-28",
        "2024-02-29",
        "2023-02-29",  # not a leap year
        "2023-02-30",
        "2023-2-3",
        "2023-13-01",
        "2023-00-10",
        "20230228",
        " 2023-02-28",
        "2023-02-28 ",
        "2023-02-28T00:00:00Z",
        "0000-01-01",
        "٢٠٢٣-٠٢-٢٨",  # digits, but not ASCII ones
    ),
    Kind.DATETIME: (
        "2023-02-28T10:00:00Z",
        "2023-02-28T10:00:00.123Z",
        "2023-02-28T10:00:00,5+01:00",
        "2023-02-28 10:00",
        "2023-02-28T10:00+0100",
        "2023-02-28",
        "2023-02-30T10:00:00Z",
        "2023-02-28T25:61:00Z",
        "2023-02-28T10",
        "2023-02-28T10:00:00z",
        "2023-02-28t10:00:00Z",
    ),
    Kind.YEAR: ("2023", "23", "20233", "２０２３", "2023 "),
    Kind.NUMBER: (
        "8",
        "8.5",
        "-0.5",
        "+3",
        ".5",
        "10.",
        "1.5e3",
        "1E-2",
        "8,5",
        "8.5.1",
        " 8",
        "8 ",
        "1_000",
        "NaN",
        "inf",
        "e3",
        ".",
        "-",
        "٣",  # a digit, but not an ASCII one
    ),
    Kind.LIST: ("a", "a,b", "a, b", " a", "a,", ",a", "a,,b", "a, ,b"),
    Kind.GRADES: ("09", "09,10", "KG", "K", "9", "09, 10", "Other"),
    Kind.REF_LIST: ("o1", "o1,o2", "o1,", "o1 o2"),
    Kind.USER_IDS: (
        "{LDAP:abc}",
        "{LDAP:abc},{SIS:1}",
        " {LDAP:abc} , {SIS:} ",
        "{LDAP}",
        "{:abc}",
        "LDAP:abc",
        "{LDAP:abc}{SIS:1}",
        "{LDAP:{abc}}",
    ),
}


def _column_values(column: Column) -> st.SearchStrategy[str | None]:
    words = list(column.values)
    if column.kind is Kind.STATUS:
        words.append("inactive")  # the 1.0 status, which the model admits
    near = [
        variant
        for word in words
        for variant in (word.upper(), word.capitalize(), f" {word}", f"{word} ", f"{word},{word}")
    ]
    ext = ["ext:Tutor", "ext:", "ext:a b", "EXT:Tutor", "ext:Tutor,ext:Aide"]
    others = sorted({value for values in _BY_KIND.values() for value in values})
    return st.one_of(
        st.none(),
        st.sampled_from([*words, *near, *ext, *_BY_KIND.get(column.kind, ())] or ["x"]),
        st.sampled_from([*_JUNK, *others]),
        st.text(max_size=6),
    )


_VALID: dict[Kind, str] = {
    Kind.TEXT: "Ana",
    Kind.REF: "o1",
    Kind.DATETIME: "2023-02-28T10:00:00.000Z",
    Kind.DATE: "2023-02-28",
    Kind.YEAR: "2023",
    Kind.NUMBER: "8.5",
    Kind.LIST: "a,b",
    Kind.GRADES: "09,10",
    Kind.REF_LIST: "o1,o2",
    Kind.USER_IDS: "{LDAP:a}",
}


def _valid(column: Column) -> st.SearchStrategy[str | None]:
    if column.kind is Kind.ID:
        valid = st.integers(0, 30).map("id{}".format)  # a repeat now and then
    elif column.values:
        valid = st.sampled_from(column.values)
    else:
        valid = st.just(_VALID[column.kind])
    return valid if column.required else st.one_of(st.none(), valid)


def rows_of(spec: FileSpec) -> st.SearchStrategy[pl.DataFrame]:
    """Up to 8 rows of a file: valid rows, each with up to two values replaced by one drawn
    for its column's kind (valid, near misses, other kinds' values, empty, null, random), so
    that rows pandera accepts, rows one check rejects and rows several reject all occur."""
    valid_row = st.fixed_dictionaries({c.name: _valid(c) for c in spec.columns})
    replaced = st.sampled_from(spec.columns).flatmap(
        lambda column: st.tuples(st.just(column.name), _column_values(column))
    )
    row = st.builds(
        lambda row, changes: row | dict(changes), valid_row, st.lists(replaced, max_size=2)
    )
    return st.lists(row, max_size=8).map(
        lambda rows: pl.DataFrame(rows, schema=dict.fromkeys(spec.header, pl.String))
    )


def rejected_rows(rows: pl.DataFrame, model: type[pa.DataFrameModel]) -> set[int]:
    """The row indices pandera reports failure cases for, as `validate.model_issues` reads
    them."""
    try:
        model.validate(rows, lazy=True)
    except pa.errors.SchemaErrors as errors:
        return set(errors.failure_cases["index"].drop_nulls().to_list())
    return set()


FILES = [(version, name) for version, models in MODELS_BY_VERSION.items() for name in models]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("version", "name"),
    # 0.5 s a file, so slow as a whole (the mark above covers 1.1's files too): the README's
    # command runs none of them, `pytest -m slow` (as CI runs it) every version's
    [(v, n) if v == "1.1" else pytest.param(v, n, marks=pytest.mark.slow) for v, n in FILES],
    ids=[f"{v}-{n}" for v, n in FILES],
)
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_row_pandera_rejects_is_suspect(version, name, data):
    spec = SPECS_BY_VERSION[version][name]
    model = MODELS_BY_VERSION[version][name]
    rows = data.draw(rows_of(spec), label="rows")
    suspect = suspect_rows(rows, model)
    assert suspect.len() == rows.height
    flagged = set(suspect.arg_true().to_list())
    assert rejected_rows(rows, model) <= flagged


def _users(**columns: list[str | None]) -> pl.DataFrame:
    """Valid 1.1 users, with the columns given replaced."""
    height = len(next(iter(columns.values()), [None, None]))
    valid = {
        "sourcedId": [f"u{i}" for i in range(height)],
        "status": [None] * height,
        "dateLastModified": [None] * height,
        "enabledUser": ["true"] * height,
        "orgSourcedIds": ["o1"] * height,
        "role": ["student"] * height,
        "username": [f"user{i}" for i in range(height)],
        "givenName": ["Ana"] * height,
        "familyName": ["Silva"] * height,
    }
    header = SPECS_BY_VERSION["1.1"]["users"].header
    data = {c: columns.get(c, valid.get(c, [None] * height)) for c in header}
    return pl.DataFrame(data, schema=dict.fromkeys(header, pl.String))


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (_users(role=["student", "teacher"]), [False, False]),
        (_users(role=["student", "Student"]), [False, True]),  # case: pandera's isin is exact
        (_users(role=["student", None]), [False, True]),  # required
        (_users(sourcedId=["u1", "u1", "u2"]), [True, True, False]),  # every copy of a repeat
        (_users(enabledUser=["true", "TRUE"]), [False, True]),
        (_users(dateLastModified=["2023-02-28T10:00:00Z", "2023-02-30"]), [False, True]),
        (_users(dateLastModified=["2023-02-28 10:00", "2023-2-3"]), [False, True]),
        (_users(grades=["09,10", "09,,10"]), [False, True]),
        (_users(userIds=["{LDAP:a}", "LDAP:a"]), [False, True]),
        (_users(orgSourcedIds=["o1, o2", ""]), [False, True]),  # an empty string is not null
        (_users(middleName=["", " "]), [False, False]),  # free text: never suspect
        # a null passes every check but `required`, whatever another row holds
        (_users(grades=["09,,10", None]), [True, False]),
        (_users(status=["Active", None]), [True, False]),
    ],
)
def test_suspect_rows_of_users(rows, expected):
    assert_series_equal(
        suspect_rows(rows, Users), pl.Series("suspect", expected), check_names=False
    )


def test_a_clean_file_has_no_suspect_row():
    rows = pl.DataFrame(
        {
            "sourcedId": ["e1", "e2"],
            "status": ["active", None],
            "dateLastModified": ["2023-02-28T10:00:00.000Z", None],
            "classSourcedId": ["c1", "c1"],
            "schoolSourcedId": ["s1", "s1"],
            "userSourcedId": ["u1", "u2"],
            "role": ["student", "teacher"],
            "primary": ["false", "true"],
            "beginDate": ["2023-08-01", None],
            "endDate": ["2024-06-30", None],
        }
    )
    assert suspect_rows(rows, Enrollments).to_list() == [False, False]
    assert rejected_rows(rows, Enrollments) == set()


def test_an_empty_file_has_no_suspect_row():
    rows = pl.DataFrame(schema=dict.fromkeys(SPECS_BY_VERSION["1.1"]["orgs"].header, pl.String))
    assert suspect_rows(rows, Orgs).len() == 0


@pytest.mark.parametrize(
    ("role", "suspect"),
    [("teacher", False), ("ext:Tutor", False), ("administrator", False), ("ext:", True)],
)
def test_a_1_2_extensible_enumeration_admits_ext_values(role, suspect):
    rows = pl.DataFrame(
        {
            "sourcedId": ["r1"],
            "status": [None],
            "dateLastModified": [None],
            "userSourcedId": ["u1"],
            "roleType": ["primary"],
            "role": [role],
            "beginDate": [None],
            "endDate": [None],
            "orgSourcedId": ["o1"],
            "userProfileSourcedId": [None],
        },
        schema=dict.fromkeys(SPECS_BY_VERSION["1.2"]["roles"].header, pl.String),
    )
    assert suspect_rows(rows, Roles).to_list() == [suspect]
    assert bool(rejected_rows(rows, Roles)) is suspect


@pytest.mark.parametrize(
    ("low", "high", "suspect"),
    [
        ("0", "10", False),
        ("-1.5", "1e2", False),
        (None, None, False),  # empty: the binding allows it
        ("0", "ten", True),
        ("8,5", "10", True),
        ("0", "NaN", True),
        ("0", " 10", True),
    ],
)
def test_a_number_is_suspect_exactly_when_pandera_rejects_it(low, high, suspect):
    header = SPECS_BY_VERSION["1.1"]["lineItems"].header
    row = dict.fromkeys(header) | {
        "sourcedId": "li1",
        "title": "HW",
        "assignDate": "2026-09-01",
        "dueDate": "2026-09-30",
        "classSourcedId": "k1",
        "categorySourcedId": "c1",
        "gradingPeriodSourcedId": "t1",
        "resultValueMin": low,
        "resultValueMax": high,
    }
    rows = pl.DataFrame([row], schema=dict.fromkeys(header, pl.String))
    assert suspect_rows(rows, LineItems).to_list() == [suspect]
    assert bool(rejected_rows(rows, LineItems)) is suspect
