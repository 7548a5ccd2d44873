"""A mail about a feed whose name is not UTF-8: a zip copied from a Windows share keeps its
name's bytes (`caf\\xe9.zip`), which Python holds as a lone surrogate and no mail can carry.
The failure of such a feed is announced all the same, the byte shown as `\\xe9`, as the
terminal shows it."""

from __future__ import annotations

import os

import pytest

from rosterflow.flows.pipeline import Steps, run_steps
from rosterflow.schemas.feed import FeedError
from rosterflow.schemas.printable import one_line
from rosterflow.schemas.settings import parse_settings
from tests.mailbox import Mailbox, serving_smtp

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

CAFE = os.fsdecode(b"caf\xe9.zip")


def test_one_line_shows_a_byte_that_is_not_utf8_as_printable_does():
    assert one_line(f"{CAFE}\n") == "caf\\xe9.zip\\n"


def test_an_unreadable_feed_whose_name_is_not_utf8_is_announced_by_mail(tmp_path):
    junk = tmp_path / CAFE
    junk.write_bytes(b"no zip")
    with serving_smtp(Mailbox()) as box:
        settings = parse_settings(
            {
                "notify": {
                    "email": "data@district.example",
                    "smtp_host": "127.0.0.1",
                    "smtp_port": box.port,
                    "smtp_starttls": False,
                }
            }
        )
        with pytest.raises(FeedError):
            run_steps(Steps(), junk, tmp_path / "w.duckdb", settings, "north")

    ((_, mail),) = box.messages
    assert mail["Subject"] == "rosterflow: caf\\xe9.zip failed (a run, tenant north)"
    text = mail.get_payload(decode=True).decode()
    assert "Why: " in text and "caf\\xe9.zip: not a zip archive" in text
