"""A pulled feed's run starts when its pull began reading the API (`Pulled.started_at` through
`flows.sources.sync_pulled` to `flows.steps.start_run`), never before the tenant's latest run,
and the next delta asks from there less `[source] delta_overlap_minutes`: used as a district
data team uses it, `sync URL` twice (in this process and as Prefect flow runs), `serve
--sources --once`, `runs`, `undo` and `approve` of pulled runs, a dry run, and a pull that
breaks half way, each into a real DuckDB file from the demo API."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from rosterflow.demo.api import RosterApi, serving
from rosterflow.demo.district import generate_feed
from rosterflow.flows.cli import app
from rosterflow.flows.plain import sync
from rosterflow.flows.sources import sync_pulled
from rosterflow.schemas.settings import Source
from rosterflow.schemas.writer import write_feed
from rosterflow.sis.client import RetryPolicy
from rosterflow.sis.pull import filter_since, pull

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

runner = CliRunner()
ROSTERING = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")
# a delta that asks from the last pull's run start exactly: what the run's start is, is seen
NO_OVERLAP = "[source]\ndelta = true\nfull_pull_days = 7\ndelta_overlap_minutes = 0\n"
# every lms table's history and the column that keys its rows
HISTORY_KEYS = {
    "domains": "domain_id",
    "users": "user_id",
    "courses": "course_id",
    "enrollments": "enrollment_id",
    "observers": "observer_id",
}


def district() -> dict[str, pl.DataFrame]:
    return {name: frame for name, frame in generate_feed(12, seed=3).items() if name in ROSTERING}


def sis_time(moment: datetime | None = None) -> str:
    """A dateLastModified as a SIS writes it (UTC, to the millisecond)."""
    moment = moment or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def renamed(frames: dict[str, pl.DataFrame], index: int, name: str) -> dict[str, pl.DataFrame]:
    """The roster with user `index` (in file order) given `name`, modified now."""
    users = frames["users"]
    chosen = pl.int_range(pl.len()) == index
    return frames | {
        "users": users.with_columns(
            pl.when(chosen).then(pl.lit(name)).otherwise(pl.col("givenName")).alias("givenName"),
            pl.when(chosen)
            .then(pl.lit(sis_time()))
            .otherwise(pl.col("dateLastModified"))
            .alias("dateLastModified"),
        )
    }


def cli(*arguments: object, code: int = 0) -> str:
    """What a command printed (its wrapped lines joined again); it must exit with `code`."""
    result = runner.invoke(app, [str(a) for a in arguments])
    assert result.exit_code == code, result.output
    return " ".join(result.output.split())


def sync_url(url: str, warehouse: Path, config: Path, *more: str, code: int = 0) -> str:
    common = ("--tenant", "north", "--warehouse", warehouse, "--config", config, "--no-prefect")
    return cli("sync", url, *common, *more, code=code)


def audit_runs(warehouse: Path) -> list[tuple[int, str, datetime, datetime, str]]:
    """(run_id, outcome, started_at, finished_at, feed_name) of every run, in run order."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(
            "select run_id, outcome, started_at, finished_at, feed_name "
            "from audit.sync_runs order by run_id"
        ).fetchall()


def history_out_of_order(warehouse: Path) -> pl.DataFrame:
    """Every version of an lms row that ends before it begins, or that does not begin where
    the row's version before it (by the run that opened it) ended; empty when history holds
    each row's versions in order, end to end."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        versions = " union all ".join(
            f"select '{table}' as table_name, {key} as row_id, valid_from, valid_to, "
            f"opened_run_id from history.{table} where valid_from is not null"
            for table, key in HISTORY_KEYS.items()
        )
        return con.sql(
            f"""
            with versions as ({versions}),

            chained as (
                select
                    *,
                    lag(valid_to) over (
                        partition by table_name, row_id order by opened_run_id
                    ) as previous_valid_to,
                from versions
            )

            select * from chained
            where valid_to < valid_from
                or (previous_valid_to is not null and previous_valid_to <> valid_from)
            """
        ).pl()


def naive(moment: datetime) -> datetime:
    """audit's timestamps: UTC without a zone."""
    return moment.astimezone(UTC).replace(tzinfo=None)


