"""`rosterflow serve --sources FILE --once`: every district listed pulled from its API and
synced, one line each; one whose API fails is reported and the others are synced all the
same."""

from __future__ import annotations

import duckdb
import pytest
from typer.testing import CliRunner

from rosterflow.demo.api import RosterApi, serving
from rosterflow.demo.district import generate_feed
from rosterflow.flows.cli import app
from rosterflow.schemas.settings import SettingsError
from rosterflow.schemas.sources import load_sources

runner = CliRunner()
ROSTERING = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")


def district(seed: int):
    return {n: f for n, f in generate_feed(25, seed=seed).items() if n in ROSTERING}


def test_each_district_is_pulled_and_synced_and_a_failing_one_reported(tmp_path):
    north, south = RosterApi(district(1)), RosterApi(district(2))
    south.fault = lambda method, path, query: (404, {}, b"{}")  # a wrong base URL, say
    warehouse = tmp_path / "w.duckdb"
    with serving(north) as n, serving(south) as s:
        (tmp_path / "north.toml").write_text("[source]\npage_size = 20\n")
        sources = tmp_path / "sources.toml"
        sources.write_text(
            f'[[source]]\ntenant = "north"\nurl = "{n}{north.base_path}"\nconfig = "north.toml"\n\n'
            f'[[source]]\ntenant = "south"\nurl = "{s}{south.base_path}"\n'
        )
        result = runner.invoke(
            app,
            [
                "serve",
                "--sources",
                str(sources),
                "--warehouse",
                str(warehouse),
                "--once",
                "--no-prefect",
            ],
        )
    said = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert (
        "north: applied — run 1," in said
        and f"pulled from {n}{north.base_path}: a full pull" in said
    )
    assert (
        f"south: unreadable: {s}{south.base_path}/orgs?limit=1000&offset=0: HTTP 404 Not Found; nothing was written"
        in said
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.sql("select tenant, feed_name, outcome from audit.sync_runs").fetchall() == [
            ("north", f"{n}{north.base_path}", "applied")
        ]
    assert any("limit=20" in r for r in north.requests)  # north's own settings


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"no \[\[source\]\] table; each \[\[source\]\] gives tenant, url"),
        (
            '[[source]]\ntenant = "a"\n',
            r"\[\[source\]\] 1 \(tenant 'a'\): no url; give the base URL",
        ),
        (
            '[[source]]\ntenant = "a"\nurl = "sis.example"\n',
            r"\[\[source\]\] 1 \(tenant 'a'\) url = 'sis.example'; give the base URL of the "
            "district's OneRoster API, http:// or https://",
        ),
        (
            '[[source]]\ntenant = "a"\nurl = "https://x/v1p1"\nsecret = "x"\n',
            r"\[\[source\]\] 1 \(tenant 'a'\): unknown key secret; each",
        ),
        (
            '[[source]]\ntenant = "a"\nurl = "https://x/v1p1"\n[[source]]\ntenant = "a"\nurl = "https://y/v1p1"\n',
            "tenant 'a' is listed twice",
        ),
    ],
)
def test_a_sources_file_that_cannot_be_used_is_refused(tmp_path, text, message):
    path = tmp_path / "sources.toml"
    path.write_text(text)
    with pytest.raises(SettingsError, match=message):
        load_sources(path)


def test_a_sources_url_holding_credentials_is_refused_without_showing_them(tmp_path):
    path = tmp_path / "sources.toml"
    path.write_text('[[source]]\ntenant = "a"\nurl = "https://bob:Hunter2@sis.example/v1p1"\n')
    with pytest.raises(SettingsError) as refused:
        load_sources(path)
    assert str(refused.value).startswith(
        f"{path}: [[source]] 1 (tenant 'a') url: the URL holds credentials (user:password@host); "
        "give them in "
    )
    assert "Hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (
            "https://sis.example/ims/oneroster/v1p1?token=Tk-4711",
            "url = 'https://sis.example/ims/oneroster/v1p1?…': a base URL takes no query or "
            "fragment; give the credentials in the [source] table of the district's settings "
            "(config) or the environment",
        ),
        (
            "https://sis.example/ims/oneroster/v1p1#Tk-4711",
            "url = 'https://sis.example/ims/oneroster/v1p1#…': a base URL takes no query",
        ),
        (
            "https://sis.example/ims/oneroster",
            "url = 'https://sis.example/ims/oneroster': not a OneRoster base URL; give the one "
            "ending in /ims/oneroster/v1p1 (1.1) or /ims/oneroster/rostering/v1p2 (1.2)",
        ),
    ],
)
def test_a_sources_url_no_pull_can_take_is_refused_before_serving(tmp_path, url, says):
    """A URL every pull refuses (a query, a fragment, no OneRoster base) was taken, and
    `serve` ran, each scan reporting the district unreadable: the file is refused first, as
    one with no url is (`serve` checks the file before serving: `--once` shows the same), and
    a query's or fragment's text (a token, maybe) is not shown."""
    path = tmp_path / "sources.toml"
    path.write_text(f'[[source]]\ntenant = "north"\nurl = "{url}"\n')

    warehouse = tmp_path / "w.duckdb"
    served = runner.invoke(
        app, ["serve", "--sources", str(path), "--warehouse", str(warehouse), "--once"]
    )

    assert served.exit_code == 2, served.output
    said = " ".join(served.output.split())
    assert said.startswith(f"rosterflow: {path}: [[source]] 1 (tenant 'north') {says}"), said
    assert "Tk-4711" not in said
    assert not warehouse.exists()


