"""The client's credentials: no message shows what [source] client_secret_env or
client_secret_file say, since a secret may be written there by mistake."""

from __future__ import annotations

import pytest

from rosterflow.schemas.settings import Source, load_settings
from rosterflow.sis.credentials import credentials_for
from rosterflow.sis.errors import SisError

MISTAKE = "S3cr3t-XYZ-42"  # a secret where a variable's name or a file's path goes
ENVIRON = {"ROSTERFLOW_TOKEN_URL": "https://sis/token", "ROSTERFLOW_CLIENT_ID": "north"}


def refusal(source: Source, environ: dict[str, str]) -> str:
    with pytest.raises(SisError) as refused:
        credentials_for(source, "1.1", environ)
    return str(refused.value)


def test_a_secret_written_as_the_variable_name_is_not_printed():
    message = refusal(Source(client_secret_env=MISTAKE), ENVIRON)
    assert MISTAKE not in message
    assert message == (
        "no client secret: set ROSTERFLOW_TOKEN_URL, ROSTERFLOW_CLIENT_ID and the secret in the "
        "environment variable that [source] client_secret_env names, or the [source] table of "
        "the settings (--config)"
    )


def test_the_default_variable_is_named():
    message = refusal(Source(), ENVIRON)
    assert "the secret in the environment variable ROSTERFLOW_CLIENT_SECRET," in message


@pytest.mark.parametrize("auth", ["oauth2", "oauth1"])
def test_a_secret_written_as_the_file_path_is_not_printed(tmp_path, auth):
    config = tmp_path / "north.toml"
    config.write_text(f'[source]\nauth = "{auth}"\nclient_secret_file = "{MISTAKE}"\n')
    message = refusal(load_settings(config).source, ENVIRON)
    assert MISTAKE not in message and str(tmp_path) not in message
    assert message == (
        "[source] client_secret_file: cannot read the file it names (No such file or "
        "directory; a relative path is read beside the settings file)"
    )


def test_a_file_whose_secret_is_missing_is_named_by_its_setting(tmp_path):
    (tmp_path / MISTAKE).write_text("\n")  # an empty file: no secret in it
    config = tmp_path / "north.toml"
    config.write_text(f'[source]\nclient_secret_file = "{MISTAKE}"\n')
    message = refusal(load_settings(config).source, ENVIRON)
    assert MISTAKE not in message
    assert "the secret in the file that [source] client_secret_file names" in message


def test_a_relative_secret_file_is_read_beside_its_settings_file(tmp_path, monkeypatch):
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "north-sis").write_text("the-secret\n")
    config = folder / "north.toml"
    config.write_text('[source]\nclient_secret_file = "north-sis"\n')
    monkeypatch.chdir(tmp_path)  # not the settings' folder

    found = credentials_for(load_settings(config).source, "1.1", ENVIRON)
    assert found.secret.get_secret_value() == "the-secret"


def test_a_token_url_from_the_environment_holding_credentials_is_refused_unseen():
    environ = ENVIRON | {
        "ROSTERFLOW_TOKEN_URL": "https://north:Hunter2@sis/token",
        "ROSTERFLOW_CLIENT_SECRET": "s",
    }
    message = refusal(Source(), environ)
    assert message.startswith(
        "ROSTERFLOW_TOKEN_URL: the URL holds credentials (user:password@host); give it without "
    )
    assert "Hunter2" not in message


def test_a_secret_file_saved_with_a_byte_order_mark_gives_the_secret_alone(tmp_path):
    (tmp_path / "north-sis").write_bytes("\ufeffthe-secret\r\n".encode())  # as Notepad saves it
    config = tmp_path / "north.toml"
    config.write_text('[source]\nclient_secret_file = "north-sis"\n')

    found = credentials_for(load_settings(config).source, "1.1", ENVIRON)
    assert found.secret.get_secret_value() == "the-secret"


def test_a_secret_file_that_is_no_utf8_text_is_refused_in_one_line_unseen(tmp_path):
    (tmp_path / MISTAKE).write_bytes(b"caf\xe9-secret\n")  # Latin-1
    config = tmp_path / "north.toml"
    config.write_text(f'[source]\nclient_secret_file = "{MISTAKE}"\n')
    message = refusal(load_settings(config).source, ENVIRON)
    assert MISTAKE not in message and "caf" not in message
    assert message.startswith("[source] client_secret_file: the file it names is not UTF-8 text")


@pytest.mark.parametrize("secret", ["Pa\u20acss-7", "copied\u200b", "\u201cquoted\u201d"])
def test_a_secret_a_basic_header_cannot_carry_is_refused_in_one_line_unseen(secret):
    """The token request sends the client id and secret in an HTTP Basic header, which carries
    Latin-1 alone: authlib raised a UnicodeEncodeError inside the request (a traceback)."""
    message = refusal(Source(), ENVIRON | {"ROSTERFLOW_CLIENT_SECRET": secret})
    assert secret not in message and secret[-1] not in message
    assert message == (
        "the client secret holds a character outside Latin-1 (a typographic quote or an "
        "invisible character copied with it, say), which the token request's HTTP Basic "
        "authentication cannot send; check the secret in the environment variable "
        "ROSTERFLOW_CLIENT_SECRET"
    )


def test_a_client_id_a_basic_header_cannot_carry_is_refused_naming_it():
    environ = ENVIRON | {"ROSTERFLOW_CLIENT_ID": "north\u2013sis", "ROSTERFLOW_CLIENT_SECRET": "s"}
    message = refusal(Source(), environ)
    assert message == (
        "the client id 'north\u2013sis' holds a character outside Latin-1, which the token "
        "request's HTTP Basic authentication cannot send; check ROSTERFLOW_CLIENT_ID or "
        "[source] client_id"
    )


def test_a_latin1_secret_is_sent_and_oauth1_signs_any_secret():
    """Latin-1 fits the Basic header; OAuth 1.0a percent-encodes the secret into its key."""
    latin1 = credentials_for(Source(), "1.1", ENVIRON | {"ROSTERFLOW_CLIENT_SECRET": "caf\u00e9"})
    assert latin1 is not None and latin1.secret.get_secret_value() == "caf\u00e9"
    signed = credentials_for(
        Source(auth="oauth1"), "1.1", ENVIRON | {"ROSTERFLOW_CLIENT_SECRET": "Pa\u20acss"}
    )
    assert signed is not None and signed.auth == "oauth1"


@pytest.mark.parametrize("url", ["sis.example/oauth/token", "ftp://sis.example/token", "https://"])
def test_a_token_url_variable_no_request_can_go_to_is_refused_naming_it(url):
    """`ROSTERFLOW_TOKEN_URL=sis.example/oauth/token` was tried five times at every pull and
    answered in the HTTP client's words, naming no variable."""
    environ = {
        "ROSTERFLOW_TOKEN_URL": url,
        "ROSTERFLOW_CLIENT_ID": "rosterflow",
        "ROSTERFLOW_CLIENT_SECRET": "s3cret",
    }
    with pytest.raises(SisError, match=r"^ROSTERFLOW_TOKEN_URL: give the http:// or https://"):
        credentials_for(Source(), "1.1", environ)
