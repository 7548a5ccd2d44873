"""The checks across rows that a run by changed lines (`schemas.by_lines`) runs on those lines
alone, and on the kept records sharing a value with them (`schemas.references`: a teacher
without an email, an enrollment that ends before it starts, a class's primary teachers, the
references of records as stored to records that go; `schemas.identity`: a login empty or
shared), find what the same checks find over every record of the whole feed.

That rests on what the warehouse kept: a kept record's line had no issue in the run that
stored it. So the oracle is a history of real syncs, each changing a few lines so that such
issues come, stay on lines no later run changes, and go, and each compared with the whole
feed validated without a warehouse: the sync's own validation (the kept records with every
field, on their lines) and `rosterflow validate --warehouse` (the kept fields, placed on their
lines after the checks).
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
from rosterflow.flows import steps
from rosterflow.flows.commands import validate
from rosterflow.flows.pipeline import Steps, run_steps
from rosterflow.schemas import validate as validate_module
from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.settings import Identity, Safety, Settings
from rosterflow.schemas.validate import validate_feed
from rosterflow.schemas.writer import write_feed
from tests.feeds import with_cell

TENANT = "district"
_feeds = itertools.count(1)
RESTRICTED_RULES = {"teacher.no_email", "date.order", "enrollment.primary"}


def sync(warehouse: Path, feed: Path, key: str = "sourcedId"):
    # (a user's login changed is applied with a warning, not held: the next run stands on it)
    config = Settings(identity=Identity(key=key), safety=Safety(login_changes="warn"))
    return run_steps(Steps(), feed, warehouse, config, TENANT)


def sorted_issues(issues: pl.DataFrame) -> pl.DataFrame:
    return issues.sort(pl.all())


class ByLines:
    """Records what each `validate_by_lines` of a sync and of `validate --warehouse` answered
    (None: the stored records could not stand in, and the feed was validated whole)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answers: dict[bool, object] = {}
        original = validate_module.validate_by_lines

        def recorded(feed, settings, stored, in_place=False):
            answer = original(feed, settings, stored, in_place)
            self.answers[in_place] = answer
            return answer

        monkeypatch.setattr(validate_module, "validate_by_lines", recorded)
        monkeypatch.setattr(steps, "validate_by_lines", recorded)


def resync_and_compare(
    folder: Path, warehouse: Path, frames, by_lines: ByLines, key: str = "sourcedId"
) -> pl.DataFrame:
    """Validate `frames` with the warehouse, then sync them into it, each by changed lines,
    users signing in with `key`; both find the issues of the whole feed validated alone,
    which are returned (the sync is applied unless they hold an error)."""
    feed = write_feed(folder / f"feed-{next(_feeds)}.zip", frames)
    config = folder / "rosterflow.toml"
    config.write_text(f'[identity]\nkey = "{key}"\n')
    settings = Settings(identity=Identity(key=key))
    every_record = sorted_issues(validate_feed(open_feed(feed), settings).issues)
    by_lines.answers.clear()

    _, checked = validate(feed, config, warehouse, TENANT)
    result = sync(warehouse, feed, key)

    errors = every_record.filter(pl.col("severity") == "error")
    assert (result.outcome == "applied") == (errors.height == 0), (result.outcome, errors)
    assert by_lines.answers.get(False) is not None  # (validate --warehouse: kept fields)
    assert by_lines.answers.get(True) is not None  # (the sync: every field, in place)
    assert_frame_equal(sorted_issues(checked.issues), every_record)
    assert_frame_equal(sorted_issues(by_lines.answers[True].issues), every_record)
    return every_record


def teacher_rows(frame: pl.DataFrame) -> list[int]:
    return frame.with_row_index().filter(pl.col("role") == "teacher")["index"].to_list()


def edited(frames, data: st.DataObject) -> dict[str, pl.DataFrame]:
    """`frames` with one cell changed where the restricted checks look: a teacher's email; a
    teacher enrollment made primary or not, or moved to one of a few classes (two primary
    teachers of one class, or no longer); an enrollment's end before its start, or not; an
    enrollment's role; an enrollment, or a student whose enrollments stay, marked
    tobedeleted, or no longer; a username (a login under `[identity] key = "username"`) made
    empty, another's in capitals, or one of its own."""
    enrollments = frames["enrollments"]
    kinds = ["email", "primary", "class", "end", "role", "removal", "student removal", "login"]
    kind = data.draw(st.sampled_from(kinds), label="edit")
    if kind == "login":
        usernames = frames["users"]["username"]
        row, other = (data.draw(st.integers(0, 5), label=said) for said in ("user", "other"))
        taken = usernames[other]  # (none when an earlier edit emptied it)
        choices = [None, f"own.login.{row}", *([taken.upper()] if taken else [])]
        username = data.draw(st.sampled_from(choices), label="username")
        return with_cell(frames, "users", row, "username", username)
    if kind == "student removal":  # (the kept enrollments of the student point at a removal)
        students = frames["users"].with_row_index().filter(pl.col("role") == "student")
        row = data.draw(st.sampled_from(students["index"].head(3).to_list()), label="student")
        status = data.draw(st.sampled_from(["tobedeleted", None]), label="status")
        return with_cell(frames, "users", row, "status", status)
    if kind == "email":
        row = data.draw(st.sampled_from(teacher_rows(frames["users"])), label="teacher")
        email = data.draw(st.sampled_from([None, f"teacher{row}@example.org"]), label="email")
        return with_cell(frames, "users", row, "email", email)
    teaching = teacher_rows(enrollments)
    if kind == "primary":
        row = data.draw(st.sampled_from(teaching), label="teacher enrollment")
        primary = data.draw(st.sampled_from(["true", "false"]), label="primary")
        return with_cell(frames, "enrollments", row, "primary", primary)
    if kind == "class":
        row = data.draw(st.sampled_from(teaching), label="teacher enrollment")
        classes = frames["classes"]["sourcedId"].head(4).to_list()
        moved_to = data.draw(st.sampled_from(classes), label="class")
        return with_cell(frames, "enrollments", row, "classSourcedId", moved_to)
    row = data.draw(st.integers(0, 11), label="enrollment")
    if kind == "removal":
        status = data.draw(st.sampled_from(["tobedeleted", None]), label="status")
        return with_cell(frames, "enrollments", row, "status", status)
    if kind == "end":
        end = data.draw(st.sampled_from(["2025-01-05", "2026-12-18"]), label="end")
        return with_cell(frames, "enrollments", row, "endDate", end)
    role = data.draw(st.sampled_from(["teacher", "student"]), label="role")
    return with_cell(frames, "enrollments", row, "role", role)


