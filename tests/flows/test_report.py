"""What a person reads after a sync (`flows.report`): the changes, how the run was planned and
one line saying what became of it, for real runs of a literal district."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import polars as pl
from rich.console import Console

from rosterflow.flows.operations import approve_run
from rosterflow.flows.pipeline import run_sync
from rosterflow.flows.report import counted, print_sync_result, sync_verdict
from rosterflow.schemas.runs import SyncResult
from rosterflow.schemas.settings import parse_settings
from rosterflow.warehouse.schema import connect
from tests.feeds import frame, tiny_district, with_cell, without_students, write_feed

SETTINGS = parse_settings({})


def printed(result: SyncResult, width: int = 60) -> list[str]:
    """The lines `print_sync_result` writes, on a console narrower than any verdict."""
    out = StringIO()
    print_sync_result(Console(file=out, width=width, color_system=None), result)
    return out.getvalue().splitlines()


def synced_once(tmp_path: Path) -> Path:
    warehouse = tmp_path / "w.duckdb"
    feed = write_feed(tmp_path / "north.zip", tiny_district())
    assert run_sync(feed, warehouse, SETTINGS, "north").outcome == "applied"
    return warehouse


def test_a_dry_run_over_a_guard_says_in_one_line_that_it_would_be_held_and_why(tmp_path):
    warehouse = synced_once(tmp_path)
    emptied = write_feed(tmp_path / "north-2.zip", without_students(tiny_district()))

    dry = run_sync(emptied, warehouse, SETTINGS, "north", dry_run=True)
    held = run_sync(emptied, warehouse, SETTINGS, "north")

    assert (dry.outcome, dry.exit_code, held.outcome) == ("planned", 0, "held")
    # the reason, in the very words of the held run's message (which adds how to decide)
    reason, _, decide = held.message.partition(". The run is held: ")
    assert reason.startswith("this feed would remove 2 of the tenant's 5 active managed users")
    assert "--max-removal-share" in reason and "rosterflow approve" in decide
    verdict = printed(dry)[-1]  # one line, however narrow the console
    assert verdict == (
        "north-2.zip: planned — run 2, tenant north, 6 changes planned (dry run: nothing "
        f"applied; see audit.changes); would be held: {reason}"
    )
    assert printed(held)[-1] == (
        "north-2.zip: held — run 3, tenant north, 6 changes planned and held, nothing "
        f"applied: {held.message}"
    )


def test_a_dry_run_over_no_guard_says_only_that_it_planned(tmp_path):
    warehouse = synced_once(tmp_path)
    renamed = with_cell(tiny_district(), "users", 0, "familyName", "Byron")

    dry = run_sync(
        write_feed(tmp_path / "north-2.zip", renamed), warehouse, SETTINGS, "north", True
    )

    assert dry.message is None
    assert sync_verdict(dry) == (
        "north-2.zip: [bold cyan]planned[/] — run 2, tenant north, 1 change planned (dry run: "
        "nothing applied; see audit.changes)"
    )


def test_the_planning_line_counts_removed_records_apart_from_those_the_feed_has(tmp_path):
    """Removed records are not among the feed's: never more records changed than there are."""
    warehouse = synced_once(tmp_path)
    emptied = without_students(tiny_district())  # 2 students and their 3 enrollments leave
    total = sum(frame.height for frame in emptied.values())

    dry = run_sync(
        write_feed(tmp_path / "north-2.zip", emptied), warehouse, SETTINGS, "north", True
    )

    line = printed(dry)[-2]
    assert line == f"planned incrementally: 1 of {total} records changed and 5 removed since run 1"
    changed, of = map(int, re.search(r"(\d+) of (\d+) records", line).groups())
    assert changed <= of
    # the one changed record: the parent, no longer linked to the student who left
    assert dry.summary.filter(pl.col("entity") == "observer")["action"].to_list() == ["delete"]


