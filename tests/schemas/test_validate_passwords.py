"""users.csv's password is never stored (`schemas.records`), and no issue shows it either: the
issues go to `audit.issues`, the reports, the inbox's report and the notifications."""

import polars as pl
import pytest

from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.validate import PASSWORD_HIDDEN, validate_feed
from tests.feeds import feed_files, tiny_district, with_cell, write_zip
from tests.feeds12 import as_v12, write_feed_12

SECRET = "Hunter2secret"


def users_line(files: dict[str, bytes], line: int, edit) -> dict[str, bytes]:
    lines = files["users.csv"].split(b"\n")
    lines[line - 1] = edit(lines[line - 1])
    return files | {"users.csv": b"\n".join(lines)}


@pytest.mark.parametrize(
    ("line", "edit", "rule", "value"),
    [
        (2, lambda line: line + SECRET.encode() + b"\x01", "value.control", PASSWORD_HIDDEN),
        (2, lambda line: line + SECRET.encode() + b",extra", "file.ragged", "u-t1,…"),
        (2, lambda line: line + b'"' + SECRET.encode() + b'"x', "value.quote", PASSWORD_HIDDEN),
        # (the last line: a later quote would close it)
        (6, lambda line: line + b'"' + SECRET.encode(), "file.quote", PASSWORD_HIDDEN),
        (
            6,
            lambda line: line.replace(b",pat.stone@", b',"pat.stone@') + SECRET.encode(),
            "file.quote",
            '"pat.stone@example.org,…',
        ),
    ],
    ids=["control character", "ragged", "quoted amiss", "quote left open", "quote open before"],
)
def test_no_issue_shows_a_password(tmp_path, line, edit, rule, value):
    files = users_line(feed_files(tiny_district()), line, edit)

    issues = validate_feed(open_feed(write_zip(tmp_path / "feed.zip", files))).issues

    shown = issues.select(pl.concat_str(pl.all().cast(pl.String), separator="|", ignore_nulls=True))
    assert not shown.to_series().str.contains(SECRET[:6], literal=True).any(), issues.to_dicts()
    on_line = issues.filter(pl.col("file") == "users.csv", pl.col("line") == line)
    assert on_line.select("rule", "value").rows() == [(rule, value)]


def test_a_1_2_feed_s_passwords_are_not_shown_either(tmp_path):
    frames = as_v12(with_cell(tiny_district(), "users", 0, "password", f"{SECRET}\x07"))

    issues = validate_feed(open_feed(write_feed_12(tmp_path / "feed.zip", frames))).issues

    passwords = issues.filter(pl.col("field") == "password")
    assert passwords.select("rule", "value").rows() == [("value.control", PASSWORD_HIDDEN)]


def test_other_files_values_are_shown_as_they_are(tmp_path):
    district = with_cell(tiny_district(), "classes", 0, "title", "Algebra\x01")

    issues = validate_feed(open_feed(write_zip(tmp_path / "feed.zip", feed_files(district))))

    assert issues.issues.select("file", "value").rows() == [("classes.csv", "Algebra\\x01")]
