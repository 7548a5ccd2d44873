"""The settings file (`--config FILE.toml`): defaults, every table read back as written,
unknown keys and bad values refused word for word, and `Settings.key()` pinned byte for byte
(it is stored with every run and compared across runs: any change plans every tenant in
full)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import get_args

import pytest
from pydantic import ValidationError

from rosterflow.schemas.identity import IDENTITY_KEYS
from rosterflow.schemas.settings import (
    LOGIN_CHANGE_CHOICES,
    POLICY_CHOICES,
    Identity,
    Policy,
    Safety,
    Settings,
    SettingsError,
    load_settings,
    parse_settings,
)
from rosterflow.schemas.spec import FILE_SPECS

DEFAULTS = {
    "policy": {
        "users": "inactivate",
        "courses": "keep",
        "enrollments": "inactivate",
        "domains": "inactivate",
        "observers": "delete",
        "resources": "inactivate",
        "class_resources": "delete",
        "course_resources": "delete",
    },
    "hierarchy": {"org_base_courses": True, "session_base_courses": True},
    "safety": {
        "max_removal_share": 0.2,
        "max_school_removal_share": 0.5,
        "login_changes": "hold",
        "max_adoption_share": 1.0,
        "lms_check_days": 7.0,
    },
    "validation": {"required": {"courses": ("courseCode",), "users": ()}, "files": ()},
    "notify": {
        "webhook": "",
        "email": "",
        "smtp_host": "localhost",
        "smtp_port": 25,
        "smtp_from": "rosterflow@localhost",
        "smtp_starttls": False,
        "smtp_user": "",
        "smtp_login_without_tls": False,
        "smtp_password_env": "ROSTERFLOW_SMTP_PASSWORD",
    },
    "identity": {"key": "sourcedId", "adopt_by": "none", "adopt_across_roles": False},
    "feed": {"encoding": "utf-8"},
    "source": {
        "token_url": "",
        "client_id": "",
        "client_secret_env": "ROSTERFLOW_CLIENT_SECRET",
        "client_secret_file": "",
        "auth": "oauth2",
        "scopes": (),
        "push_scopes": (),
        "page_size": 1000,
        "concurrency": 4,
        "max_retry_wait_seconds": 60.0,
        "delta": False,
        "full_pull_days": 7,
        "delta_overlap_minutes": 60,
    },
}

# every key of every table other than its default
NON_DEFAULT_TOML = """
[policy]
users = "delete"
courses = "delete"
enrollments = "withdraw"
domains = "keep"
observers = "inactivate"
resources = "keep"
class_resources = "inactivate"
course_resources = "keep"

[hierarchy]
org_base_courses = false
session_base_courses = false

[safety]
max_removal_share = 1
max_school_removal_share = 0.25
login_changes = "warn"
max_adoption_share = 0.3
lms_check_days = 1.5

[identity]
key = "email"
adopt_by = "login"
adopt_across_roles = true

[notify]
webhook = "https://hooks.example.org/rosterflow"
email = "ops@example.org, dean@example.org"
smtp_host = "smtp.example.org"
smtp_port = 587
smtp_from = "roster@example.org"
smtp_starttls = true
smtp_user = "roster"
smtp_password_env = "DISTRICT_SMTP_PASSWORD"

[validation]
required = { users = ["email", "username"], classes = ["location"], courses = [] }
files = ["users", "manifest", "enrollments", "userProfiles"]

[feed]
encoding = "cp1252"