def test_a_run_id_its_time_and_its_count_never_wrap_in_the_runs_table_at_80_columns():
    """A per-tenant layout's run ids are long (2199023255553); an id cut over two lines cannot
    be copied into `rosterflow undo`."""
    from datetime import datetime

    from rosterflow.flows.report import runs_table

    listed = pl.DataFrame(
        {
            "run_id": [2199023255553, 2199023255554],
            "tenant": ["a-district-with-a-long-name"] * 2,
            "started_at": [datetime(2026, 12, 5, 15, 44, 1), datetime(2026, 12, 5, 15, 45, 2)],
            "outcome": ["applied", "applied"],
            "decision": ["undone by run 2199023255554", None],
            "feed_name": ["district-export-2026-12-05.zip", "undo of run 2199023255553"],
            "changes": [1139, 1_140_000],
            "planning": [None, None],
            "message": [None, "undid run 2199023255553; the stored records are as before it"],
        }
    )
    out = StringIO()
    Console(file=out, width=80).print(runs_table(listed))
    lines = out.getvalue().splitlines()

    assert max(len(line) for line in lines) <= 80
    for run_id, started in [
        ("2199023255553", "2026-12-05 15:44:01"),
        ("2199023255554", "2026-12-05 15:45:02"),
    ]:
        assert any(re.match(rf"^ +{run_id} +\S+ +{started} ", line) for line in lines), "\n".join(
            lines
        )
    assert sum(" 1,139 " in line for line in lines) == 1, "\n".join(lines)
    assert sum(" 1,140,000 " in line for line in lines) == 1, "\n".join(lines)


def test_a_run_rejected_without_issues_points_at_its_run_not_at_an_empty_audit_issues(tmp_path):
    """A managed external ID on two lms rows (a hand edit) rejects the run before validation
    has anything to say: the verdict names the run's row, not the issues it has none of."""
    warehouse = synced_once(tmp_path)
    with connect(warehouse) as con:
        con.execute(
            "insert into lms.users (user_id, tenant, external_id, role, username, status, "
            "origin) select next_id, 'north', 'or--u-s1', 'student', 'sam.2', 'active', "
            "'manual' from audit.next_ids where table_name = 'users'"
        )
    feed = write_feed(tmp_path / "north-2.zip", tiny_district())

    rejected = run_sync(feed, warehouse, SETTINGS, "north")

    assert (rejected.outcome, rejected.issues.height) == ("rejected", 0)
    assert printed(rejected)[-1] == (
        f"north-2.zip: rejected — run 2, tenant north: {rejected.message}. The warehouse is "
        "unchanged; the run is in audit.sync_runs (run_id = 2)"
    )


def test_a_run_rejected_by_errors_points_at_its_issues(tmp_path):
    feed = write_feed(
        tmp_path / "north.zip", with_cell(tiny_district(), "users", 0, "role", "wizard")
    )

    rejected = run_sync(feed, tmp_path / "w.duckdb", SETTINGS, "north")

    assert printed(rejected)[-1] == (
        "north.zip: rejected — run 1, tenant north: 1 validation error. The warehouse is "
        "unchanged; the issues are in audit.issues (run_id = 1)"
    )


def test_an_outcome_never_wraps_in_the_runs_table_at_80_columns():
    """`applie` over `d` reads as no outcome at all, and a script looking for the word finds
    none; the tenant, feed and message give way instead."""
    from datetime import datetime

    from rosterflow.flows.report import runs_table

    outcomes = ["applied", "rejected", "planned", "held", "failed"]
    listed = pl.DataFrame(
        {
            "run_id": list(range(1, 6)),
            "tenant": ["north"] * 5,
            "started_at": [datetime(2026, 12, 5, 15, 44, 1)] * 5,
            "outcome": outcomes,
            "decision": [None] * 5,
            "feed_name": ["north.zip"] * 5,
            "changes": [33] * 5,
            "planning": [None] * 5,
            "message": ["this feed would remove 2 of the tenant's 5 active managed users"] * 5,
        }
    )
    out = StringIO()
    Console(file=out, width=80).print(runs_table(listed))
    lines = out.getvalue().splitlines()

    assert max(len(line) for line in lines) <= 80
    for run_id, outcome in enumerate(outcomes, start=1):
        assert any(re.match(rf"^ +{run_id} .* {outcome} ", line) for line in lines), "\n".join(
            lines
        )


def test_a_count_of_one_takes_the_singular():
    assert [counted(n, "error") for n in (0, 1, 2, 1200)] == [
        "0 errors",
        "1 error",
        "2 errors",
        "1,200 errors",
    ]
    assert counted(1, "warning") == "1 warning"


