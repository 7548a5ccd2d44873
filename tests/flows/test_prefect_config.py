"""Whether a Prefect API is configured, found without importing Prefect, agrees with Prefect."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rosterflow.flows.prefect_config import api_url_found, prefect_api_configured

URL = "http://127.0.0.1:4200/api"


def profiles(active: str, **settings: dict[str, str]) -> str:
    lines = [f'active = "{active}"']
    for name, values in settings.items():
        lines += [f"[profiles.{name}]", *(f'{key} = "{value}"' for key, value in values.items())]
    return "\n".join(lines) + "\n"


# each case: files written into the working directory (".prefect/..." is PREFECT_HOME), and
# environment variables
CASES = {
    "nothing": ({}, {}),
    "environment": ({}, {"PREFECT_API_URL": URL}),
    "empty in the environment": ({}, {"PREFECT_API_URL": ""}),
    "empty in the environment wins over a profile": (
        {".prefect/profiles.toml": profiles("server", server={"PREFECT_API_URL": URL})},
        {"PREFECT_API_URL": ""},
    ),
    ".env": ({".env": f"PREFECT_API_URL={URL}\n"}, {}),
    ".env, quoted, with export": ({".env": f"# server\nexport PREFECT_API_URL='{URL}'\n"}, {}),
    ".env without the setting": ({".env": "OTHER=1\n"}, {}),
    ".env, quoted, with a comment": ({".env": f'PREFECT_API_URL="{URL}"  # the server\n'}, {}),
    "prefect.toml": ({"prefect.toml": f'[api]\nurl = "{URL}"\n'}, {}),
    "pyproject.toml": ({"pyproject.toml": f'[tool.prefect.api]\nurl = "{URL}"\n'}, {}),
    "pyproject.toml of a project without Prefect": (
        {"pyproject.toml": "[project]\nname = 'x'\n"},
        {},
    ),
    "active profile": (
        {".prefect/profiles.toml": profiles("server", server={"PREFECT_API_URL": URL})},
        {},
    ),
    "active profile without the setting": (
        {
            ".prefect/profiles.toml": profiles(
                "ephemeral",
                ephemeral={"PREFECT_SERVER_EPHEMERAL_ENABLED": "true"},
                server={"PREFECT_API_URL": URL},
            )
        },
        {},
    ),
    "profile chosen by PREFECT_PROFILE": (
        {
            ".prefect/profiles.toml": profiles(
                "ephemeral",
                ephemeral={"PREFECT_SERVER_EPHEMERAL_ENABLED": "true"},
                server={"PREFECT_API_URL": URL},
            )
        },
        {"PREFECT_PROFILE": "server"},
    ),
    "profiles file named by PREFECT_PROFILES_PATH": (
        {"elsewhere.toml": profiles("server", server={"PREFECT_API_URL": URL})},
        {"PREFECT_PROFILES_PATH": "elsewhere.toml"},
    ),
    "Prefect's own profile 'local', no profiles file": ({}, {"PREFECT_PROFILE": "local"}),
}


@pytest.fixture
def clean_environment(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("PREFECT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / ".prefect"))
    monkeypatch.chdir(tmp_path)
    return monkeypatch


@pytest.mark.parametrize("case", CASES)
def test_the_api_url_is_found_where_prefect_finds_it(case, tmp_path, clean_environment):
    from prefect.settings.models.root import Settings

    files, environment = CASES[case]
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for name, value in environment.items():
        clean_environment.setenv(name, value)

    assert api_url_found() == bool(Settings().api.url)


def test_a_file_that_cannot_be_read_leaves_the_answer_to_prefect(tmp_path, clean_environment):
    Path("prefect.toml").write_text("[api\nurl = ")
    assert api_url_found() is True


def test_once_prefect_is_imported_its_own_settings_answer():
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: URL}):
        assert prefect_api_configured() is True
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert prefect_api_configured() is False


UI_URL_OF = """
from rosterflow.flows.prefect_config import hide_userinfo_from_the_ui_url
hide_userinfo_from_the_ui_url()
from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL
print(PREFECT_UI_URL.value(), PREFECT_API_URL.value())
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("api", "ui", "expected"),
    [
        ("http://alice:s3cretPW@127.0.0.1:4299/api", None, "http://127.0.0.1:4299"),
        ("https://bob:pw@prefect.district.example/api/", None, "https://prefect.district.example"),
        ("http://alice:s3cretPW@127.0.0.1:4299/api", "http://ui.example", "http://ui.example"),
        ("http://127.0.0.1:4299/api", None, "http://127.0.0.1:4299"),  # Prefect's own
    ],
)
def test_the_ui_url_prefect_prints_holds_no_password(tmp_path, api, ui, expected):
    """Prefect derives its UI's URL from the API's and prints it ("View at ...", a served
    deployment's banner): with the API's user:password@ in it."""
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") or k == "PREFECT_HOME"
    }
    environment |= {"PREFECT_API_URL": api, "PREFECT_HOME": str(tmp_path)}
    if ui is not None:
        environment["PREFECT_UI_URL"] = ui
    shown = subprocess.run(
        [sys.executable, "-c", UI_URL_OF],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert shown == [expected, api]


@pytest.mark.parametrize(
    "line",
    [
        f'PREFECT_API_URL="{URL}"  # the district\'s server',
        f"PREFECT_API_URL='{URL}' # the server",
        f'export PREFECT_API_URL="{URL}"',
        f"PREFECT_API_URL={URL} # the server",
    ],
)
def test_a_quoted_url_in_dotenv_is_read_without_its_quotes_or_comment(line, clean_environment):
    """A quoted value followed by a comment kept its quotes: the UI's URL rosterflow derives
    from it (to hide a password) became `"http://...api"`, quotes and all, in every link."""
    from rosterflow.flows.prefect_config import configured_api_url

    Path(".env").write_text(f"{line}\n")
    assert configured_api_url() == URL
