"""`serve --sources` with each district's secret in a file (`flows.sources`): a district whose
secret cannot be read is reported as one that could not be pulled (exit 2, nothing written),
not as a sync that failed; the secret itself is never printed nor stored."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from rosterflow.demo.api import RosterApi, serving
from rosterflow.demo.district import generate_feed
from rosterflow.flows.cli import app
from rosterflow.flows.plain import sync
from rosterflow.flows.sources import pull_sources, scan_exit_code
from rosterflow.schemas.sources import PullSource

ROSTERING = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")
SECRET = "S3cr3t-XYZ-42"


@pytest.fixture
def api():
    district = {n: f for n, f in generate_feed(25, seed=1).items() if n in ROSTERING}
    roster = RosterApi(district, client=("rosterflow", SECRET))
    with serving(roster) as base:
        yield base, base + roster.base_path


def settings_with_secret_file(tmp_path, base: str, secret: bytes):
    (tmp_path / "north.secret").write_bytes(secret)
    config = tmp_path / "north.toml"
    config.write_text(
        f'[source]\ntoken_url = "{base}/token"\nclient_id = "rosterflow"\n'
        'client_secret_file = "north.secret"\n'
    )
    return config


def test_a_secret_file_that_is_no_utf8_text_is_a_district_not_pulled(tmp_path, api):
    """It was a sync that failed (exit 1, "failed: UnicodeDecodeError"), though no sync had
    begun and nothing was recorded."""
    base, url = api
    config = settings_with_secret_file(tmp_path, base, "caf\xe9".encode("latin-1"))
    warehouse = tmp_path / "w.duckdb"
    [outcome] = pull_sources(
        [PullSource(tenant="north", url=url, config=str(config))], str(warehouse), sync
    )

    assert (outcome.outcome, outcome.unreadable, outcome.run) == ("unreadable", True, None)
    assert outcome.line() == (
        "north: unreadable: [source] client_secret_file: the file it names is not UTF-8 text; "
        "save the secret in it as UTF-8 (an ASCII secret is); nothing was written"
    )
    assert scan_exit_code([outcome]) == 2
    assert not warehouse.exists()


@pytest.mark.parametrize("secret", [SECRET + "\n", SECRET + "\r\n"])
def test_a_secret_file_s_line_ending_is_no_part_of_the_secret_and_it_is_never_stored(
    tmp_path, api, secret
):
    base, url = api
    settings_with_secret_file(tmp_path, base, secret.encode("utf-8"))
    sources = tmp_path / "sources.toml"
    sources.write_text(f'[[source]]\ntenant = "north"\nurl = "{url}"\nconfig = "north.toml"\n')
    warehouse = tmp_path / "w.duckdb"

    result = CliRunner().invoke(
        app,
        ["serve", "--sources", str(sources), "--warehouse", str(warehouse), "--once", "--no-prefect", "-v"],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "north: applied — run 1," in " ".join(result.output.split())
    assert SECRET not in result.output
    for stored in tmp_path.glob("w.duckdb*"):
        assert SECRET.encode() not in stored.read_bytes(), stored