[source]
token_url = "https://sis.example.org/oauth/token"
client_id = "rosterflow"
client_secret_env = "DISTRICT_SIS_SECRET"
client_secret_file = "/run/secrets/sis"
auth = "oauth1"
scopes = ["https://purl.imsglobal.org/spec/or/v1p1/scope/roster.readonly"]
push_scopes = ["https://purl.imsglobal.org/spec/or/v1p1/scope/gradebook.createput"]
page_size = 250
concurrency = 8
max_retry_wait_seconds = 900
delta = true
full_pull_days = 14
delta_overlap_minutes = 5
"""

NON_DEFAULT = {
    "policy": {
        "users": "delete",
        "courses": "delete",
        "enrollments": "withdraw",
        "domains": "keep",
        "observers": "inactivate",
        "resources": "keep",
        "class_resources": "inactivate",
        "course_resources": "keep",
    },
    "hierarchy": {"org_base_courses": False, "session_base_courses": False},
    "safety": {
        "max_removal_share": 1.0,
        "max_school_removal_share": 0.25,
        "login_changes": "warn",
        "max_adoption_share": 0.3,
        "lms_check_days": 1.5,
    },
    "validation": {
        "required": {"users": ("email", "username"), "classes": ("location",), "courses": ()},
        "files": ("users", "manifest", "enrollments", "userProfiles"),
    },
    "notify": {
        "webhook": "https://hooks.example.org/rosterflow",
        "email": "ops@example.org, dean@example.org",
        "smtp_host": "smtp.example.org",
        "smtp_port": 587,
        "smtp_from": "roster@example.org",
        "smtp_starttls": True,
        "smtp_user": "roster",
        "smtp_login_without_tls": False,
        "smtp_password_env": "DISTRICT_SMTP_PASSWORD",
    },
    "identity": {"key": "email", "adopt_by": "login", "adopt_across_roles": True},
    "feed": {"encoding": "cp1252"},
    "source": {
        "token_url": "https://sis.example.org/oauth/token",
        "client_id": "rosterflow",
        "client_secret_env": "DISTRICT_SIS_SECRET",
        "client_secret_file": "/run/secrets/sis",
        "auth": "oauth1",
        "scopes": ("https://purl.imsglobal.org/spec/or/v1p1/scope/roster.readonly",),
        "push_scopes": ("https://purl.imsglobal.org/spec/or/v1p1/scope/gradebook.createput",),
        "page_size": 250,
        "concurrency": 8,
        "max_retry_wait_seconds": 900.0,
        "delta": True,
        "full_pull_days": 14,
        "delta_overlap_minutes": 5,
    },
}

# the text of `key()` as rosterflow 0.1.0's dataclass settings wrote it into
# audit.sync_runs.settings_key: the same settings must keep giving it, byte for byte
DEFAULT_KEY = (
    '{"hierarchy": {"org_base_courses": true, "session_base_courses": true}, "identity": '
    '{"key": "sourcedId"}, "policy": {"class_resources": "delete", "course_resources": '
    '"delete", "courses": "keep", "domains": "inactivate", "enrollments": "inactivate", '
    '"observers": "delete", "resources": "inactivate", "users": "inactivate"}, "validation": '
    '{"files": [], "required": {"courses": ["courseCode"], "users": []}}}'
)
# the same file before [identity] adopt_by existed: its key is the text runs stored then
NON_DEFAULT_KEY_WITHOUT_ADOPTION = (
    '{"hierarchy": {"org_base_courses": false, "session_base_courses": false}, "identity": '
    '{"key": "email"}, "policy": {"class_resources": "inactivate", "course_resources": "keep", '
    '"courses": "delete", "domains": "keep", "enrollments": "withdraw", "observers": '
    '"inactivate", "resources": "keep", "users": "delete"}, "validation": {"files": '
    '["enrollments", "manifest", "userProfiles", "users"], "required": {"classes": '
    '["location"], "courses": [], "users": ["email", "username"]}}}'
)

NON_DEFAULT_KEY = NON_DEFAULT_KEY_WITHOUT_ADOPTION.replace(
    '"identity": {"key": "email"}',
    '"identity": {"adopt_across_roles": true, "adopt_by": "login", "key": "email"}',
)


def as_written(settings: Settings) -> dict[str, dict]:
    """Every table of `settings` as a dict of its keys, in the order DEFAULTS lists them."""
    tables = {}
    for table, keys in DEFAULTS.items():
        values = {key: getattr(getattr(settings, table), key) for key in keys}
        if table == "validation":
            values["required"] = dict(values["required"])
        tables[table] = values
    return tables


@pytest.fixture
def non_default_file(tmp_path):
    path = tmp_path / "district.toml"
    path.write_text(NON_DEFAULT_TOML, encoding="utf-8")
    return path


def test_every_key_is_optional_and_defaults_as_the_contract_says():
    assert as_written(Settings()) == DEFAULTS
    assert parse_settings({}) == Settings()
    assert load_settings(None) == Settings()
    assert parse_settings({table: {} for table in DEFAULTS}) == Settings()
    assert POLICY_CHOICES == {
        "users": ("delete", "keep", "inactivate"),
        "courses": ("delete", "keep"),
        "enrollments": ("delete", "keep", "inactivate", "withdraw"),
        "domains": ("delete", "keep", "inactivate"),
        "observers": ("delete", "keep", "inactivate"),
        "resources": ("delete", "keep", "inactivate"),
        "class_resources": ("delete", "keep", "inactivate"),
        "course_resources": ("delete", "keep", "inactivate"),
    }
    assert LOGIN_CHANGE_CHOICES == ("hold", "warn")


@pytest.mark.parametrize("table", list(DEFAULTS))
def test_each_table_reads_back_as_written_and_leaves_the_others_at_their_defaults(table):
    written = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in NON_DEFAULT[table].items()
    }
    if table == "validation":
        written["required"] = {f: list(c) for f, c in NON_DEFAULT[table]["required"].items()}
    settings = parse_settings({table: written})
    assert as_written(settings) == DEFAULTS | {table: NON_DEFAULT[table]}


def test_a_file_with_every_key_reads_back_as_written(non_default_file):
    settings = load_settings(non_default_file)
    assert as_written(settings) == NON_DEFAULT
    assert isinstance(settings.safety.max_removal_share, float)  # `1` in the file


@pytest.mark.parametrize(
    ("table", "known"),
    [
        (None, "feed, hierarchy, identity, notify, policy, safety, source, validation"),
        (
            "policy",
            "class_resources, course_resources, courses, domains, enrollments, observers, "
            "resources, users",
        ),
        ("hierarchy", "org_base_courses, session_base_courses"),
        (
            "safety",
            "lms_check_days, login_changes, max_adoption_share, max_removal_share, "
            "max_school_removal_share",
        ),
        ("validation", "files, required"),
        (
            "notify",
            "email, smtp_from, smtp_host, smtp_login_without_tls, smtp_password_env, "
            "smtp_port, smtp_starttls, smtp_user, webhook",
        ),
        ("identity", "adopt_across_roles, adopt_by, key"),
        ("feed", "encoding"),
        (
            "source",
            "auth, client_id, client_secret_env, client_secret_file, concurrency, delta, "
            "delta_overlap_minutes, full_pull_days, max_retry_wait_seconds, page_size, "
            "push_scopes, scopes, token_url",
        ),
    ],
)
def test_an_unknown_key_is_refused_in_every_table(table, known):
    raw = {"typo": 1} if table is None else {table: {"typo": 1}}
    where = "" if table is None else f"[{table}] "
    with pytest.raises(SettingsError) as refused:
        parse_settings(raw, "s.toml")
    assert str(refused.value) == f"s.toml: unknown setting {where}typo; known: {known}"


SHARE = "give a share between 0 and 1 (1 turns the guard off)"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"policy": {"users": "vanish"}}, "[policy] users = 'vanish'; choose one of delete, keep, inactivate"),
        ({"policy": {"courses": "inactivate"}}, "[policy] courses = 'inactivate'; choose one of delete, keep"),
        ({"policy": {"enrollments": "drop"}}, "[policy] enrollments = 'drop'; choose one of delete, keep, inactivate, withdraw"),
        ({"policy": {"users": 5}}, "[policy] users = 5; choose one of delete, keep, inactivate"),
        ({"policy": {"observers": True}}, "[policy] observers = True; choose one of delete, keep, inactivate"),
        ({"policy": "delete"}, "[policy] must be a table"),
        ({"hierarchy": {"org_base_courses": "yes"}}, "[hierarchy] org_base_courses = 'yes'; give true or false"),
        ({"hierarchy": {"session_base_courses": 1}}, "[hierarchy] session_base_courses = 1; give true or false"),
        ({"hierarchy": 1}, "[hierarchy] must be a table"),
        ({"safety": {"max_removal_share": 3}}, f"[safety] max_removal_share = 3; {SHARE}"),
        ({"safety": {"max_removal_share": -0.1}}, f"[safety] max_removal_share = -0.1; {SHARE}"),
        ({"safety": {"max_removal_share": "0.5"}}, f"[safety] max_removal_share = '0.5'; {SHARE}"),
        ({"safety": {"max_removal_share": True}}, f"[safety] max_removal_share = True; {SHARE}"),
        ({"safety": {"max_removal_share": math.nan}}, f"[safety] max_removal_share = nan; {SHARE}"),
        ({"safety": {"max_removal_share": math.inf}}, f"[safety] max_removal_share = inf; {SHARE}"),
        ({"safety": {"max_school_removal_share": 1.5}}, f"[safety] max_school_removal_share = 1.5; {SHARE}"),
        ({"safety": {"login_changes": "ask"}}, "[safety] login_changes = 'ask'; choose one of hold, warn"),
        ({"safety": []}, "[safety] must be a table"),
        ({"validation": {"required": ["users"]}}, "[validation] required must map file names to field lists"),
        ({"validation": {"required": {"teachers": []}}}, "[validation] required names 'teachers', not a OneRoster file"),
        ({"validation": {"required": {"roles": []}}}, "[validation] required names 'roles', not a OneRoster file"),
        ({"validation": {"required": {"users": "email"}}}, "[validation] required.users must be a list of fields"),
        ({"validation": {"required": {"users": ["mail"]}}}, "[validation] required.users names 'mail', not a column of users.csv"),
        ({"validation": {"required": {"users": [5]}}}, "[validation] required.users names 5, not a column of users.csv"),
        ({"validation": {"files": ["teachers"]}}, "[validation] files names 'teachers', not a OneRoster file"),
        ({"validation": {"files": "users"}}, "[validation] files must be a list of file names"),
        ({"validation": "x"}, "[validation] must be a table"),
        ({"notify": {"webhook": "ftp://x"}}, "[notify] webhook = 'ftp://x'; give an http:// or https:// URL"),
        # a webhook's secret is its path: never in a message, nor in the cron log it reaches
        ({"notify": {"webhook": "htps://hooks.example/services/T0/SECRET"}}, "[notify] webhook = 'htps://hooks.example' followed by a path not shown; give an http:// or https:// URL"),
        ({"notify": {"webhook": "hooks.example/services/SECRET?x=1"}}, "[notify] webhook = 'hooks.example' followed by a path not shown; give an http:// or https:// URL"),
        ({"notify": {"webhook": 5}}, "[notify] webhook must be text"),
        ({"notify": {"email": ["a@b"]}}, "[notify] email = ['a@b']; give text"),
        ({"notify": {"smtp_host": 1}}, "[notify] smtp_host = 1; give text"),
        ({"notify": {"smtp_from": 1}}, "[notify] smtp_from = 1; give text"),
        ({"notify": {"smtp_user": 2}}, "[notify] smtp_user = 2; give text"),
        ({"notify": {"smtp_password_env": False}}, "[notify] smtp_password_env must be text"),
        ({"notify": {"smtp_port": "25"}}, "[notify] smtp_port = '25'; give a whole number"),
        ({"notify": {"smtp_port": 25.0}}, "[notify] smtp_port = 25.0; give a whole number"),
        ({"notify": {"smtp_port": True}}, "[notify] smtp_port = True; give a whole number"),
        ({"notify": {"smtp_starttls": "yes"}}, "[notify] smtp_starttls = 'yes'; give true or false"),
        ({"notify": []}, "[notify] must be a table"),
        ({"identity": {"key": "mail"}}, "[identity] key = 'mail'; choose one of sourcedId, username, userId, identifier, email"),
        ({"identity": {"key": 3}}, "[identity] key = 3; choose one of sourcedId, username, userId, identifier, email"),
        ({"identity": "email"}, "[identity] must be a table"),
        ({"source": {"client_secret": "hunter2"}}, "[source] client_secret: a secret is never written in a settings file; name the environment variable (client_secret_env) or the file (client_secret_file) that holds it"),
        ({"source": {"scopes": "roster.readonly"}}, "[source] scopes must be a list of scope URLs"),
        (
            {"source": {"push_scopes": "gradebook.createput"}},
            "[source] push_scopes must be a list of scope URLs",
        ),
        ({"source": {"auth": "basic"}}, "[source] auth = 'basic'; choose one of oauth2, oauth1"),
        ({"source": {"page_size": 0}}, "[source] page_size = 0; give a number greater than or equal to 1"),
        ({"source": {"concurrency": 33}}, "[source] concurrency = 33; give a number less than or equal to 32"),
        ({"source": {"delta": "yes"}}, "[source] delta = 'yes'; give true or false"),
        ({"source": {"full_pull_days": 1.5}}, "[source] full_pull_days = 1.5; give a whole number"),
        # several problems: an unknown table first, then table by table, an unknown key first
        ({"zzz": 1, "policy": {"users": "x"}}, "unknown setting zzz; known: feed, hierarchy, identity, notify, policy, safety, source, validation"),
        ({"policy": {"users": "x", "typo": 1}}, "unknown setting [policy] typo; known: class_resources, course_resources, courses, domains, enrollments, observers, resources, users"),
        ({"policy": {"users": "x", "courses": "y"}}, "[policy] users = 'x'; choose one of delete, keep, inactivate"),
        ({"hierarchy": {"org_base_courses": 1}, "policy": {"users": "x"}}, "[policy] users = 'x'; choose one of delete, keep, inactivate"),
        ({"identity": {"key": "x"}, "notify": {"smtp_port": "1"}}, "[notify] smtp_port = '1'; give a whole number"),
        ({"safety": {"max_removal_share": 2, "login_changes": "x"}}, f"[safety] max_removal_share = 2; {SHARE}"),
        ({"validation": {"required": {"users": ["x"]}, "files": ["y"]}}, "[validation] required.users names 'x', not a column of users.csv"),
    ],
)  # fmt: skip
def test_a_bad_value_is_refused_with_what_to_give_instead(raw, message):
    with pytest.raises(SettingsError) as refused:
        parse_settings(raw, "s.toml")
    assert str(refused.value) == f"s.toml: {message}"


WEBHOOK_CREDENTIALS = (
    "[notify] webhook: the URL holds credentials (user:password@host); give it without them "
    "(a webhook service puts its secret in the URL's path)"
)
TOKEN_URL_CREDENTIALS = (
    "[source] token_url: the URL holds credentials (user:password@host); give it without them "
    "(the client's credentials go in client_id and the secret's variable or file)"
)


@pytest.mark.parametrize(
    ("table", "key", "url", "message"),
    [
        ("notify", "webhook", "https://alice:PaSsW0rd@hooks.example.org/rosterflow", WEBHOOK_CREDENTIALS),
        ("notify", "webhook", "https://alice:PaSsW0rd@hooks.example.org:8443/x", WEBHOOK_CREDENTIALS),
        # a wrong scheme too: the credentials are refused first, unseen
        ("notify", "webhook", "ftp://user:PaSsW0rd@example.org/x", WEBHOOK_CREDENTIALS),
        ("notify", "webhook", "user:PaSsW0rd@example.org/x", WEBHOOK_CREDENTIALS),
        ("source", "token_url", "https://alice:PaSsW0rd@sis.example.org/oauth/token", TOKEN_URL_CREDENTIALS),
    ],
)  # fmt: skip
def test_a_url_holding_credentials_is_refused_without_showing_them(
    tmp_path, table, key, url, message
):
    path = tmp_path / "s.toml"
    path.write_text(f'[{table}]\n{key} = "{url}"\n')
    with pytest.raises(SettingsError) as refused:
        load_settings(path)
    assert str(refused.value) == f"{path}: {message}"
    assert "PaSsW0rd" not in str(refused.value) and "alice" not in str(refused.value)


def test_a_url_with_an_at_sign_past_its_host_is_no_credential():
    settings = parse_settings(
        {
            "notify": {"webhook": "https://hooks.example.org/to/@team"},
            "source": {"token_url": "https://sis.example.org/token?for=a@b.org"},
        }
    )
    assert settings.notify.webhook == "https://hooks.example.org/to/@team"


def test_values_at_the_edge_are_accepted():
    edges = parse_settings(
        {
            "safety": {"max_removal_share": 0, "max_school_removal_share": 1},
            # a file of OneRoster 1.2 only is demanded of 1.2 feeds
            "validation": {"required": {}, "files": ["manifest", "roles"]},
        }
    )
    assert (edges.safety.max_removal_share, edges.safety.max_school_removal_share) == (0, 1)
    assert (dict(edges.validation.required), edges.validation.files) == ({}, ("manifest", "roles"))


def test_the_key_is_the_text_every_earlier_run_stored(non_default_file):
    assert Settings().key() == DEFAULT_KEY
    assert parse_settings({}).key() == DEFAULT_KEY
    assert load_settings(non_default_file).key() == NON_DEFAULT_KEY
    without_adoption = NON_DEFAULT_TOML.replace('adopt_by = "login"\n', "").replace(
        "adopt_across_roles = true\n", ""
    )
    non_default_file.write_text(without_adoption, encoding="utf-8")
    assert load_settings(non_default_file).key() == NON_DEFAULT_KEY_WITHOUT_ADOPTION


def test_the_key_leaves_out_the_guards_and_the_notifications(non_default_file):
    # and the encoding: it shapes what the files' bytes are, which the feed's content_sha256
    # and file fingerprints hold (tests/schemas/test_feed.py)
    shaping = {t: v for t, v in NON_DEFAULT.items() if t not in ("safety", "notify", "feed")}
    written = {
        "policy": shaping["policy"],
        "hierarchy": shaping["hierarchy"],
        "identity": shaping["identity"],
        "validation": {
            "required": {f: list(c) for f, c in shaping["validation"]["required"].items()},
            "files": list(shaping["validation"]["files"]),
        },
    }
    assert parse_settings(written).key() == NON_DEFAULT_KEY
    guards_only = {"safety": {"max_removal_share": 1}, "notify": {"webhook": "https://x"}}
    assert parse_settings(guards_only).key() == DEFAULT_KEY


@pytest.mark.parametrize(
    "encoding",
    ["utf-8", "UTF8", "cp1252", "latin-1", "utf-16", "utf-16-le", "utf-32", "mac_roman", "shift_jis_2004"],
)  # fmt: skip
def test_feed_encoding_takes_any_encoding_python_names(encoding):
    assert parse_settings({"feed": {"encoding": encoding}}).feed.encoding == encoding


@pytest.mark.parametrize(
    "encoding", ["klingon", "base64", "zlib", "rot13", "utf-8\x00", "undefined"]
)
def test_feed_encoding_refuses_what_is_no_text_encoding(encoding):
    with pytest.raises(SettingsError) as refused:
        parse_settings({"feed": {"encoding": encoding}}, "s.toml")
    assert str(refused.value) == (
        f"s.toml: [feed] encoding = {encoding!r}; name an encoding such as utf-8, cp1252, "
        "latin-1 or utf-16"
    )


@pytest.mark.parametrize(
    "encoding",
    ["idna", "IDNA", "punycode", "unicode_escape", "raw-unicode-escape", "utf-7", "UTF7"],
)
def test_feed_encoding_refuses_a_codec_that_is_no_character_set(encoding):
    # idna decodes with no error handler but strict, and made `validate` print a traceback
    with pytest.raises(SettingsError) as refused:
        parse_settings({"feed": {"encoding": encoding}}, "s.toml")
    assert str(refused.value) == (
        f"s.toml: [feed] encoding = {encoding!r} is no character set a file is saved in (it "
        "rewrites text, as idna or unicode_escape do); name one such as utf-8, cp1252, latin-1 "
        "or utf-16"
    )


def test_the_command_line_overrides_the_removal_guard_alone(non_default_file):
    settings = load_settings(non_default_file)
    assert settings.with_max_removal_share(None) == settings
    overridden = settings.with_max_removal_share(0.05)
    assert overridden.safety.max_removal_share == 0.05
    assert as_written(overridden) == NON_DEFAULT | {
        "safety": NON_DEFAULT["safety"] | {"max_removal_share": 0.05}
    }
    assert settings.safety.max_removal_share == 1.0  # a copy: the settings read stay as read
    for share in (1.5, -1.0, True):
        with pytest.raises(SettingsError) as refused:
            settings.with_max_removal_share(share)
        assert str(refused.value) == f"--max-removal-share = {share!r}; {SHARE}"


def test_an_unreadable_file_is_refused(tmp_path):
    with pytest.raises(SettingsError) as refused:
        load_settings(tmp_path / "none.toml")
    assert str(refused.value) == f"{tmp_path / 'none.toml'}: no such settings file"
    broken = tmp_path / "broken.toml"
    broken.write_text("[policy\n")
    with pytest.raises(SettingsError, match=r"broken\.toml: not a readable TOML file \(Expected"):
        load_settings(broken)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(SettingsError, match=r"binary\.toml: not a readable TOML file \('utf-8'"):
        load_settings(binary)
    with pytest.raises(SettingsError) as refused:
        load_settings(tmp_path)  # a folder
    assert str(refused.value).startswith(f"{tmp_path}: not a readable TOML file (")


def test_a_path_from_the_home_folder_is_read_there(tmp_path, monkeypatch, non_default_file):
    """`--config "~/district.toml"` (quoted, or from a scheduler that runs no shell) reached
    the reader as a folder named `~` of the current one: no such settings file."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    (home / "district.toml").write_bytes(non_default_file.read_bytes())
    monkeypatch.chdir(tmp_path)

    assert load_settings("~/district.toml") == load_settings(non_default_file)
    assert load_settings(Path("~") / "district.toml") == load_settings(non_default_file)