class FirstRequest:
    """A fault hook that answers nothing otherwise and notes when each pull's first request
    came (after its `reset`)."""

    def __init__(self) -> None:
        self.moments: list[datetime] = []
        self._waiting = True

    def reset(self) -> None:
        self._waiting = True

    def __call__(self, method: str, path: str, query: dict[str, str]):
        if self._waiting:
            self._waiting = False
            self.moments.append(datetime.now(UTC))
        return None


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "rosterflow.toml"
    path.write_text(NO_OVERLAP)
    return path


def test_two_syncs_of_a_url_start_when_their_pulls_began_and_the_delta_asks_from_the_first(
    tmp_path, config
):
    """`sync URL` twice with `[source] delta`: each run's started_at is at or before its
    pull's first request, and the second, a delta, asks from the first run's start exactly
    (no overlap); the runs' starts and ends are in run order, and `runs` lists both."""
    warehouse = tmp_path / "w.duckdb"
    api = RosterApi(district())
    first_request = FirstRequest()
    api.fault = first_request
    with serving(api) as root:
        url = root + api.base_path
        before_first = datetime.now(UTC)
        first = sync_url(url, warehouse, config)
        api.load(renamed(district(), 0, "Renamed"))
        api.requests.clear()
        first_request.reset()
        second = sync_url(url, warehouse, config)

    assert "a full pull: the tenant's last applied run was no pull of it" in first
    first_run, second_run = audit_runs(warehouse)
    run_1, outcome_1, started_1, finished_1, _ = first_run
    run_2, outcome_2, started_2, finished_2, feed_2 = second_run
    assert (outcome_1, outcome_2) == ("applied", "applied")
    assert naive(before_first) <= started_1 <= naive(first_request.moments[0]) < finished_1
    assert finished_1 < started_2 <= naive(first_request.moments[1]) < finished_2
    # the delta asks for what changed after the first run's start, which is in its name
    asked = {r.split("filter=")[1].split("&")[0] for r in api.requests if "filter=" in r}
    expected = filter_since(started_1.replace(tzinfo=UTC))
    assert asked == {expected.replace(">", "%3E").replace("'", "%27").replace(":", "%3A")}
    assert feed_2 == f"{url}?filter={expected}"
    assert "1 users in" in second and "what changed since" in second
    listed = cli("runs", "--warehouse", warehouse)
    assert listed.index(f" {run_2} north") < listed.index(f" {run_1} north")
    assert history_out_of_order(warehouse).height == 0


def test_a_record_changed_while_the_pull_read_is_asked_for_again_by_the_next_delta(
    tmp_path, config
):
    """The point of starting the run when its pull began: a user renamed at the SIS while the
    first pull was under way, after the page holding it was read, is in the next delta even
    with no overlap, and lms ends with the new name."""
    warehouse = tmp_path / "w.duckdb"
    config.write_text(NO_OVERLAP + "page_size = 5\n")
    frames = district()
    api = RosterApi(frames)
    changed_during_pull = threading.Event()

    def rename_after_the_first_page(method: str, path: str, query: dict[str, str]):
        # the second page of users is asked for once the first was read: the first user is
        # renamed at the SIS now, too late for this pull (its modification after its start)
        if (
            path.endswith("/users")
            and query.get("offset") == "5"
            and not changed_during_pull.is_set()
        ):
            changed_during_pull.set()
            api.load(renamed(frames, 0, "Changed-Mid-Pull"))
        return None

    api.fault = rename_after_the_first_page
    first_user = f"or--{frames['users']['sourcedId'][0]}"
    with serving(api) as root:
        url = root + api.base_path
        sync_url(url, warehouse, config)
        assert changed_during_pull.is_set()
        with duckdb.connect(str(warehouse), read_only=True) as con:
            stored = con.execute(
                "select given_name from lms.users where external_id = ?", [first_user]
            ).fetchone()
        assert stored != ("Changed-Mid-Pull",)  # the first pull read the page before
        second = sync_url(url, warehouse, config)

    assert "1 users in" in second
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            "select given_name from lms.users where external_id = ?", [first_user]
        ).fetchone() == ("Changed-Mid-Pull",)
    assert history_out_of_order(warehouse).height == 0


