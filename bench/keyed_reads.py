"""What a resync would pay to read its stored state by key, were the stored records of users.csv
and enrollments.csv kept as DuckDB tables (every field and the line key, and each user's named
agents exploded) instead of Parquet snapshots: the pieces of the design bench/README names for
the 1% change, measured on a copy of a synced warehouse's records, each run in a new process.

    .venv/bin/python bench/keyed_reads.py --warehouse W.duckdb --feed F-1pct.zip [--repeat 3]

W is a warehouse its tenant's first feed was synced into by this tree (`bench.py --keep`
leaves one), F the changed feed. The script writes the prototype tables into a file of its
own beside W (`W.keyed.duckdb`), leaves W as it was, and prints, per piece, the best wall and
CPU seconds: the stored keys read, the lines matched, the stored rows of the changed and gone
keys, what the checks and the plan read by key (a class's teachers, a student's enrollments,
the users of those, the agent lists naming a changed user), and the patch written, committed
and checkpointed. No check or derivation is run: the figures are the design's reads and
writes alone, the part no tuning of the checks or the plan takes off.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

PIECES = (
    "stored keys read (users, enrollments)",
    "lines matched",
    "stored rows of the changed and gone keys",
    "teachers of the touched classes",
    "enrollments of the touched students",
    "users of the touched students",
    "agent lists naming a changed user",
    "patch written and committed",
    "checkpoint",
)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def build(warehouse: Path, keyed: Path) -> None:
    """The tenant's stored users and enrollments (every field, line key) and each user's named
    agents, as three DuckDB tables in `keyed`."""
    import duckdb
    import polars as pl

    from rosterflow.flows.steps import settings_key
    from rosterflow.schemas.settings import Settings
    from rosterflow.warehouse.basis import stored_records_by_lines

    with duckdb.connect(str(warehouse), read_only=True) as source:
        (tenant,) = source.sql("select distinct tenant from oneroster.snapshots").fetchall()[0]
        stored = stored_records_by_lines(
            source, tenant, settings_key(Settings()), "sourcedId", whole=True
        )
    users, enrollments = stored.records["users"], stored.records["enrollments"]
    agents = (
        users.select("sourcedId", pl.col("agentSourcedIds").str.split(",").alias("agent"))
        .explode("agent")
        .with_columns(pl.col("agent").str.strip_chars())
        .filter(pl.col("agent").is_not_null() & (pl.col("agent") != ""))
    )
    for suffix in ("", ".wal"):
        Path(f"{keyed}{suffix}").unlink(missing_ok=True)
    with duckdb.connect(str(keyed)) as con:
        for name, frame in (("users", users), ("enrollments", enrollments), ("agents", agents)):
            con.register("frame", frame)
            con.execute(f"create table {name} as select * from frame")
            con.unregister("frame")
        con.execute("checkpoint")


def measure(keyed: Path, feed: Path) -> dict[str, tuple[float, float]]:
    """One round in this (fresh) process, on a copy of `keyed`."""
    import duckdb
    import polars as pl

    from rosterflow.schemas.lines import LINE_KEY, line_hash, line_keys, line_texts

    timings: dict[str, tuple[float, float]] = {}

    def timed(piece: str, work):
        cpu, start = _cpu(), time.perf_counter()
        found = work()
        timings[piece] = (time.perf_counter() - start, _cpu() - cpu)
        return found

    copy = keyed.with_name(keyed.name + ".run")
    shutil.copyfile(keyed, copy)
    with zipfile.ZipFile(feed) as archive:
        texts = {n: line_texts(archive.read(f"{n}.csv")) for n in ("users", "enrollments")}
    keys = {name: line_keys(line_hash(lines)) for name, lines in texts.items()}
    con = duckdb.connect(str(copy))
    stored = timed(
        PIECES[0],
        lambda: {n: con.sql(f"select sourcedId, {LINE_KEY} from {n}").pl() for n in keys},
    )

    def match() -> dict[str, pl.Series]:
        """Per file, the sourcedIds of its changed lines and of the stored records gone."""
        found = {}
        for name, file_keys in keys.items():
            pairs = (
                stored[name]
                .lazy()
                .with_row_index("at")
                .join(file_keys.to_frame(LINE_KEY).lazy().with_row_index("line"), on=LINE_KEY)
                .select("at", "line")
                .collect()
            )
            known = pl.zeros(file_keys.len(), pl.Boolean, eager=True).scatter(pairs["line"], True)
            kept = pl.zeros(stored[name].height, pl.Boolean, eager=True).scatter(pairs["at"], True)
            changed = texts[name].slice(1).filter(~known).str.split(",").list.first()
            found[name] = pl.concat(
                [changed.str.strip_chars('"'), stored[name].filter(~kept)["sourcedId"]]
            ).unique()
        return found

    changed = timed(PIECES[1], match)
    con.register("changed_users", changed["users"].to_frame("id"))
    con.register("changed_enrollments", changed["enrollments"].to_frame("id"))
    users_of = "select id from changed_users"
    enrollments_of = "select id from changed_enrollments"
    user_rows, enrollment_rows = timed(
        PIECES[2],
        lambda: (
            con.sql(f"select * from users where sourcedId in ({users_of})").pl(),
            con.sql(f"select * from enrollments where sourcedId in ({enrollments_of})").pl(),
        ),
    )
    con.register("classes", enrollment_rows.select(pl.col("classSourcedId").unique().alias("id")))
    students = pl.concat([changed["users"], enrollment_rows["userSourcedId"]]).unique()
    con.register("students", students.to_frame("id"))
    timed(
        PIECES[3],
        lambda: con.sql(
            'select sourcedId, classSourcedId, userSourcedId, "primary" from enrollments '
            "where role = 'teacher' and classSourcedId in (select id from classes)"
        ).pl(),
    )
    timed(
        PIECES[4],
        lambda: con.sql(
            "select * from enrollments where userSourcedId in (select id from students)"
        ).pl(),
    )
    timed(
        PIECES[5],
        lambda: con.sql("select * from users where sourcedId in (select id from students)").pl(),
    )
    timed(
        PIECES[6],
        lambda: con.sql(
            f"select * from agents where agent in ({users_of}) or sourcedId in ({users_of})"
        ).pl(),
    )

    def write() -> None:
        con.execute("begin")
        con.execute(f"delete from users where sourcedId in ({users_of})")
        con.execute(f"delete from enrollments where sourcedId in ({enrollments_of})")
        con.register("user_rows", user_rows)
        con.register("enrollment_rows", enrollment_rows)
        con.execute("insert into users select * from user_rows")
        con.execute("insert into enrollments select * from enrollment_rows")
        con.execute("commit")

    timed(PIECES[7], write)
    timed(PIECES[8], lambda: con.execute("checkpoint"))
    con.close()
    for suffix in ("", ".wal"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--feed", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--round", type=Path, help=argparse.SUPPRESS)  # (a child's round)
    args = parser.parse_args()
    keyed = args.warehouse.with_name(args.warehouse.name + ".keyed.duckdb")
    if args.round is not None:
        print(json.dumps(measure(args.round, args.feed)))
        return
    build(args.warehouse, keyed)
    rounds = []
    for _ in range(args.repeat):
        child = [sys.executable, __file__, "--warehouse", str(args.warehouse)]
        child += ["--feed", str(args.feed), "--round", str(keyed)]
        done = subprocess.run(child, capture_output=True, text=True, check=True, env=os.environ)
        rounds.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"{'piece':44} {'best s':>7} {'CPU s':>7}")
    total = 0.0
    for piece in PIECES:
        best = min(rounds, key=lambda found: found[piece][0])[piece]
        total += best[0]
        print(f"{piece:44} {best[0]:7.3f} {best[1]:7.3f}")
    print(f"{'sum of the best':44} {total:7.3f}")


if __name__ == "__main__":
    main()
