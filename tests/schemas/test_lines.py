"""A file's lines: their hashes, the summary that tells the same lines in another order, and
where marked lines went."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from rosterflow.schemas.lines import line_hashes, marks_of, moved_lines, summary

FILE = b'sourcedId,name\nu1,Ada\nu2,"Lovelace, A"\nu3,Grace\n'


def lines_of(*lines: str) -> bytes:
    return "".join(f"{line}\n" for line in lines).encode()


def test_each_physical_line_is_hashed_in_file_order():
    hashes = line_hashes(FILE)
    assert hashes.dtype == pl.UInt64 and hashes.len() == 4
    assert hashes.n_unique() == 4
    # the same line hashes alike wherever it stands
    assert line_hashes(lines_of("u3,Grace", "sourcedId,name"))[0] == hashes[3]


def test_a_line_end_is_lf_or_crlf_and_a_last_line_needs_none():
    assert line_hashes(FILE).equals(line_hashes(FILE.replace(b"\n", b"\r\n")))
    assert line_hashes(FILE).equals(line_hashes(FILE.rstrip(b"\n")))


def test_a_blank_line_is_a_line():
    assert line_hashes(b"h\na\n\nb\n").len() == 4


@pytest.mark.parametrize("data", [b"h\na\x1fb\n", b"h\n\xff\xfe\n"])
def test_bytes_that_are_no_text_lines_have_no_hashes(data):
    assert line_hashes(data) is None


def test_the_same_lines_in_another_order_have_the_same_summary():
    reordered = lines_of("sourcedId,name", "u3,Grace", 'u2,"Lovelace, A"', "u1,Ada")
    assert summary(line_hashes(reordered)) == summary(line_hashes(FILE))


@pytest.mark.parametrize(
    "other",
    [
        lines_of("sourcedId,name", "u1,Ada", 'u2,"Lovelace, A"'),  # a line fewer
        lines_of("sourcedId,name", "u1,Ada", 'u2,"Lovelace, A"', "u3,Grace", "u3,Grace"),
        lines_of("sourcedId,name", "u1,Ada", 'u2,"Lovelace, A"', "u3,Grace "),  # one edited
        lines_of("u1,Ada", "sourcedId,name", 'u2,"Lovelace, A"', "u3,Grace"),  # header moved
        lines_of("sourcedId,name", "u1,Ada", "u1,Ada", "u3,Grace"),  # one line for another
    ],
)
def test_other_lines_have_another_summary(other):
    assert summary(line_hashes(other)) != summary(line_hashes(FILE))


def test_marks_hold_each_wanted_line_with_its_hash():
    hashes = line_hashes(FILE)
    wanted = pl.DataFrame({"line": [3, 2], "ordered": [False, True]})
    assert_frame_equal(
        marks_of(hashes, wanted),
        pl.DataFrame(
            {"line": [3, 2], "hash": [hashes[2], hashes[1]], "ordered": [False, True]},
            schema={"line": pl.Int64, "hash": pl.UInt64, "ordered": pl.Boolean},
        ),
    )


def test_a_line_that_is_not_unique_or_not_there_cannot_be_marked():
    hashes = line_hashes(lines_of("h", "a", "a", "b"))
    assert marks_of(hashes, pl.DataFrame({"line": [2], "ordered": [False]})) is None
    assert marks_of(hashes, pl.DataFrame({"line": [9], "ordered": [False]})) is None
    assert marks_of(hashes, pl.DataFrame({"line": [4], "ordered": [False]})) is not None


def test_marked_lines_are_found_where_they_moved():
    marks = marks_of(line_hashes(FILE), pl.DataFrame({"line": [2, 4], "ordered": [False, False]}))
    reordered = line_hashes(lines_of("sourcedId,name", "u3,Grace", 'u2,"Lovelace, A"', "u1,Ada"))
    moved = moved_lines(reordered, marks)
    assert dict(moved.select("line", "new_line").iter_rows()) == {2: 4, 4: 2}


def test_ordered_lines_must_keep_their_order():
    marks = marks_of(line_hashes(FILE), pl.DataFrame({"line": [2, 3], "ordered": [True, True]}))
    kept = line_hashes(lines_of("sourcedId,name", "u3,Grace", "u1,Ada", 'u2,"Lovelace, A"'))
    swapped = line_hashes(lines_of("sourcedId,name", 'u2,"Lovelace, A"', "u1,Ada", "u3,Grace"))
    assert moved_lines(kept, marks) is not None
    assert moved_lines(swapped, marks) is None


def test_a_marked_line_that_is_gone_is_not_found():
    marks = marks_of(line_hashes(FILE), pl.DataFrame({"line": [4], "ordered": [False]}))
    assert moved_lines(line_hashes(lines_of("sourcedId,name", "u1,Ada")), marks) is None


@given(
    lines=st.lists(
        st.text(st.characters(codec="utf-8", exclude_characters="\n\r\x1f"), max_size=12),
        min_size=1,
        max_size=30,
        unique=True,
    ),
    order=st.randoms(use_true_random=False),
    marked=st.data(),
)
def test_any_order_of_distinct_lines_keeps_the_summary_and_finds_every_line(lines, order, marked):
    header, *body = ["header", *(f"x{line}" for line in lines)]
    shuffled = list(body)
    order.shuffle(shuffled)
    before = line_hashes(lines_of(header, *body))
    after = line_hashes(lines_of(header, *shuffled))
    assert summary(after) == summary(before)
    wanted = marked.draw(st.lists(st.integers(2, len(body) + 1), unique=True), label="marked")
    marks = marks_of(before, pl.DataFrame({"line": wanted, "ordered": [False] * len(wanted)}))
    moved = moved_lines(after, marks)
    for line, new_line in moved.select("line", "new_line").iter_rows():
        assert shuffled[new_line - 2] == body[line - 2]