def test_settings_cannot_be_changed_once_read(non_default_file):
    settings = load_settings(non_default_file)
    with pytest.raises((AttributeError, TypeError, ValueError)):
        settings.policy.users = "keep"
    with pytest.raises((AttributeError, TypeError, ValueError)):
        settings.safety = Settings().safety
    with pytest.raises(TypeError):
        settings.validation.required["users"] = ()
    assert settings.validation.files == ("users", "manifest", "enrollments", "userProfiles")


def test_the_model_describes_every_setting_for_the_reference():
    """What a settings reference renders: per table and key, the default, the type, the
    choices and bounds, and one sentence."""
    assert list(Settings.model_fields) == list(DEFAULTS)
    for table, section in Settings.model_fields.items():
        assert section.description and section.description.endswith(".")
        model = section.annotation
        assert section.default_factory is model
        assert list(model.model_fields) == list(DEFAULTS[table])
        for name, setting in model.model_fields.items():
            assert setting.description and setting.description.endswith("."), (table, name)
            assert setting.get_default(call_default_factory=True) == DEFAULTS[table][name]
    assert {n: get_args(f.annotation) for n, f in Policy.model_fields.items()} == POLICY_CHOICES
    assert get_args(Safety.model_fields["login_changes"].annotation) == LOGIN_CHANGE_CHOICES
    assert get_args(Identity.model_fields["key"].annotation) == tuple(IDENTITY_KEYS)
    assert get_args(Identity.model_fields["adopt_by"].annotation) == (
        "none",
        "username",
        "email",
        "login",
    )
    schema = Settings.model_json_schema()["$defs"]
    assert schema["Policy"]["properties"]["enrollments"]["enum"] == list(
        POLICY_CHOICES["enrollments"]
    )
    for share in ("max_removal_share", "max_school_removal_share", "max_adoption_share"):
        bounds = schema["Safety"]["properties"][share]
        assert (bounds["minimum"], bounds["maximum"]) == (0, 1)
    assert schema["Validation"]["properties"]["required"]["propertyNames"]["enum"] == list(
        FILE_SPECS
    )
    assert "roles" in schema["Validation"]["properties"]["files"]["items"]["enum"]