def test_history_stays_in_order_through_pulls_a_file_sync_an_undo_and_a_dry_run(tmp_path, config):
    """Pulled runs among a file sync, an undo of a pulled run and a dry run of the URL: the
    runs start in run order, every history version ends where the row's next one begins,
    none ends before it begins; the undo and the file sync make the next pull a full one,
    and the dry run writes nothing to lms and does not move where the next delta asks from."""
    warehouse = tmp_path / "w.duckdb"
    frames = district()
    api = RosterApi(frames)
    with serving(api) as root:
        url = root + api.base_path
        sync_url(url, warehouse, config)
        api.load(frames := renamed(frames, 0, "Second"))
        sync_url(url, warehouse, config)  # run 2, a delta
        api.load(frames := renamed(frames, 1, "Third"))
        sync_url(url, warehouse, config)  # run 3, a delta
        undone = cli("undo", "3", "--warehouse", warehouse)  # run 4
        assert "applied — run 4" in undone
        after_undo = sync_url(url, warehouse, config)  # run 5
        assert "a full pull: the tenant's last applied run was no pull of it" in after_undo
        export = write_feed(tmp_path / "export.zip", renamed(frames, 2, "FromFile"))
        cli("sync", export, "--tenant", "north", "--warehouse", warehouse, "--no-prefect")
        after_file = sync_url(url, warehouse, config)  # run 7, full: run 6 was the file
        assert "a full pull: the tenant's last applied run was no pull of it" in after_file
        with duckdb.connect(str(warehouse), read_only=True) as con:
            lms_before = con.sql("select * from lms.users order by user_id").pl()
        api.load(frames := renamed(frames, 3, "DryRun"))
        dry = sync_url(url, warehouse, config, "--dry-run")  # run 8, planned
        assert "planned — run 8" in dry
        with duckdb.connect(str(warehouse), read_only=True) as con:
            assert con.sql("select * from lms.users order by user_id").pl().equals(lms_before)
        api.requests.clear()
        sync_url(url, warehouse, config)  # run 9: a delta from run 7's start, not run 8's

    runs = audit_runs(warehouse)
    assert [r[1] for r in runs] == [*["applied"] * 7, "planned", "applied"]
    starts = [r[2] for r in runs]
    assert starts == sorted(starts)
    assert all(started < finished for _, _, started, finished, _ in runs)
    asked = {r.split("filter=")[1].split("&")[0] for r in api.requests if "filter=" in r}
    from_run_7 = filter_since(starts[6].replace(tzinfo=UTC))
    assert asked == {from_run_7.replace(">", "%3E").replace("'", "%27").replace(":", "%3A")}
    assert history_out_of_order(warehouse).height == 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            "select count(*) from history.users where valid_to <= valid_from"
        ).fetchone() == (0,)


