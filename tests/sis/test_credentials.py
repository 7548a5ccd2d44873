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