def test_settings_built_in_code_are_checked_and_copied_with_changes():
    with pytest.raises(ValidationError):
        Policy(users="vanish")
    with pytest.raises(ValidationError):
        Safety(max_removal_share=2)
    with pytest.raises(ValidationError):
        Settings(identity={"key": "email", "typo": 1})
    # the model's copy with changes stands in for dataclasses.replace
    keyed = Settings().model_copy(update={"identity": Identity(key="email")})
    assert (
        keyed
        == Settings(identity=Identity(key="email"))
        == parse_settings({"identity": {"key": "email"}})
    )
    assert Settings().identity.key == "sourcedId"
    assert Settings().model_dump_json()  # the read-only mapping serializes as a plain one


def test_a_relative_secret_file_is_read_beside_the_settings_file_that_names_it(
    tmp_path, monkeypatch
):
    folder = tmp_path / "etc" / "rosterflow"
    folder.mkdir(parents=True)
    config = folder / "north.toml"
    config.write_text('[source]\nclient_secret_file = "secrets/north-sis"\n')
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # cron's current folder is $HOME, not the settings'

    assert load_settings(config).source.client_secret_file == str(folder / "secrets/north-sis")
    # a settings path given relative to the current folder: the file's folder all the same
    monkeypatch.chdir(tmp_path)
    relative = load_settings(Path("etc/rosterflow/north.toml"))
    assert relative.source.client_secret_file == str(folder / "secrets/north-sis")


