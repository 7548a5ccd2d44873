"""The sources file of `serve --sources` (`schemas.sources`): a file that cannot be used is
refused in one line naming the district by its number and tenant, the key, its value (never
a URL's credentials or query) and what to give, as the settings are."""

from __future__ import annotations

from pathlib import Path

import pytest

from rosterflow.schemas.settings import SettingsError
from rosterflow.schemas.sources import load_sources

GIVES = "each [[source]] gives tenant, url and optionally config"
URL = "give the base URL of the district's OneRoster API, http:// or https://"
CONFIG = (
    "give the path of the district's settings file (beside this file when relative), or leave "
    "config out"
)
NORTH = '[[source]]\ntenant = "north"\nurl = "https://sis.north.example/ims/oneroster/v1p1"\n'


def refusal(tmp_path: Path, text: str) -> str:
    path = tmp_path / "sources.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as refused:
        load_sources(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message.removeprefix(f"{path}: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # pydantic's own words before: "source: Field required", "source.0.url: String should
        # match pattern '^https?://'", "source: Input should be a valid tuple"
        ("", f"no [[source]] table; {GIVES}"),
        ("source = []\n", f"no [[source]] table; {GIVES}"),
        ('source = "north"\n', f"no [[source]] table; {GIVES}"),
        ('[source]\ntenant = "a"\nurl = "https://x/v1p1"\n', f"[source] is one table; write each district as [[source]]; {GIVES}"),
        ('source = ["north"]\n', f"[[source]] 1 must be a table; {GIVES}"),
        ("sources = 1\n" + NORTH, f"unknown setting sources; the file lists districts only, {GIVES}"),
        ('[[source]]\ntenant = "a"\n', f"[[source]] 1 (tenant 'a'): no url; {URL}"),
        ('[[source]]\nurl = "https://x/v1p1"\n', "[[source]] 1: no tenant; give the tenant's name, which cannot be empty or blank, nor start or end with spaces"),
        (NORTH + '[[source]]\ntenant = "south"\nurl = "sis.south.example"\n', f"[[source]] 2 (tenant 'south') url = 'sis.south.example'; {URL}"),
        (NORTH + 'secret = "x"\n', f"[[source]] 1 (tenant 'north'): unknown key secret; {GIVES}"),
        ('[[source]]\ntenant = 5\nurl = "https://x/v1p1"\n', "[[source]] 1 tenant = 5; give the tenant's name, which cannot be empty or blank, nor start or end with spaces"),
        # as `--tenant` refuses a blank name
        ('[[source]]\ntenant = "  "\nurl = "https://x/v1p1"\n', "[[source]] 1 tenant = '  '; give the tenant's name, which cannot be empty or blank, nor start or end with spaces"),
        ('[[source]]\ntenant = "north "\nurl = "https://x/v1p1"\n', "[[source]] 1 (tenant 'north ') tenant = 'north '; give the tenant's name, which cannot be empty or blank, nor start or end with spaces"),
        (NORTH + "config = 3\n", f"[[source]] 1 (tenant 'north') config = 3; {CONFIG}"),
        # an empty config was the sources file's folder, refused at every scan as a folder
        (NORTH + 'config = ""\n', f"[[source]] 1 (tenant 'north') config = ''; {CONFIG}"),
        ('[[source]]\ntenant = "a"\nurl = ["https://x/v1p1"]\n', f"[[source]] 1 (tenant 'a') url must be text; {URL}"),
        # a query may hold a token: not shown
        ('[[source]]\ntenant = "a"\nurl = "sis.example/v1p1?token=SECRET"\n', f"[[source]] 1 (tenant 'a') url = 'sis.example/v1p1?…'; {URL}"),
    ],
)  # fmt: skip
def test_a_sources_file_that_cannot_be_used_is_refused_in_words(tmp_path, text, message):
    assert refusal(tmp_path, text) == message


@pytest.mark.parametrize(
    "url",
    [
        "https://bob:Hunter2@sis.example/v1p1",
        # a wrong scheme was refused before the credentials were looked for
        "ftp://bob:Hunter2@sis.example/v1p1",
        "bob:Hunter2@sis.example/v1p1",
    ],
)
def test_a_url_holding_credentials_is_refused_unseen_whatever_its_scheme(tmp_path, url):
    message = refusal(tmp_path, f'[[source]]\ntenant = "a"\nurl = "{url}"\n')
    assert message == (
        "[[source]] 1 (tenant 'a') url: the URL holds credentials (user:password@host); give "
        "them in the [source] table of the district's settings (config) or the environment "
        "instead"
    )


def test_a_district_s_config_is_read_beside_the_file_or_in_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = tmp_path / "etc" / "sources.toml"
    path.parent.mkdir()
    path.write_text(
        NORTH
        + 'config = "north.toml"\n\n'
        + '[[source]]\ntenant = "south"\nurl = "https://s.example/v1p1"\nconfig = "~/south.toml"\n'
        + '[[source]]\ntenant = "east"\nurl = "https://e.example/v1p1"\nconfig = "/srv/east.toml"\n'
    )
    configs = [s.config for s in load_sources(path)]
    # `~` was taken as a folder beside the sources file, named "~"
    assert configs == [
        str(tmp_path / "etc" / "north.toml"),
        str(tmp_path / "home" / "south.toml"),
        "/srv/east.toml",
    ]


def test_a_sources_file_saved_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "sources.toml"
    path.write_bytes(b"\xef\xbb\xbf" + NORTH.encode())
    assert [s.tenant for s in load_sources(path)] == ["north"]
