"""The limits the environment sets: a number in range, else one line naming the variable and
what it takes."""

from __future__ import annotations

import pytest

from rosterflow.schemas.environment import (
    LIMITS,
    LOCK_WAIT_SECONDS,
    MAX_COMPRESSION_RATIO,
    MAX_FEED_BYTES,
    EnvironmentVariableError,
    check_environment,
)


def test_unset_or_empty_is_the_default(monkeypatch):
    for limit in LIMITS:
        monkeypatch.delenv(limit.name, raising=False)
    assert [limit.value() for limit in LIMITS] == [16 * 1024**3, 1000, 30.0]
    monkeypatch.setenv(MAX_FEED_BYTES.name, " ")
    assert MAX_FEED_BYTES.value() == 16 * 1024**3
    check_environment()


@pytest.mark.parametrize(
    ("limit", "text", "value"),
    [
        (MAX_FEED_BYTES, "1000", 1000),
        (MAX_FEED_BYTES, "1_000_000", 1_000_000),
        (MAX_COMPRESSION_RATIO, "250", 250.0),
        (MAX_COMPRESSION_RATIO, "12.5", 12.5),
        (LOCK_WAIT_SECONDS, "0.2", 0.2),
        (LOCK_WAIT_SECONDS, "0", 0.0),  # do not wait at all
    ],
)
def test_a_number_in_range_is_taken(monkeypatch, limit, text, value):
    monkeypatch.setenv(limit.name, text)
    assert limit.value() == value


BYTES = "give a positive whole number of bytes (unset: 17179869184)"
RATIO = "give a positive number (unset: 1000)"
SECONDS = "give a number of seconds, 0 or more (unset: 30)"


@pytest.mark.parametrize(
    ("limit", "text", "takes"),
    [
        (MAX_FEED_BYTES, "abc", BYTES),
        (MAX_FEED_BYTES, "-5", BYTES),
        (MAX_FEED_BYTES, "0", BYTES),
        (MAX_FEED_BYTES, "1e9", BYTES),
        (MAX_FEED_BYTES, "16GB", BYTES),
        (MAX_COMPRESSION_RATIO, "x", RATIO),
        (MAX_COMPRESSION_RATIO, "0", RATIO),
        (MAX_COMPRESSION_RATIO, "nan", RATIO),
        (MAX_COMPRESSION_RATIO, "inf", RATIO),
        (LOCK_WAIT_SECONDS, "abc", SECONDS),
        (LOCK_WAIT_SECONDS, "-1", SECONDS),
    ],
)
def test_anything_else_is_refused_naming_the_variable_and_what_it_takes(
    monkeypatch, limit, text, takes
):
    monkeypatch.setenv(limit.name, text)
    with pytest.raises(EnvironmentVariableError) as refused:
        limit.value()
    assert str(refused.value) == f"{limit.name}={text!r}: {takes}"
    with pytest.raises(EnvironmentVariableError):
        check_environment()
