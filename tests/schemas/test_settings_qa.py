"""The settings file as a district's data team writes it, mistakes and all: a bound named for
what the key takes, a list naming an entry twice, a file in another encoding or setting a key
twice named by line, a misspelt key answered with the one it likely means (never a secret's
setting), the settings key left alone by a setting that changes nothing, and every environment
variable of the code on its reference page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rosterflow.schemas.settings import Settings, SettingsError, load_settings, parse_settings

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("seconds", [0, -5, 100_000, "60", float("nan"), True])
def test_a_wait_out_of_its_bounds_is_refused_with_its_bounds_not_as_a_share(seconds):
    # it was refused as "a share between 0 and 1 (1 turns the guard off)"
    with pytest.raises(SettingsError) as refused:
        parse_settings({"source": {"max_retry_wait_seconds": seconds}}, "s.toml")
    assert str(refused.value) == (
        f"s.toml: [source] max_retry_wait_seconds = {seconds!r}; give a number above 0, "
        "up to 86,400"
    )


def test_a_field_or_file_named_twice_is_demanded_once():
    """Named twice, each was demanded twice: every record without it had two errors."""
    twice = parse_settings(
        {
            "validation": {
                "required": {"users": ["email", "username", "email"]},
                "files": ["demographics", "orgs", "demographics"],
            }
        }
    )
    once = parse_settings(
        {
            "validation": {
                "required": {"users": ["email", "username"]},
                "files": ["demographics", "orgs"],
            }
        }
    )
    assert twice.validation.required["users"] == ("email", "username")
    assert twice.validation.files == ("demographics", "orgs")
    assert twice.key() == once.key()


def test_a_file_not_in_utf8_names_the_line_and_column(tmp_path):
    path = tmp_path / "s.toml"
    # saved in cp1252: "é" is the one byte 0xe9
    path.write_bytes(b'[policy]\nusers = "keep"\n# caf\xe9 staff\n')
    with pytest.raises(SettingsError) as refused:
        load_settings(path)
    assert str(refused.value) == (
        f"{path}: not a readable TOML file ('utf-8' codec can't decode byte 0xe9 in position "
        "29: invalid continuation byte): line 3, column 6 is not UTF-8 text; save the file as "
        "UTF-8"
    )


def test_the_column_counts_characters_after_a_byte_order_mark(tmp_path):
    path = tmp_path / "s.toml"
    path.write_bytes(b'\xef\xbb\xbf[notify]\nemail = "d\xc3\xa9an@x.org \xe9"\n')
    with pytest.raises(SettingsError, match=r": line 2, column 21 is not UTF-8 text; save"):
        load_settings(path)


SAVED_AS_UNICODE = "it was saved as UTF-16 or UTF-32 (what Windows calls Unicode); save it as UTF-8"
HOLDS_NUL = (
    "(it holds NUL bytes, as a file saved as UTF-16 or UTF-32, what Windows calls Unicode, "
    "does); save it as UTF-8"
)


@pytest.mark.parametrize(
    ("encoding", "ending"),
    [
        ("utf-16", SAVED_AS_UNICODE),
        ("utf-32", SAVED_AS_UNICODE),
        ("utf-16-le", HOLDS_NUL),
        ("utf-16-be", HOLDS_NUL),
    ],
)
def test_a_file_saved_as_windows_unicode_says_so(tmp_path, encoding, ending):
    """Notepad's "Unicode": its byte-order mark was named as a byte that cannot be decoded,
    and a file without one as a NUL character TOML refuses."""
    path = tmp_path / "s.toml"
    path.write_bytes('[policy]\nusers = "keep"\n'.encode(encoding))
    with pytest.raises(SettingsError) as refused:
        load_settings(path)
    assert str(refused.value).startswith(f"{path}: not a readable TOML file (")
    assert str(refused.value).endswith(ending)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("[safety]\nmax_removal_share = 0.2\nmax_removal_share = 0.3", "line 3, column 24"),
        ("[safety]\nmax_removal_share = 0.2\nmax_removal_share = 0.3\n\n", "line 3, column 24"),
        ('[policy]\nusers = "keep"\ncourses = "keep"\nusers = "delete"\n', "line 4, column 17"),
    ],
)
def test_a_key_set_twice_is_said_in_words_with_its_line(tmp_path, text, line):
    """The parser said "Cannot overwrite a value (at end of document)" of a file whose last
    line set a key again: neither which line nor what it meant."""
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as refused:
        load_settings(path)
    assert str(refused.value) == (
        f"{path}: not a readable TOML file (Cannot overwrite a value (at {line}): a key set a "
        "second time in its table, which TOML refuses)"
    )


def test_a_stray_nul_in_utf8_text_is_named_by_its_line(tmp_path):
    path = tmp_path / "s.toml"
    path.write_bytes(b'[policy]\nusers = "keep"\x00\n')
    with pytest.raises(SettingsError) as refused:
        load_settings(path)
    assert str(refused.value) == (
        f"{path}: not a readable TOML file (Expected newline or end of document after a "
        "statement (at line 2, column 15))"
    )


def test_line_ends_of_any_system_are_read(tmp_path):
    path = tmp_path / "s.toml"
    for ends in ("\n", "\r\n", "\r"):
        path.write_bytes(ends.join(["[safety]", "max_removal_share = 0.3", ""]).encode())
        assert load_settings(path).safety.max_removal_share == 0.3


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"polcy": {"users": "keep"}}, "unknown setting polcy (did you mean policy?); known: feed, hierarchy, identity, notify, policy, safety, source, validation"),
        ({"policy": {"user": "keep"}}, "unknown setting [policy] user (did you mean users?); known: class_resources, course_resources, courses, domains, enrollments, observers, resources, users"),
        ({"safety": {"max_removal_shar": 0.1}}, "unknown setting [safety] max_removal_shar (did you mean max_removal_share?); known: lms_check_days, login_changes, max_adoption_share, max_removal_share, max_school_removal_share"),
        ({"identity": {"adopt_bye": "email"}}, "unknown setting [identity] adopt_bye (did you mean adopt_by?); known: adopt_across_roles, adopt_by, key"),
        # a key of another table says whose it is, rather than guess
        ({"safety": {"users": "keep"}}, "unknown setting [safety] users (users is a key of [policy]); known: lms_check_days, login_changes, max_adoption_share, max_removal_share, max_school_removal_share"),
        # nothing like it: no guess
        ({"hierarchy": {"depth": 3}}, "unknown setting [hierarchy] depth; known: org_base_courses, session_base_courses"),
    ],
)  # fmt: skip
def test_a_misspelt_table_or_key_is_answered_with_the_one_it_likely_means(raw, message):
    with pytest.raises(SettingsError) as refused:
        parse_settings(raw, "s.toml")
    assert str(refused.value) == f"s.toml: {message}"


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ({"notify": {"smtp_pasword": "Hunter2"}}, "[notify] smtp_password_env names the environment variable that holds it"),
        ({"source": {"client_secrt": "Hunter2"}}, "[source] client_secret_env or client_secret_file names what holds it"),
        ({"client_secret": "Hunter2"}, "[source] client_secret_env or client_secret_file names what holds it"),
    ],
)  # fmt: skip
def test_a_misspelt_secret_is_never_pointed_at_a_setting(raw, where):
    """`did you mean smtp_password_env?` would have a person write the password there."""
    with pytest.raises(SettingsError) as refused:
        parse_settings(raw, "s.toml")
    message = str(refused.value)
    assert f"(a secret is never written in a settings file: {where})" in message
    assert "did you mean" not in message and "Hunter2" not in message


def test_adopting_across_roles_without_adopting_leaves_the_key_alone():
    """It adopts nobody without `adopt_by`: it planned the next run in full all the same."""
    assert parse_settings({"identity": {"adopt_across_roles": True}}).key() == Settings().key()
    adopting = parse_settings({"identity": {"adopt_by": "email"}})
    across = parse_settings({"identity": {"adopt_by": "email", "adopt_across_roles": True}})
    assert across.key() != adopting.key() != Settings().key()


def test_what_a_pull_asks_for_leaves_the_key_alone():
    """`[source]` shapes which records a pull fetches, which the feed then holds (a delta's
    files say so in its manifest): the records synced decide the plan, not how they came."""
    pulling = {"source": {"delta": True, "page_size": 50, "scopes": ["x"], "auth": "oauth1"}}
    assert parse_settings(pulling).key() == Settings().key()


# read by the test harness only, never by a person's run
_TEST_HOOKS = {"ROSTERFLOW_TEST_PAUSE_IN_APPLY"}


def test_every_environment_variable_of_the_code_is_on_its_reference_page():
    code = {
        name
        for folder in ("flows", "schemas", "sis", "transforms", "warehouse", "demo", "notebooks")
        for path in (ROOT / folder).rglob("*.py")
        for name in re.findall(r"\bROSTERFLOW_[A-Z_]+[A-Z]\b", path.read_text(encoding="utf-8"))
    } - _TEST_HOOKS
    page = (ROOT / "docs/reference/environment.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(ROSTERFLOW_[A-Z_]+)`", page, flags=re.MULTILINE))
    assert code == documented
