"""The settings file as a district's data team writes it, second pass: a pull's period and
overlap bounded where a date can hold them, and a table declared twice named as the file
writes it."""

from __future__ import annotations

import pytest

from rosterflow.schemas.settings import (
    DELTA_OVERLAP_MINUTES_MAX,
    FULL_PULL_DAYS_MAX,
    SettingsError,
    load_settings,
    parse_settings,
)


@pytest.mark.parametrize(
    ("key", "value", "bound"),
    [
        ("full_pull_days", FULL_PULL_DAYS_MAX + 1, "36500"),
        ("full_pull_days", 100_000_000_000, "36500"),
        ("delta_overlap_minutes", DELTA_OVERLAP_MINUTES_MAX + 1, "525600"),
        ("delta_overlap_minutes", 99_999_999_999, "525600"),
    ],
)
def test_a_pull_period_or_overlap_no_date_can_hold_is_refused_with_its_bound(key, value, bound):
    """Each was taken, and the next `sync URL` with `[source] delta` ended in a traceback
    (OverflowError) when it chose between a delta and a full pull."""
    with pytest.raises(SettingsError) as refused:
        parse_settings({"source": {"delta": True, key: value}}, "s.toml")
    assert str(refused.value) == (
        f"s.toml: [source] {key} = {value}; give a number less than or equal to {bound}"
    )


def test_a_pull_period_and_overlap_at_their_bounds_are_taken():
    source = parse_settings(
        {
            "source": {
                "full_pull_days": FULL_PULL_DAYS_MAX,
                "delta_overlap_minutes": DELTA_OVERLAP_MINUTES_MAX,
            }
        }
    ).source
    assert (source.full_pull_days, source.delta_overlap_minutes) == (36_500, 525_600)


@pytest.mark.parametrize(
    ("text", "table", "at"),
    [
        (
            '[safety]\nmax_removal_share = 0.3\n\n[safety]\nlogin_changes = "warn"\n',
            "[safety]",
            "line 4, column 8",
        ),
        ('[validation]\n[policy]\n[validation]\nfiles = ["orgs"]\n', "[validation]", "line 3"),
        ('[a."b c"]\nx = 1\n[a."b c"]\n', '[a."b c"]', "line 3, column 9"),
        # (a key holding what the parser's message is made of)
        ('[a.")b (at x"]\nx = 1\n[a.")b (at x"]\n', '[a.")b (at x"]', "line 3, column 14"),
        (
            "[validation]\nrequired = { users = [] }\n\n[validation.required]\ncourses = []\n",
            "[validation.required]",
            "line 4, column 21",
        ),
    ],
)
def test_a_table_declared_twice_is_named_as_the_file_writes_it(tmp_path, text, table, at):
    """TOML's parser named it as a Python tuple: `Cannot declare ('safety',) twice`."""
    path = tmp_path / "rosterflow.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as refused:
        load_settings(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: not a readable TOML file (Cannot declare {table} twice")
    assert f"(at {at}" in message
    assert message.endswith(
        f": a table's header written a second time, which TOML refuses; put its keys under "
        f"one {table})"
    )
    assert "('" not in message


@pytest.mark.parametrize(
    ("text", "table", "at"),
    [
        ('policy = { users = "keep" }\npolicy.courses = "keep"\n', "[policy]", "line 2, column 24"),
        ("[source]\nscopes = []\nscopes.x = 1\n", "[source.scopes]", "line 3, column 13"),
    ],
)
def test_a_table_written_whole_then_added_to_is_named_as_the_file_writes_it(
    tmp_path, text, table, at
):
    """TOML's parser said `Cannot mutate immutable namespace ('policy',)`."""
    path = tmp_path / "rosterflow.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as refused:
        load_settings(path)
    assert str(refused.value) == (
        f"{path}: not a readable TOML file (Cannot add to {table} (at {at}): it was written "
        "whole, as an inline table { ... } or a list [ ... ], which TOML refuses to add to; put "
        "its keys in one place)"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"SAFETY": {}}, "unknown setting SAFETY (did you mean safety?)"),
        ({"policy": {"USERS": "keep"}}, "unknown setting [policy] USERS (did you mean users?)"),
        ({"identity": {"KEY": "email"}}, "unknown setting [identity] KEY (did you mean key?)"),
        (
            {"MAX_REMOVAL_SHARE": 0.3},
            "unknown setting MAX_REMOVAL_SHARE (max_removal_share is a key of [safety])",
        ),
        (
            {"policy": {"LOGIN_CHANGES": "warn"}},
            "unknown setting [policy] LOGIN_CHANGES (login_changes is a key of [safety])",
        ),
    ],
)
def test_a_table_or_key_in_capitals_is_answered_with_the_one_it_spells(raw, message):
    """Written as an environment variable is, it got no "did you mean": the close matches
    were looked for in its letter case, and every table and key is in lower case."""
    with pytest.raises(SettingsError) as refused:
        parse_settings(raw, "s.toml")
    assert str(refused.value).startswith(f"s.toml: {message}; known: ")


def test_a_secret_in_capitals_is_never_pointed_at_a_setting():
    with pytest.raises(SettingsError) as refused:
        parse_settings({"notify": {"SMTP_PASSWORD": "Hunter2"}}, "s.toml")
    message = str(refused.value)
    assert "(a secret is never written in a settings file: [notify] smtp_password_env" in message
    assert "Hunter2" not in message


@pytest.mark.parametrize(
    ("token_url", "shown"),
    [
        ("sis.example.org/oauth/token", "'sis.example.org' followed by a path not shown"),
        ("ftp://sis.example.org/token", "'ftp://sis.example.org' followed by a path not shown"),
        ("https://", "'https://'"),
        ("https://sis example.org/token", "'https://sis example.org' followed by a path not shown"),
        (
            "https://sis.example.org:0/token",
            "'https://sis.example.org:0' followed by a path not shown",
        ),
        ("https://sis.example.org:99999", "'https://sis.example.org:99999'"),
    ],
)
def test_a_token_url_no_request_can_go_to_is_refused_naming_its_setting(token_url, shown):
    """It was taken, and every pull tried it five times, ending in the HTTP client's words
    (`Request URL is missing an 'http://' or 'https://' protocol`) without naming the
    setting."""
    with pytest.raises(SettingsError) as refused:
        parse_settings({"source": {"token_url": token_url}}, "s.toml")
    assert str(refused.value) == (
        f"s.toml: [source] token_url = {shown}; give the http:// or https:// URL of the OAuth 2.0 "
        "token endpoint, such as https://sis.example.org/oauth/token (or leave it empty: "
        "ROSTERFLOW_TOKEN_URL, else no token)"
    )


@pytest.mark.parametrize(
    "token_url",
    ["", "https://sis.example.org/oauth/token", "HTTP://127.0.0.1:8080/token?realm=district"],
)
def test_a_token_url_a_request_can_go_to_is_taken(token_url):
    assert parse_settings({"source": {"token_url": token_url}}).source.token_url == token_url
