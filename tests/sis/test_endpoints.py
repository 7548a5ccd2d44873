"""Base URLs: which a pull and a push take, and what their refusals show of them (never a
credential)."""

from __future__ import annotations

import pytest

from rosterflow.sis.endpoints import gradebook_version_of, version_of
from rosterflow.sis.errors import SisError

TOKEN = "Tk-4711-secret"


@pytest.mark.parametrize("check", [version_of, gradebook_version_of])
@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"https://sis.example/ims/oneroster/v1p1?token={TOKEN}", "v1p1?…"),
        (f"https://sis.example/ims/oneroster/v1p1/?access_token={TOKEN}", "v1p1/?…"),
        ("https://sis.example/ims/oneroster/v1p1?", "v1p1?…"),
        (f"https://sis.example/ims/oneroster/v1p1#{TOKEN}", "v1p1#…"),
        (f"https://sis.example/api?x=1&token={TOKEN}", "api?…"),
    ],
)
def test_a_base_url_with_a_query_or_fragment_is_refused_without_showing_it(check, url, shown):
    with pytest.raises(SisError) as raised:
        check(url)

    assert str(raised.value) == (
        f"https://sis.example/{'ims/oneroster/' if 'ims' in url else ''}{shown}: not a OneRoster "
        "base URL: a base URL takes no query or fragment (credentials go in the environment or "
        "the [source] table of the settings)"
    )
    assert TOKEN not in str(raised.value)


@pytest.mark.parametrize(
    "url",
    [
        f"https://district:{TOKEN}@sis.example/ims/oneroster/v1p1?token={TOKEN}",
        f"ftp://district:{TOKEN}@sis.example/ims/oneroster/v1p1",
        f"district:{TOKEN}@sis.example/ims/oneroster/v1p1",
    ],
)
def test_credentials_in_a_url_are_refused_unseen_whatever_else_is_wrong(url):
    for check in (version_of, gradebook_version_of):
        with pytest.raises(SisError, match=r"the URL holds credentials \(user:password@host\)"):
            check(url)
        with pytest.raises(SisError) as raised:
            check(url)
        assert TOKEN not in str(raised.value)


@pytest.mark.parametrize(
    ("url", "version"),
    [
        ("https://sis.example/ims/oneroster/v1p1", "1.1"),
        ("https://sis.example/ims/oneroster/v1p1/", "1.1"),
        ("http://127.0.0.1:8765/ims/oneroster/rostering/v1p2", "1.2"),
        ("HTTPS://sis.example/ims/oneroster/v1p1", "1.1"),  # a scheme in any letter case
    ],
)
def test_a_base_url_without_query_is_taken(url, version):
    assert version_of(url) == version