@pytest.mark.parametrize("file", ["/run/secrets/north-sis", "~/secrets/north-sis", ""])
def test_an_absolute_secret_file_or_none_is_kept_as_given(tmp_path, file):
    config = tmp_path / "north.toml"
    config.write_text(f'[source]\nclient_secret_file = "{file}"\n')
    assert load_settings(config).source.client_secret_file == file


def test_settings_parsed_without_a_file_keep_a_relative_secret_file():
    raw = {"source": {"client_secret_file": "north-sis"}}
    assert parse_settings(raw).source.client_secret_file == "north-sis"


def test_the_repr_of_the_settings_shows_neither_secret_setting():
    # a secret written in either by mistake must not reach a log through a repr
    raw = {"source": {"client_secret_env": "S3cr3t-XYZ-42", "client_secret_file": "S3cr3t-2"}}
    settings = parse_settings(raw)
    assert "S3cr3t" not in repr(settings) and "S3cr3t" not in str(settings)
    assert settings.source.client_secret_env == "S3cr3t-XYZ-42"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            # above the first table's header: TOML takes it for a table of its own
            {"max_removal_share": 0.5},
            "settings: unknown setting max_removal_share (max_removal_share is a key of "
            "[safety]); known: feed, hierarchy, identity, notify, policy, safety, source, "
            "validation",
        ),
        (
            {"safety": {"users": "keep"}},
            "settings: unknown setting [safety] users (users is a key of [policy]); known: "
            "lms_check_days, login_changes, max_adoption_share, max_removal_share, "
            "max_school_removal_share",
        ),
        (
            {"notify": {"users": "keep"}},
            "settings: unknown setting [notify] users (users is a key of [policy]); known: "
            "email, smtp_from, smtp_host, smtp_login_without_tls, smtp_password_env, smtp_port, "
            "smtp_starttls, smtp_user, webhook",
        ),
    ],
)
def test_a_key_under_the_wrong_table_says_whose_key_it_is(raw, message):
    """A key written above its table's header, or under another table, was only "unknown",
    though rosterflow knows it, under another table."""
    with pytest.raises(SettingsError) as refused:
        parse_settings(raw)
    assert str(refused.value) == message


def test_an_smtp_password_in_the_file_is_refused_without_being_shown():
    """It was refused as an unknown key, saying nothing of where a password goes."""
    with pytest.raises(SettingsError) as refused:
        parse_settings({"notify": {"smtp_password": "Hunter2", "email": "x@y"}})
    assert str(refused.value) == (
        "settings: [notify] smtp_password: a password is never written in a settings file; "
        "put it in the environment variable smtp_password_env names (default "
        "ROSTERFLOW_SMTP_PASSWORD)"
    )
