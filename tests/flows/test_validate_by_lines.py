"""`rosterflow validate FEED --warehouse W` reads users.csv and enrollments.csv by their changed
lines (`schemas.by_lines`, `schemas.validate.validate_by_lines`): its issues must be those of
validating every record of the feed against the tenant's records, whatever changed, broke or
repeated, on the same lines.

A generated district is synced (which stores each record's line key), then changed at random
(tests/changes.py) and damaged at random, in the values of changed lines and in the bytes of
the files (repeated lines and sourcedIds, blank lines, values over two lines, removals, a
header in another case). The oracle validates the same feed record by record.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from rosterflow.demo.district import generate_feed
from rosterflow.flows.commands import validate
from rosterflow.flows.pipeline import Steps, run_steps
from rosterflow.schemas import validate as validate_module
from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.settings import Identity, Settings
from rosterflow.schemas.validate import validate_feed
from rosterflow.schemas.writer import write_feed
from rosterflow.warehouse.state import known_ids
from tests.changes import change
from tests.feeds import feed_files, tiny_district, with_cell, write_zip
from tests.spying import answered_by_lines as spied_answers

TENANT = "district"
_feeds = itertools.count(1)


def sync(warehouse: Path, feed: Path, config: Settings) -> str:
    return run_steps(Steps(), feed, warehouse, config, TENANT).outcome


def write_settings(folder: Path, config: Settings) -> Path:
    path = folder / f"rosterflow-{next(_feeds)}.toml"
    path.write_text(f'[identity]\nkey = "{config.identity.key}"\n')
    return path


@pytest.fixture
def answered_by_lines(monkeypatch) -> list[bool]:
    """Whether each validation with a warehouse was answered by lines."""
    return spied_answers(monkeypatch, validate_module)


def assert_validated_as_every_record(feed: Path, warehouse: Path, config: Settings) -> None:
    _, ours = validate(feed, write_settings(feed.parent, config), warehouse, TENANT)
    oracle = validate_feed(open_feed(feed), config, known_ids(warehouse, TENANT))
    assert_frame_equal(ours.issues.sort(pl.all()), oracle.issues.sort(pl.all()))


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


# damage done to the bytes of users.csv or enrollments.csv: (name, needs the whole parse)
def repeat_line(data: bytes, at: int) -> bytes:
    lines = _lines(data)
    return b"\n".join([*lines[: at + 1], lines[at], *lines[at + 1 :]])


def repeat_sourced_id(data: bytes, at: int) -> bytes:
    """A new line stating a kept record's sourcedId with other fields."""
    lines = _lines(data)
    first, _, rest = lines[at].partition(b",")
    return b"\n".join([*lines, first + b"," + rest.replace(b",", b",x", 1)])


def blank_line(data: bytes, at: int) -> bytes:
    lines = _lines(data)
    return b"\n".join([*lines[:at], b"", *lines[at:]])


def value_over_two_lines(data: bytes, at: int) -> bytes:
    lines = _lines(data)
    first, _, rest = lines[at].partition(b",")
    return b"\n".join(
        [*lines[:at], first + b',"two\nlines",' + rest.partition(b",")[2], *lines[at + 1 :]]
    )


def removal(data: bytes, at: int) -> bytes:
    """The record of a line marked tobedeleted (its status is the second column)."""
    lines = _lines(data)
    first, _, rest = lines[at].partition(b",")
    return b"\n".join(
        [*lines[:at], first + b",tobedeleted," + rest.partition(b",")[2], *lines[at + 1 :]]
    )


def header_case(data: bytes, at: int) -> bytes:
    return b"S" + data[1:]  # sourcedId -> SourcedId


def ragged_line(data: bytes, at: int) -> bytes:
    """A comma after a line's last value: its record unread, yet in the file."""
    lines = _lines(data)
    return b"\n".join([*lines[:at], lines[at] + b",", *lines[at + 1 :]])


DAMAGE = (
    repeat_line,
    repeat_sourced_id,
    blank_line,
    value_over_two_lines,
    removal,
    header_case,
    ragged_line,
)
# damage to values: (file, column, value)
BROKEN_VALUES = (
    ("users", "role", "Teecher"),  # not a role: an error
    ("users", "role", "Teacher"),  # read as teacher, with a warning
    ("users", "email", None),  # a teacher without an email: a warning
    ("users", "orgSourcedIds", "nowhere"),  # a reference to no org
    ("users", "username", None),  # no login under [identity] key = "username"
    ("enrollments", "userSourcedId", "nobody"),  # a reference to no user
    ("enrollments", "primary", "TRUE"),  # read as true, with a warning
    ("enrollments", "primary", "true"),  # perhaps a second primary teacher of a class
    ("enrollments", "endDate", "2001-01-01"),  # ends before it starts
)