def test_serve_needs_an_inbox_or_sources_not_both(tmp_path):
    neither = runner.invoke(app, ["serve", "--once"])
    both = runner.invoke(
        app, ["serve", "--inbox", str(tmp_path), "--sources", str(tmp_path / "s.toml"), "--once"]
    )
    asked = "rosterflow: give --inbox DIR (zips a SIS drops) or --sources FILE (districts' APIs)"
    assert neither.exit_code == 2
    assert " ".join(neither.output.split()) == asked
    assert both.exit_code == 2
    assert both.output.strip().count("\n") == 0, both.output
    assert " ".join(both.output.split()) == asked + ", not both"


def test_serve_sources_refuses_a_config_it_would_not_apply(tmp_path):
    """`--config` was read, then dropped: a team's [safety] guards never held a pull's run.
    Each district's settings are the sources file's `config`."""
    sources, settings = tmp_path / "s.toml", tmp_path / "guards.toml"
    sources.write_text(
        '[[source]]\ntenant = "north"\nurl = "https://sis.example/ims/oneroster/v1p1"\n'
    )
    settings.write_text("[safety]\nmax_removal_share = 0.05\n")
    warehouse = tmp_path / "w.duckdb"
    served = runner.invoke(
        app,
        [
            *("serve", "--sources", str(sources), "--config", str(settings)),
            *("--once", "--warehouse", str(warehouse)),
        ],
    )
    assert served.exit_code == 2, served.output
    said = " ".join(served.output.split())
    assert said.startswith("rosterflow: --config applies to an inbox's syncs; with --sources"), said
    assert not warehouse.exists()


@pytest.mark.parametrize(
    ("sources", "district", "says"),
    [
        ('[[source]]\ntenant = "north"\n', None, "url"),
        (
            '[[source]]\ntenant = "north"\nurl = "https://sis.example/ims/oneroster/v1p1"\n'
            'config = "north.toml"\n',
            "[policy]\nusers = 'vanish'\n",
            "[policy] users",
        ),
    ],
    ids=["sources file", "a district's settings"],
)
def test_serving_on_a_schedule_checks_the_sources_and_their_settings_first(
    tmp_path, sources, district, says
):
    """Else every scheduled run would fail alike, found only in Prefect's UI."""
    (tmp_path / "sources.toml").write_text(sources)
    if district is not None:
        (tmp_path / "north.toml").write_text(district)

    served = runner.invoke(
        app, ["serve", "--sources", str(tmp_path / "sources.toml"), "--interval", "60"]
    )

    assert served.exit_code == 2, served.output
    said = " ".join(served.output.split())
    assert said.startswith("rosterflow: ") and says in said and "Prefect" not in said


@pytest.mark.slow
@pytest.mark.flow
def test_the_scheduled_flow_syncs_each_district_as_a_subflow_run(tmp_path):
    from rosterflow.flows.pulls_flow import pulls_flow

    north = RosterApi(district(1))
    warehouse = tmp_path / "w.duckdb"
    with serving(north) as n:
        sources = tmp_path / "sources.toml"
        sources.write_text(f'[[source]]\ntenant = "north"\nurl = "{n}{north.base_path}"\n')
        lines = pulls_flow(str(sources), str(warehouse))
    assert len(lines) == 1 and lines[0].startswith("north: applied — run 1,")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.sql("select feed_name from audit.sync_runs").fetchall() == [
            (f"{n}{north.base_path}",)
        ]