# --- adoptions ([identity] adopt_by) -------------------------------------------------------------


def made_by_hand(warehouse: Path, *accounts: tuple) -> None:
    """Accounts made by hand in tenant north before its first sync: (user_id, external_id,
    role, username)."""
    with connect(warehouse) as con:
        for account in accounts:
            con.execute(
                "insert into lms.users (user_id, tenant, external_id, role, username, status, "
                "origin) values (?, 'north', ?, ?, ?, 'active', 'manual')",
                list(account),
            )


def adopting(share: float = 1.0) -> object:
    return parse_settings(
        {"identity": {"adopt_by": "username"}, "safety": {"max_adoption_share": share}}
    )


def test_a_dry_run_lists_each_adoption_and_says_how_to_go_on_from_a_dry_run(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    made_by_hand(
        warehouse,
        (9001, "hand-ada", "teacher", " Ada.Lovelace"),
        (9002, "[red]hand-alan", "teacher", "ALAN.TURING"),  # markup, printed as it is
        (9003, None, "student", "sam.stone"),  # a username the SIS leaves as it is
    )
    feed = write_feed(tmp_path / "north.zip", tiny_district())

    dry = run_sync(feed, warehouse, adopting(0.5), "north", dry_run=True)

    lines = [line.rstrip() for line in printed(dry, width=120)]
    title = lines.index("Adoptions: 3 accounts made by hand taken over")
    head, _, *rows = lines[title + 1 : title + 6]
    columns = ["sourcedId", "user_id", "external ID was", "username was"]  # (no email, login)
    assert re.split(r"\s{2,}", head.strip()) == columns
    # each record, the account it takes over (kept under its user_id) and what it was before
    assert [row.split() for row in rows] == [
        ["u-t1", "9001", "hand-ada", "Ada.Lovelace"],
        ["u-t2", "9002", "[red]hand-alan", "ALAN.TURING"],
        ["u-s1", "9003", "sam.stone"],
    ]
    # a dry run holds nothing to approve (`rosterflow approve` of it is refused): it says
    # what to do instead
    assert lines[-1].endswith(
        "If the matches are right (this dry run lists them), sync without --dry-run and "
        "approve the run it holds, or raise the share"
    )

    held = run_sync(feed, warehouse, adopting(0.5), "north")
    assert held.outcome == "held"
    assert "(the dry run lists them), approve the run, or raise the share" in held.message
    for result in (held, approve_run(warehouse, held.run_id)):  # the held run, then applied
        listed = [line.rstrip() for line in printed(result, width=120)]
        assert listed[title + 3 : title + 6] == lines[title + 3 : title + 6], result.outcome


def test_the_adoptions_shown_are_the_first_20_and_a_line_says_how_many_more(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    made_by_hand(warehouse, *((9100 + i, None, "student", f"kid{i:02}") for i in range(25)))
    district = tiny_district()
    kids = frame(
        "users",
        *(
            {"sourcedId": f"u-k{i:02}", "enabledUser": "true", "orgSourcedIds": "s1",
             "role": "student", "username": f"kid{i:02}", "givenName": "K", "familyName": "K"}
            for i in range(25)
        ),
    )  # fmt: skip
    district["users"] = pl.concat([district["users"], kids])
    feed = write_feed(tmp_path / "north.zip", district)

    dry = run_sync(feed, warehouse, adopting(), "north", dry_run=True)

    assert dry.adoptions.height == 25
    lines = [line.rstrip() for line in printed(dry, width=120)]
    title = lines.index("Adoptions: 25 accounts made by hand taken over")
    shown = [line.split()[:2] for line in lines[title + 3 : title + 23]]
    assert shown == [[f"u-k{i:02}", str(9100 + i)] for i in range(20)]
    assert lines[title + 23] == (
        f"… and 5 more (audit.changes, action 'adopt', run_id = {dry.run_id})"
    )


def test_a_query_s_numbers_and_times_never_wrap_at_80_columns():
    from datetime import datetime

    from rosterflow.flows.report import rows_table

    at = datetime(2026, 12, 6, 1, 31, 19, 419334)
    rows = pl.DataFrame(
        {
            "run_id": [1_099_511_627_777],
            "started_at": [at],
            "feed_name": ["north-district-nightly-export-of-the-student-information-system.zip"],
            "message": ["this feed would remove 2 of the tenant's 5 active managed users"],
        }
    )
    out = StringIO()
    Console(file=out, width=80).print(rows_table(rows))
    text = out.getvalue()

    assert max(len(line) for line in text.splitlines()) <= 80
    assert "1099511627777" in text and str(at) in text, text


def narrow_runs(run_ids: tuple[int, int] = (2199023255554, 2199023255553)) -> pl.DataFrame:
    from datetime import datetime

    return pl.DataFrame(
        {
            "run_id": list(run_ids),
            "tenant": ["north"] * 2,
            "started_at": [datetime(2026, 12, 5, 15, 45, 2), datetime(2026, 12, 5, 15, 44, 1)],
            "outcome": ["held", "applied"],
            "decision": [None, None],
            "feed_name": ["north.zip", "north.zip"],
            "changes": [1_140_000, 33],
            "planning": [None, None],
            "message": ["this feed would remove 2 of the tenant's 5 active managed users", None],
        }
    )


def test_a_table_too_narrow_for_its_run_ids_times_and_outcomes_prints_as_records():
    """At 40 columns rich cut every column to fit: the run id and tenant columns vanished,
    `2026-12-05 15:45` lost its seconds and `held`/`applied` read `hel`/`appl`."""
    from rosterflow.flows.report import print_table, runs_table

    out = StringIO()
    print_table(Console(file=out, width=40, color_system=None), runs_table(narrow_runs()))
    lines = [line.rstrip() for line in out.getvalue().splitlines()]

    assert max(len(line) for line in lines) <= 40
    assert lines[:6] == [
        "run            2199023255554",
        "tenant         north",
        "started (UTC)  2026-12-05 15:45:02",
        "outcome        held",
        "feed           north.zip",
        "changes        1,140,000",
    ]
    assert lines[6].startswith("why            this feed would remove")
    assert "run            2199023255553" in lines and "outcome        applied" in lines
    assert not any(line.startswith("decision") for line in lines)  # (empty: left out)


def test_a_table_that_fits_still_prints_as_a_table():
    from rosterflow.flows.report import print_table, runs_table

    out = StringIO()
    print_table(Console(file=out, width=120, color_system=None), runs_table(narrow_runs()))
    lines = out.getvalue().splitlines()

    assert any(
        re.match(r"^ +2199023255554 +north +2026-12-05 15:45:02 +held ", line) for line in lines
    ), lines
    assert not any(line.startswith("run ") for line in lines), lines  # (no records)


def test_a_query_too_wide_for_the_terminal_shows_every_column_of_each_row():
    from datetime import datetime

    from rosterflow.flows.report import print_rows

    rows = pl.DataFrame(
        {
            "run_id": [1, 2],
            "started_at": [datetime(2026, 12, 6, 1, 31, 19, 419334)] * 2,
            "finished_at": [datetime(2026, 12, 6, 1, 31, 20, 5)] * 2,
            "outcome": ["applied", "held"],
        }
    )
    out = StringIO()
    print_rows(Console(file=out, width=40, color_system=None), rows, max_rows=1)
    lines = [line.rstrip() for line in out.getvalue().splitlines()]

    assert lines[:4] == [
        "run_id       1",
        "started_at   2026-12-06 01:31:19.419334",
        "finished_at  2026-12-06 01:31:20.000005",
        "outcome      applied",
    ]
    assert lines[4].startswith("2 rows (the first 1 shown")


def test_a_query_whose_column_names_cannot_stand_whole_prints_as_records():
    """At 80 columns seven text columns of lms.courses were folded: `external` over `_id` in
    the header, `teacher_b` over `ase` in a value, both copied wrong into the next query."""
    from rosterflow.flows.report import print_rows

    rows = pl.DataFrame(
        {
            "course_id": [12],
            "external_id": ["or-base-teacher-usr-tch-3"],
            "kind": ["teacher_base"],
            "title": ["Algebra I"],
            "origin": ["sync"],
            "status": ["active"],
            "base_course_id": [7],
            "parent_course_id": [3],
            "domain_id": [2],
        }
    )
    out = StringIO()
    print_rows(Console(file=out, width=80, color_system=None), rows)
    lines = [line.rstrip() for line in out.getvalue().splitlines()]

    assert ["external_id", "or-base-teacher-usr-tch-3"] in [line.split() for line in lines]
    assert ["kind", "teacher_base"] in [line.split() for line in lines]
    wide = StringIO()
    print_rows(Console(file=wide, width=200, color_system=None), rows)
    assert wide.getvalue().splitlines()[0].split() == list(rows.columns)  # (room: a table)


def test_the_runs_at_80_columns_give_each_message_a_line_of_its_own():
    """In a cron log's 80 columns the `why` column got 5 characters: a held run's message ran
    down 20 lines of broken words (`remov` over `e`)."""
    from rosterflow.flows.report import print_runs

    out = StringIO()
    print_runs(Console(file=out, width=80, color_system=None), narrow_runs((41, 40)))
    lines = [line.rstrip() for line in out.getvalue().splitlines()]

    assert max(len(line) for line in lines) <= 80
    assert lines[0].split() == [
        "run",
        "tenant",
        "started",
        "(UTC)",
        "outcome",
        "feed",
        "changes",
    ]  # (no run shown has a decision: no such column)
    assert re.match(r"^ +41 +north +2026-12-05 15:45:02 +held .* 1,140,000$", lines[2])
    assert lines[-1] == "run 41: this feed would remove 2 of the tenant's 5 active managed users"
    assert not any(line.startswith("run 40:") for line in lines)  # (no message: no line)


def test_the_runs_on_a_wide_console_keep_their_why_column():
    from rosterflow.flows.report import print_runs

    out = StringIO()
    print_runs(Console(file=out, width=200, color_system=None), narrow_runs())
    lines = out.getvalue().splitlines()

    assert lines[0].split()[-1] == "why"
    assert (
        lines[2]
        .rstrip()
        .endswith("this feed would remove 2 of the tenant's 5 active managed users")
    )
    assert not any(line.startswith("run ") for line in lines)


def test_a_pulled_feed_s_long_url_is_cut_in_its_middle_and_empty_columns_left_out():
    """A delta pull's feed is its URL with the filter: folded whole into a cron log's 80
    columns it ran down twenty lines, beside a decision and a why column with nothing in
    them."""
    from datetime import datetime

    from rosterflow.flows.report import print_runs

    url = (
        "https://sis.lincoln-unified.example.org/ims/oneroster/rostering/v1p2"
        "?filter=dateLastModified%3E%272026-12-05T03%3A00%3A00.000Z%27"
    )
    listed = pl.DataFrame(
        {
            "run_id": [7],
            "tenant": ["lincoln"],
            "started_at": [datetime(2026, 12, 6, 3, 49, 48)],
            "outcome": ["applied"],
            "decision": pl.Series([None], dtype=pl.String),
            "feed_name": [url],
            "changes": [33],
            "planning": pl.Series([None], dtype=pl.String),
            "message": pl.Series([None], dtype=pl.String),
        }
    )
    out = StringIO()
    print_runs(Console(file=out, width=80, color_system=None), listed)
    lines = out.getvalue().splitlines()

    assert "decision" not in lines[0] and "why" not in lines[0], "\n".join(lines)
    assert len(lines) <= 2 + 3, "\n".join(lines)  # header, rule, the run in three lines at most
    feed = "".join(line[48:72].strip() for line in lines[2:])
    assert feed.startswith("https://sis.lincoln") and feed.endswith("00.000Z%27"), feed
    assert "…" in feed


def test_a_feed_s_short_name_is_never_split_in_the_runs_at_80_columns():
    """In a cron log's 80 columns `feed-2.zip` was printed as `feed-2.zi` over `p`: a grep of
    the log for the feed found nothing."""
    from rosterflow.flows.report import print_runs

    listed = narrow_runs((41, 40)).with_columns(
        pl.Series("tenant", ["lincoln-unified"] * 2),
        pl.Series("feed_name", ["lincoln-2026-12-07.zip", "feed-2.zip"]),
        pl.Series("decision", ["approved by run 3298534883331", None]),
    )
    out = StringIO()
    print_runs(Console(file=out, width=80, color_system=None), listed)
    text = out.getvalue()

    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80
    assert "lincoln-2026-12-07.zip" in text and "feed-2.zip" in text, text
    assert "lincoln-unified" in text and "1,140,000" in text, text
