"""A file a quote left open is cut short: the parse reads its records up to the quote, and the
rest of the file is one value (`file.quote`). A record missing from it is then no finding: the
references into it and the classes its teachers would teach are not reported, where one quote
in orgs.csv gave an error for every record of every file pointing at a school past it.

A ragged record (`file.ragged`: more or fewer values than the header) is left unread too, but
it is in the file: a reference to its sourcedId resolves, and the file is not empty, where an
exporter's comma after every record of users.csv had the file "a header and no records" and
each enrollment of its users an error of its own."""

from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.validate import validate_feed
from tests.feeds import feed_files, tiny_district, with_cell, write_zip


def cut_short(files: dict[str, bytes], name: str, line: int) -> dict[str, bytes]:
    """`files` with a quote opened in the second value of `name`'s `line` (1: the header)."""
    lines = files[name].split(b"\n")
    first, rest = lines[line - 1].split(b",", 1)
    lines[line - 1] = first + b',"' + rest
    return files | {name: b"\n".join(lines)}


def rules(tmp_path, files: dict[str, bytes]) -> list[tuple]:
    issues = validate_feed(open_feed(write_zip(tmp_path / "feed.zip", files))).issues
    return issues.select("file", "line", "rule").rows()


def test_an_open_quote_in_orgs_is_one_error_not_one_per_reference_past_it(tmp_path):
    files = cut_short(feed_files(tiny_district()), "orgs.csv", 3)

    assert rules(tmp_path, files) == [("orgs.csv", 3, "file.quote")]


def test_references_from_a_file_cut_short_are_still_checked(tmp_path):
    # e2's student is nobody, on a line before the quote left open on e4's line
    district = with_cell(tiny_district(), "enrollments", 1, "userSourcedId", "nobody")
    files = cut_short(feed_files(district), "enrollments.csv", 5)

    assert rules(tmp_path, files) == [
        ("enrollments.csv", 3, "reference"),
        ("enrollments.csv", 5, "file.quote"),
    ]


def test_classes_are_not_untaught_by_an_enrollments_file_cut_short(tmp_path):
    # k2's and k3's teachers are past the quote left open on e2's line
    files = cut_short(feed_files(tiny_district()), "enrollments.csv", 3)

    assert rules(tmp_path, files) == [("enrollments.csv", 3, "file.quote")]


def ragged(files: dict[str, bytes], name: str, lines: slice) -> dict[str, bytes]:
    """`files` with a comma after the records of `name` on `lines` (0: the header)."""
    rows = files[name].rstrip(b"\n").split(b"\n")
    rows[lines] = [row + b"," for row in rows[lines]]
    return files | {name: b"\n".join(rows) + b"\n"}


def test_a_comma_after_every_user_is_one_error_per_user_and_nothing_else(tmp_path):
    files = ragged(feed_files(tiny_district()), "users.csv", slice(1, None))

    assert rules(tmp_path, files) == [("users.csv", line, "file.ragged") for line in range(2, 7)]


def test_references_to_a_ragged_record_resolve_and_others_are_still_checked(tmp_path):
    # u-s2's line (quoted orgs: the csv module reads it) and u-t2's are ragged; e2's student
    # is nobody
    district = with_cell(tiny_district(), "enrollments", 1, "userSourcedId", "nobody")
    files = ragged(feed_files(district), "users.csv", slice(2, 5, 2))

    assert rules(tmp_path, files) == [
        ("enrollments.csv", 3, "reference"),
        ("users.csv", 3, "file.ragged"),
        ("users.csv", 5, "file.ragged"),
    ]


def test_classes_are_not_untaught_by_a_ragged_teacher_enrollment(tmp_path):
    files = ragged(feed_files(tiny_district()), "enrollments.csv", slice(1, 2))

    assert rules(tmp_path, files) == [("enrollments.csv", 2, "file.ragged")]