@pytest.mark.slow
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 50), key=st.sampled_from(["sourcedId", "username"]), data=st.data())
def test_the_checks_of_changed_lines_find_what_the_whole_feed_holds_run_after_run(
    tmp_path_factory, seed, key, data
):
    folder = tmp_path_factory.mktemp("checks")
    warehouse = folder / "w.duckdb"
    frames = generate_feed(30, seed=seed)
    assert sync(warehouse, write_feed(folder / "first.zip", frames), key).outcome == "applied"
    with pytest.MonkeyPatch.context() as monkeypatch:
        by_lines = ByLines(monkeypatch)
        for run in range(3):
            before = frames
            for _ in range(data.draw(st.integers(1, 4), label=f"edits of run {run}")):
                frames = edited(frames, data)
            if all(frames[name].equals(before[name]) for name in frames):
                # edits that undid one another: a line must change for a run by changed lines
                frames = with_cell(frames, "enrollments", 20, "beginDate", f"2026-08-{16 + run}")
            resync_and_compare(folder, warehouse, frames, by_lines, key)


@pytest.mark.slow  # (over 2 s of 2 cores; the login test below checks the narrowed checks)
def test_primary_teachers_shared_by_a_kept_line_are_found_until_a_changed_line_parts_them(
    tmp_path, monkeypatch
):
    """A class's second primary teacher comes on a changed line, while the first stays on a
    line no run changes (its record keeps the line key of the run before the two met); the
    next runs change other lines, then part the two. Each run finds both warnings exactly as
    long as the whole feed holds them, with the teacher without an email and the enrollment
    that ends before it starts, which come and go likewise."""
    by_lines = ByLines(monkeypatch)
    warehouse = tmp_path / "w.duckdb"
    frames = generate_feed(30, seed=3)
    sync(warehouse, write_feed(tmp_path / "first.zip", frames))
    enrollments = frames["enrollments"]
    first, second = teacher_rows(enrollments)[:2]
    shared_class = enrollments["classSourcedId"][first]
    teacher = teacher_rows(frames["users"])[0]

    # the second teacher enrollment joins the first's class as its primary teacher
    frames = with_cell(frames, "enrollments", second, "classSourcedId", shared_class)
    frames = with_cell(frames, "enrollments", second, "primary", "true")
    met = resync_and_compare(tmp_path, warehouse, frames, by_lines)
    assert met.filter(pl.col("rule") == "enrollment.primary")["line"].sort().to_list() == [
        first + 2,
        second + 2,
    ]
    # other lines change: the first's line is kept, the two still share the class
    frames = with_cell(frames, "users", teacher, "email", None)
    frames = with_cell(frames, "enrollments", 30, "endDate", "2025-01-05")
    kept = resync_and_compare(tmp_path, warehouse, frames, by_lines)
    assert set(kept["rule"]) >= RESTRICTED_RULES
    assert kept.filter(pl.col("rule") == "enrollment.primary").height == 2
    # the second is no longer primary, the teacher has an email again, the dates are right
    frames = with_cell(frames, "enrollments", second, "primary", "false")
    frames = with_cell(frames, "users", teacher, "email", "teacher@example.org")
    frames = with_cell(frames, "enrollments", 30, "endDate", "2026-12-18")
    parted = resync_and_compare(tmp_path, warehouse, frames, by_lines)
    assert not set(parted["rule"]) & RESTRICTED_RULES


def test_a_login_shared_with_a_kept_line_is_found_on_both_until_the_changed_line_parts_them(
    tmp_path, monkeypatch
):
    """Under `[identity] key = "username"`, a changed line's user takes the login of a user on
    a line no run changes (in capitals: sign-in ignores letter case), and another's login is
    made empty: each run by changed lines finds the errors the whole feed holds, on both
    users sharing the login, and none once the changed line has a login of its own."""
    by_lines = ByLines(monkeypatch)
    warehouse = tmp_path / "w.duckdb"
    frames = generate_feed(30, seed=5)
    sync(warehouse, write_feed(tmp_path / "first.zip", frames), "username")
    usernames = frames["users"]["username"]

    frames = with_cell(frames, "users", 0, "username", usernames[3].upper())
    frames = with_cell(frames, "users", 1, "username", None)
    shared = resync_and_compare(tmp_path, warehouse, frames, by_lines, "username")
    assert sorted(shared.select("line", "rule").rows()) == [
        (2, "identity.login_duplicate"),
        (3, "identity.login_missing"),
        (3, "required"),  # (users.csv's username is required too)
        (5, "identity.login_duplicate"),
    ]
    frames = with_cell(frames, "users", 0, "username", "own.login")
    frames = with_cell(frames, "users", 1, "username", usernames[1])
    parted = resync_and_compare(tmp_path, warehouse, frames, by_lines, "username")
    assert not parted.filter(pl.col("rule").str.starts_with("identity.")).height