@pytest.mark.slow
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    students=st.integers(10, 40),
    seed=st.integers(0, 50),
    key=st.sampled_from(["sourcedId", "username"]),
    data=st.data(),
)
def test_validating_by_lines_finds_what_validating_every_record_finds(
    tmp_path_factory, answered_by_lines, students, seed, key, data
):
    answered_by_lines.clear()  # (the fixture outlives each example)
    folder = tmp_path_factory.mktemp("by-lines")
    warehouse = folder / "w.duckdb"
    config = Settings(identity=Identity(key=key))
    district = generate_feed(students, seed=seed)
    if data.draw(st.booleans(), label="a warning on the first run"):
        teachers = district["users"].with_row_index().filter(pl.col("role") == "teacher")
        district = with_cell(district, "users", teachers["index"][0], "email", None)
    assert sync(warehouse, write_feed(folder / "a.zip", district), config) == "applied"

    changed, _, _ = change(district, data, data.draw(st.integers(0, 3), label="changes"))
    for _ in range(data.draw(st.integers(0, 2), label="broken values")):
        name, column, value = data.draw(st.sampled_from(BROKEN_VALUES), label="broken")
        row = data.draw(st.integers(0, changed[name].height - 1), label="row")
        changed = with_cell(changed, name, row, column, value)
    files = feed_files(changed)
    damaged = data.draw(st.lists(st.sampled_from(DAMAGE), max_size=2), label="damage")
    for damage in damaged:
        name = data.draw(st.sampled_from(["users.csv", "enrollments.csv"]), label="file")
        lines = files[name].count(b"\n")
        files[name] = damage(files[name], data.draw(st.integers(1, lines - 1), label="line"))
    feed = write_zip(folder / f"b-{next(_feeds)}.zip", files)

    assert_validated_as_every_record(feed, warehouse, config)
    if not damaged:  # nothing for the whole parse to settle (none asked: the same lines)
        assert answered_by_lines in ([True], [])


def test_a_changed_feed_is_validated_from_its_changed_lines(tmp_path, answered_by_lines):
    district = generate_feed(30, seed=2)
    warehouse = tmp_path / "w.duckdb"
    sync(warehouse, write_feed(tmp_path / "a.zip", district), Settings())
    changed = with_cell(district, "users", 3, "givenName", "Renamed")
    changed = changed | {"enrollments": changed["enrollments"].slice(2)}

    assert_validated_as_every_record(write_feed(tmp_path / "b.zip", changed), warehouse, Settings())

    assert answered_by_lines == [True]


@pytest.mark.parametrize("name", ["academicSessions.csv", "users.csv"])
def test_a_ragged_record_others_point_at_is_answered_as_every_record(tmp_path, name):
    """Unread, the record is in the file: the references to it resolve whether its file is
    compared with the stored records (the stored one looked gone) or read whole."""
    district = generate_feed(20, seed=5)
    warehouse = tmp_path / "w.duckdb"
    sync(warehouse, write_feed(tmp_path / "a.zip", district), Settings())
    files = feed_files(district)
    files[name] = ragged_line(files[name], 1)
    feed = write_zip(tmp_path / "b.zip", files)

    _, ours = validate(feed, None, warehouse, TENANT)

    assert ours.issues.select("file", "line", "rule").rows() == [(name, 2, "file.ragged")]
    assert_validated_as_every_record(feed, warehouse, Settings())


def test_an_issue_on_a_kept_line_is_placed_on_its_line(tmp_path, answered_by_lines):
    """A kept enrollment pointing at a user the feed removes is reported on its own line."""
    district = generate_feed(20, seed=5)
    warehouse = tmp_path / "w.duckdb"
    sync(warehouse, write_feed(tmp_path / "a.zip", district), Settings())
    student = district["enrollments"].filter(pl.col("role") == "student")["userSourcedId"][0]
    files = feed_files(district)
    users = files["users.csv"].split(b"\n")
    at = next(i for i, line in enumerate(users) if line.startswith(student.encode() + b","))
    files["users.csv"] = b"\n".join([*users[:at], *users[at + 1 :]])
    feed = write_zip(tmp_path / "b.zip", files)

    _, ours = validate(feed, None, warehouse, TENANT)

    assert answered_by_lines == [True]
    dangling = ours.issues.filter(
        pl.col("file") == "enrollments.csv",
        pl.col("rule") == "reference",
        pl.col("value") == student,
    )
    lines = files["enrollments.csv"].split(b"\n")
    expected = [i + 1 for i, line in enumerate(lines) if b"," + student.encode() + b"," in line]
    assert sorted(dangling["line"].to_list()) == expected and expected
    assert_validated_as_every_record(feed, warehouse, Settings())


