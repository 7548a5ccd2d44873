"""Course titles that print alike but differ in bytes: `Español I` typed as one letter (U+00F1)
and as `n` and a combining tilde (U+0303), or with a zero-width space in it. Base courses are
keyed by the exact title, so each gets base courses of its own, which a person reading the
titles cannot tell apart: `course.title_variants` warns of them as of titles that differ in
spaces or letter case."""

from __future__ import annotations

import pytest

from tests.schemas.test_title_variants import _courses, _variants

COMPOSED = "Espa\u00f1ol I"


@pytest.mark.parametrize(
    "other",
    [
        "Espan\u0303ol I",  # its tilde a mark of its own
        "Espa\u00f1ol\u200b I",  # a zero-width space
        "ESPAN\u0303OL\u00a0I",  # in capitals, decomposed, a no-break space
    ],
)
def test_a_title_that_prints_alike_is_warned_naming_the_other(other):
    found = _variants(_courses(("c1", COMPOSED, None), ("c2", other, None)))

    assert found.select("line", "value").rows() == [(2, COMPOSED), (3, other)]
    assert (
        "(or how its accents are stored, or characters a screen does not show)"
        in found["message"][1]
    )
    assert f'"{COMPOSED}" (course c1)' in found["message"][1]


def test_titles_that_differ_in_their_letters_are_not_warned():
    assert _variants(_courses(("c1", COMPOSED, None), ("c2", "Espanol I", None))).height == 0
