"""Names kept to one line (`schemas.printable.one_line`), as a log line, a mail's Subject and
an SQL comment print them."""

from __future__ import annotations

import pytest

from rosterflow.schemas.printable import one_line


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("north.zip", "north.zip"),
        ("Montréal/Est", "Montréal/Est"),
        ("north\n\x1b[2J.zip", "north\\n\\x1b[2J.zip"),
        ("o'hara\r\n", "o'hara\\r\\n"),
        ("a\u2028b\u200bc", "a\\u2028b\\u200bc"),  # a line separator, a zero-width space
    ],
)
def test_every_character_a_screen_does_not_show_is_escaped(text, shown):
    assert one_line(text) == shown
    assert one_line(text).splitlines() == [shown]