def test_other_settings_validate_every_record(tmp_path, answered_by_lines):
    district = generate_feed(20, seed=1)
    warehouse = tmp_path / "w.duckdb"
    sync(warehouse, write_feed(tmp_path / "a.zip", district), Settings())
    feed = write_feed(tmp_path / "b.zip", with_cell(district, "users", 2, "givenName", "Other"))

    assert_validated_as_every_record(feed, warehouse, Settings(identity=Identity(key="email")))

    assert answered_by_lines == []  # (the last run's settings were other: not even tried)


def test_records_stored_without_line_keys_validate_every_record(
    tmp_path, monkeypatch, answered_by_lines
):
    """A warehouse a rosterflow that kept no line keys wrote: no line is vouched for."""
    from rosterflow.flows import steps

    district = generate_feed(20, seed=3)
    warehouse = tmp_path / "w.duckdb"
    with monkeypatch.context() as keyless:
        keyless.setattr(steps, "with_line_keys", lambda records, *args: dict(records))
        sync(warehouse, write_feed(tmp_path / "a.zip", district), Settings())
    feed = write_feed(tmp_path / "b.zip", with_cell(district, "users", 2, "givenName", "Other"))

    assert_validated_as_every_record(feed, warehouse, Settings())

    assert answered_by_lines == [False]


def test_the_stored_records_are_read_only_for_a_feed_whose_lines_changed(tmp_path, monkeypatch):
    """A feed of the last run's lines in another order is answered from that run without the
    stored records; a feed of another size has them read while its files are."""
    from rosterflow.flows import steps

    district = generate_feed(20, seed=4)
    warehouse = tmp_path / "w.duckdb"
    sync(warehouse, write_feed(tmp_path / "a.zip", district), Settings())
    read = []
    stored_records = steps.stored_records_by_lines
    monkeypatch.setattr(
        steps, "stored_records_by_lines", lambda *args: read.append(1) or stored_records(*args)
    )
    reordered = write_feed(tmp_path / "b.zip", {n: f.reverse() for n, f in district.items()})
    changed = write_feed(tmp_path / "c.zip", with_cell(district, "users", 4, "givenName", "Al"))

    validate(reordered, None, warehouse, TENANT)
    assert read == []
    assert_validated_as_every_record(changed, warehouse, Settings())
    assert read == [1]


@pytest.fixture
def stored_records_read_slowly(monkeypatch):
    """The stored records read after a query that runs until it is interrupted, as a big
    tenant's read still runs when a feed's lines have answered."""
    import rosterflow.flows.steps as steps_module

    reading = steps_module.stored_records_by_lines

    def slowly(cursor, *arguments, **options):
        cursor.execute("select count(*) from range(10000000000)").fetchall()
        return reading(cursor, *arguments, **options)

    monkeypatch.setattr(steps_module, "stored_records_by_lines", slowly)


def test_a_feed_saved_again_with_crlf_is_answered_by_its_lines_while_the_records_are_read(
    tmp_path, stored_records_read_slowly
):
    """Another size than the last run's starts the stored records' read at once; the same lines
    then answer without it, and the warehouse closes only once the read is stopped (DuckDB
    refused to close a connection whose cursor still read: a traceback, or a failed sync)."""
    warehouse = tmp_path / "w.duckdb"
    frames = tiny_district()
    assert sync(warehouse, write_feed(tmp_path / "north.zip", frames), Settings()) == "applied"
    files = {name: data.replace(b"\n", b"\r\n") for name, data in feed_files(frames).items()}
    resaved = write_zip(tmp_path / "north-crlf.zip", files)

    _, validated = validate(resaved, None, warehouse, TENANT)
    assert validated.ok and validated.issues.height == 0

    result = sync(warehouse, resaved, Settings())
    assert result == "applied"
    # the file is whole and free: the next sync opens it
    assert sync(warehouse, resaved, Settings()) == "applied"
