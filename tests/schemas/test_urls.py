"""A URL's credentials are told apart and taken out of text, whatever else the text says."""

from __future__ import annotations

import pytest

from rosterflow.schemas.urls import has_userinfo, is_url, without_userinfo


@pytest.mark.parametrize(
    ("url", "held"),
    [
        ("https://alice:PaSsW0rd@hooks.example.org/rosterflow", True),
        ("https://alice@hooks.example.org", True),
        ("ftp://user:s3cretPW@example.org/x", True),
        ("http://bob:Hunter2@127.0.0.1:9/api", True),
        ("alice:PaSsW0rd@hooks.example.org", True),  # no scheme: all of it is the authority
        ("https://hooks.example.org/rosterflow", False),
        ("https://hooks.example.org/users/@me", False),  # an @ in the path
        ("https://hooks.example.org/x?to=a@b.org", False),  # an @ in the query
        ("https://hooks.example.org#a@b", False),
        ("", False),
    ],
)
def test_credentials_are_an_at_sign_in_the_authority(url, held):
    assert has_userinfo(url) is held


def test_every_urls_credentials_are_taken_out_of_a_text_and_nothing_else():
    text = (
        "cannot reach http://bob:Hunter2@127.0.0.1:9/api (nor https://alice@x.org/p?q=a@b), "
        "mail a@b.org or see https://example.org/users/@me"
    )
    shown = without_userinfo(text)
    assert shown == (
        "cannot reach http://127.0.0.1:9/api (nor https://x.org/p?q=a@b), "
        "mail a@b.org or see https://example.org/users/@me"
    )
    assert "Hunter2" not in shown and "alice" not in shown


@pytest.mark.parametrize(
    ("feed", "url"),
    [
        ("https://sis.example.org/ims/oneroster/v1p1", True),
        ("HTTPS://sis.example.org/ims/oneroster/v1p1", True),  # a scheme in any letter case
        ("Http://127.0.0.1:8080/ims/oneroster/rostering/v1p2", True),
        ("feeds/https-export.zip", False),
        ("httpsfeed.zip", False),
        ("", False),
    ],
)
def test_a_feed_argument_is_a_url_by_its_scheme_in_any_letter_case(feed, url):
    assert is_url(feed) is url