def test_a_held_pulled_run_approved_later_keeps_history_in_order_and_forces_a_full_pull(
    tmp_path,
):
    """A pull over `[safety] max_removal_share` is held, its run started when its pull
    began; `approve` applies it as a new run started later, and the next sync of the URL
    pulls in full (lms is what the approval left, not what a pull left)."""
    warehouse = tmp_path / "w.duckdb"
    config = tmp_path / "rosterflow.toml"
    config.write_text(NO_OVERLAP + "\n[safety]\nmax_removal_share = 0.1\n")
    frames = district()
    api = RosterApi(frames)
    first_request = FirstRequest()
    api.fault = first_request
    with serving(api) as root:
        url = root + api.base_path
        sync_url(url, warehouse, config)
        enrollments = frames["enrollments"]
        api.load(frames | {"enrollments": enrollments.head(enrollments.height // 2)})
        first_request.reset()
        held = sync_url(url, warehouse, config, "--full", code=1)
        assert "held — run 2" in held
        approved = cli("approve", "2", "--warehouse", warehouse)
        assert "run 3" in approved
        after = sync_url(url, warehouse, config)

    assert "a full pull: the last run applied a held run's plan" in after
    runs = audit_runs(warehouse)
    assert [r[1] for r in runs] == ["applied", "held", "applied", "applied"]
    held_started, approval_started = runs[1][2], runs[2][2]
    assert held_started <= naive(first_request.moments[1]) < approval_started
    assert [r[2] for r in runs] == sorted(r[2] for r in runs)
    assert history_out_of_order(warehouse).height == 0


def test_a_pull_that_breaks_half_way_writes_nothing(tmp_path, config, monkeypatch):
    """The API failing once some collections were read (users answer 500 every try): exit 2,
    "nothing was written", the warehouse file as it was byte for byte, and a tenant's first
    pull leaves no warehouse file behind."""
    monkeypatch.setattr(
        "rosterflow.sis.client.RetryPolicy",
        lambda **_: RetryPolicy(attempts=2, wait_initial=0.01, wait_max=0.1, timeout=10.0),
    )
    warehouse = tmp_path / "w.duckdb"
    api = RosterApi(district())
    with serving(api) as root:
        url = root + api.base_path
        sync_url(url, warehouse, config)
        before = warehouse.read_bytes()
        api.load(renamed(district(), 0, "Never"))

        def users_down(method: str, path: str, query: dict[str, str]):
            if path.endswith("/users"):
                return 500, {}, b'{"imsx_codeMajor":"failure"}'
            return None

        api.fault = users_down
        failed = sync_url(url, warehouse, config, code=2)
        first_pull = sync_url(url, tmp_path / "new.duckdb", config, code=2)

    for output in (failed, first_pull):
        assert "/users" in output and "HTTP 500" in output and "nothing was written" in output
    assert warehouse.read_bytes() == before
    assert [r[1] for r in audit_runs(warehouse)] == ["applied"]
    assert not (tmp_path / "new.duckdb").exists()


def test_serve_sources_once_starts_each_run_when_its_pull_began(tmp_path, config):
    """`serve --sources FILE --once --no-prefect` twice: the second scan's pull is a delta
    from the first scan's run start, and each run starts at or before its pull's first
    request."""
    warehouse = tmp_path / "w.duckdb"
    api = RosterApi(district())
    first_request = FirstRequest()
    api.fault = first_request
    sources = tmp_path / "sources.toml"
    with serving(api) as root:
        url = root + api.base_path
        sources.write_text(f'[[source]]\ntenant = "north"\nurl = "{url}"\nconfig = "{config}"\n')
        scan = ("serve", "--sources", sources, "--once", "--no-prefect", "--warehouse", warehouse)
        first = cli(*scan)
        api.load(renamed(district(), 0, "Rescanned"))
        first_request.reset()
        api.requests.clear()
        second = cli(*scan)

    assert "north: applied — run 1" in first
    assert "north: applied — run 2, 1 changes" in second
    (_, _, started_1, finished_1, _), (_, _, started_2, _, feed_2) = audit_runs(warehouse)
    assert started_1 <= naive(first_request.moments[0]) < finished_1 < started_2
    assert started_2 <= naive(first_request.moments[1])
    assert feed_2 == f"{url}?filter={filter_since(started_1.replace(tzinfo=UTC))}"


@pytest.mark.flow
def test_a_url_synced_twice_as_prefect_flow_runs_passes_when_its_pull_began(tmp_path, config):
    """`sync URL --prefect` twice: the flow run's `started_at` parameter (a datetime, sent to
    the Prefect API as JSON) is the pull's start, audit records it as the run's start, and
    the second flow run is a delta from the first's."""
    import asyncio

    from prefect.client.orchestration import get_client

    warehouse = tmp_path / "w.duckdb"
    api = RosterApi(district())
    with serving(api) as root:
        url = root + api.base_path
        common = ("--tenant", "north", "--warehouse", warehouse, "--config", config, "--prefect")
        cli("sync", url, *common)
        api.load(renamed(district(), 0, "ByPrefect"))
        second = cli("sync", url, *common)

    assert "1 users in" in second
    (_, _, started_1, _, feed_1), (_, _, started_2, _, feed_2) = audit_runs(warehouse)
    assert feed_2 == f"{url}?filter={filter_since(started_1.replace(tzinfo=UTC))}"

    async def parameters_by_name() -> dict[str, dict]:
        async with get_client() as client:
            return {run.name: run.parameters for run in await client.read_flow_runs()}

    sent = asyncio.run(parameters_by_name())
    for feed, started in ((feed_1, started_1), (feed_2, started_2)):
        parameter = datetime.fromisoformat(sent[feed]["started_at"])
        assert naive(parameter) == started


def test_a_pulled_run_never_starts_before_the_tenants_latest_run(tmp_path):
    """A pull that began before another run of the tenant started (a file sync while the pull
    read) starts its run no earlier than that run's start: history's versions stay in order."""
    warehouse = tmp_path / "w.duckdb"
    frames = district()
    api = RosterApi(frames)
    with serving(api) as root:
        url = root + api.base_path
        first = sync_pulled(
            pull(url, Source()), None, sync, warehouse=str(warehouse), tenant="north"
        )
        assert first.outcome == "applied"
        under_way = pull(url, Source())  # read before the file sync below, synced after it
        export = write_feed(tmp_path / "export.zip", renamed(frames, 0, "FromFile"))
        assert sync(feed=str(export), warehouse=str(warehouse), tenant="north").outcome == (
            "applied"
        )
        late = sync_pulled(under_way, None, sync, warehouse=str(warehouse), tenant="north")

    assert late.outcome == "applied"
    runs = audit_runs(warehouse)
    assert runs[2][2] >= runs[1][2] > naive(under_way.started_at)
    assert history_out_of_order(warehouse).height == 0


# --- the runs around a pull that write no history, or the same moment ------------------------


def test_a_pulled_run_clamped_to_the_latest_run_starts_strictly_after_it(tmp_path):
    """A pull that began before a file sync of the tenant, synced after it: its run starts
    after the file sync's, not at the same moment, so that the user both runs changed has no
    version that ends where it begins, and `order by valid_from` (docs/how-to/query.md) puts
    each row's versions in one order."""
    warehouse = tmp_path / "w.duckdb"
    frames = district()
    api = RosterApi(frames)
    with serving(api) as root:
        url = root + api.base_path
        sync_pulled(pull(url, Source()), None, sync, warehouse=str(warehouse), tenant="north")
        under_way = pull(url, Source())
        export = write_feed(tmp_path / "export.zip", renamed(frames, 0, "FromFile"))
        sync(feed=str(export), warehouse=str(warehouse), tenant="north")
        sync_pulled(under_way, None, sync, warehouse=str(warehouse), tenant="north")

    runs = audit_runs(warehouse)
    assert runs[2][2] > runs[1][2]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            "select count(*) from history.users where valid_to = valid_from"
        ).fetchone() == (0,)


def test_a_dry_run_during_a_pull_does_not_move_where_the_next_delta_asks_from(tmp_path, config):
    """A user renamed at the SIS while a pull was under way, after it was read; a dry run of
    the URL (writing no lms, no history) before that pull is synced: the pulled run starts
    when its pull began, and the next delta, with no overlap, asks from there and brings the
    new name."""
    warehouse = tmp_path / "w.duckdb"
    frames = district()
    api = RosterApi(frames)
    first_user = f"or--{frames['users']['sourcedId'][0]}"
    with serving(api) as root:
        url = root + api.base_path
        sync_url(url, warehouse, config)
        under_way = pull(url, Source())  # a scan's full pull, say, read before the rename
        api.load(renamed(frames, 0, "Changed-Mid-Pull"))
        sync_url(url, warehouse, config, "--dry-run")  # a person previewing meanwhile
        sync_pulled(under_way, None, sync, warehouse=str(warehouse), tenant="north")
        sync_url(url, warehouse, config)

    runs = audit_runs(warehouse)
    assert [r[1] for r in runs] == ["applied", "planned", "applied", "applied"]
    assert runs[2][2] == naive(under_way.started_at)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            "select given_name from lms.users where external_id = ?", [first_user]
        ).fetchone() == ("Changed-Mid-Pull",)
