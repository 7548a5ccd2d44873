"""Where validate and sync spend their time at one size (default 200,000 students).

    .venv/bin/python bench/profile_sync.py [--students 200000] [--out bench/out/profile]
                                           [--parts validate,pieces,fresh,noop,change,explain,least,lines,first]

Each part runs in its own child process (this script with `--part`) and writes into `--out`:

  validate   pyinstrument of open_feed + validate_feed                  -> validate.txt/.html
  pieces     each piece of open_feed / validate_feed timed on its own (best of 3), and the
             pandera models against an equivalent single Polars select  -> pieces.csv
  fresh      pyinstrument of a fresh sync, and every SQL statement the sync sends to the
             warehouse timed (a timing proxy around the connection), with the WAL size
             after commit and the time of the final close (DuckDB checkpoints on close)
                                                                         -> fresh.txt/.html,
                                                                            fresh-sql.csv
  noop       the same for a no-op resync (into a copy of the fresh warehouse)
  change     the same for the 1%-changed feed
  explain    EXPLAIN ANALYZE of every insert/update/delete of a no-op and a 1% change resync
                                                                         -> explain-*.txt
  least      what a resync of the 1%-changed feed pays before it checks or plans anything,
             as long as it reads the whole feed: inflating the zip, the exact parse, the
             stored hashes, the lms checksum, each timed once in a new process as a sync
             meets it; and the apply and the opening and closing (checkpoint) of the resync
             itself; best of 3, against the floor (measured as bench.py does) and the 1%
             change's budget                                              -> least.csv
  lines      the same for a resync by its changed lines, as a sync reads one now: inflating,
             every file's sha256, splitting and hashing the lines, reading the stored records
             (every field, and the keys alone), matching the lines and parsing the changed;
             then the resync's validation, plan, apply, opening and closing; best of 3, with
             the sum of the pieces no design avoids                        -> lines.csv
  first      what a first load (a fresh sync of the feed) pays, each piece timed once in a new
             process as the sync meets it: inflating, the exact parse, validation's checks of
             every record, the plan (desired state and the creates), then in a new warehouse
             DuckDB inserting the lms rows, encoding and storing the Parquet snapshots, the
             commit and the closing checkpoint; best of 3, against the floor and the fresh
             sync's budget (5x, beyond a tiny sync)                        -> first.csv
  nights     the steady state: `--nights N` (30) nightly resyncs into a copy of the fresh
             warehouse, the 1%-changed feed and the first one by turns (each changes 1% of
             the district), each timed; then the 1% change on a copy of that warehouse against
             the same on a copy of the fresh one, interleaved, best of 3; and what the
             oneroster tables hold (bytes of blobs, rows) after the nights  -> nights.csv
The SQL timing wraps the `open_warehouse` of `flows.pipeline`, so the sync is still `run_sync`.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_spec = importlib.util.spec_from_file_location(
    "rosterflow_bench", Path(__file__).with_name("bench.py")
)
bench = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = bench  # dataclasses look their module up while the class is built
_spec.loader.exec_module(bench)

PARTS = ("validate", "pieces", "fresh", "noop", "change", "explain", "least", "lines", "first")
# `nights` (the steady state after a month of nightly resyncs) runs only when named


# --- a connection that times every statement ------------------------------------------------


class TimedRelation:
    def __init__(self, relation, query: str, log: list, kind: str = "sql"):
        self._relation, self._query, self._log, self._kind = relation, query, log, kind

    def pl(self, *args, **kwargs):
        start = time.perf_counter()
        frame = self._relation.pl(*args, **kwargs)
        self._log.append(
            {
                "kind": "read",
                "sql": _short(self._query),
                "seconds": time.perf_counter() - start,
                # a lazy frame is read when collected, not here
                "rows": getattr(frame, "height", None),
            }
        )
        return frame

    def __getattr__(self, name):
        return getattr(self._relation, name)


class TimedConnection:
    """Delegates to a DuckDB connection; logs each execute/sql with its time."""

    def __init__(self, con, path: Path, log: list, explain: dict | None = None):
        self._con, self._path, self._log, self._explain = con, path, log, explain

    def execute(self, query, parameters=None):
        start = time.perf_counter()
        verb = query.lstrip().split(None, 1)[0].lower()
        if self._explain is not None and verb in ("insert", "update", "delete"):
            rows = self._con.execute("explain analyze " + query, parameters).fetchall()
            self._explain.setdefault("plans", []).append(
                (query, time.perf_counter() - start, rows[0][1])
            )
            result = self._con
        else:
            result = self._con.execute(query, parameters)
        entry = {"kind": verb, "sql": _short(query), "seconds": time.perf_counter() - start}
        if verb == "commit":
            wal = self._path.with_name(self._path.name + ".wal")
            entry["wal_mib"] = round(wal.stat().st_size / 2**20, 1) if wal.exists() else 0
            entry["db_mib"] = round(self._path.stat().st_size / 2**20, 1)
        self._log.append(entry)
        return result

    def sql(self, query, *args, **kwargs):
        return TimedRelation(self._con.sql(query, *args, **kwargs), query, self._log)

    def __getattr__(self, name):
        return getattr(self._con, name)


def _short(query: str) -> str:
    return " ".join(query.split())[:160]


def timed_warehouse(log: list, explain: dict | None = None):
    from rosterflow.warehouse.schema import connect
    from rosterflow.warehouse.seal import sealing

    @contextmanager
    def open_warehouse(path, tenant=None, seal_days=0):  # a one-file warehouse
        # as warehouse.layout's: the seal vouches for lms when the sync's settings let it
        path = Path(path)
        start = time.perf_counter()
        con = connect(path)
        timed = TimedConnection(con, path, log, explain)
        log.append(
            {"kind": "connect", "sql": "connect + migrate", "seconds": time.perf_counter() - start}
        )
        with sealing(timed, path, seal_days):
            yield timed
            start = time.perf_counter()  # the block's exit closes (checkpoint, seal)
        log.append(
            {
                "kind": "close",
                "sql": "close (checkpoint, seal)",
                "seconds": time.perf_counter() - start,
                "db_mib": round(path.stat().st_size / 2**20, 1),
            }
        )

    return open_warehouse


# --- parts ------------------------------------------------------------------------------------


def profiled(name: str, out: Path, function: Callable[[], object]) -> float:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.002)
    start = time.perf_counter()
    profiler.start()
    try:
        function()
    finally:
        profiler.stop()
    seconds = time.perf_counter() - start
    (out / f"{name}.txt").write_text(
        profiler.output_text(unicode=True, color=False, show_all=False, short_mode=False)
    )
    (out / f"{name}.html").write_text(profiler.output_html())
    return seconds


def part_validate(feed: Path, out: Path) -> dict:
    from rosterflow.schemas.feed import open_feed
    from rosterflow.schemas.settings import Settings
    from rosterflow.schemas.validate import validate_feed

    seconds = profiled("validate", out, lambda: validate_feed(open_feed(feed), Settings()))
    return {"seconds": seconds}


def part_sync(mode: str, feed: Path, warehouse: Path, out: Path, explain: bool = False) -> dict:
    import rosterflow.flows.pipeline as pipeline
    from rosterflow.schemas.settings import Settings

    log: list[dict] = []
    plans: dict | None = {} if explain else None
    pipeline.open_warehouse = timed_warehouse(log, plans)  # what run_steps opens
    if explain:
        start = time.perf_counter()
        result = pipeline.run_sync(feed, warehouse, Settings())
        seconds = time.perf_counter() - start
        with (out / f"explain-{mode}.txt").open("w") as handle:
            for query, took, plan in sorted(plans.get("plans", []), key=lambda p: -p[1]):
                handle.write(f"-- {took:.3f} s: {' '.join(query.split())}\n{plan}\n\n")
    else:
        holder = {}
        seconds = profiled(
            mode,
            out,
            lambda: holder.setdefault("r", pipeline.run_sync(feed, warehouse, Settings())),
        )
        result = holder["r"]
    with (out / f"{mode}{'-explain' if explain else ''}-sql.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(
            handle, ["kind", "seconds", "rows", "wal_mib", "db_mib", "sql"], extrasaction="ignore"
        )
        writer.writeheader()
        writer.writerows(log)
    by_kind: dict[str, float] = {}
    for entry in log:
        by_kind[entry["kind"]] = by_kind.get(entry["kind"], 0) + entry["seconds"]
    return {
        "seconds": seconds,
        "outcome": result.outcome,
        "changes": int(result.summary["count"].sum()) if result.summary.height else 0,
        "sql_by_kind": by_kind,
        "slowest_sql": sorted(log, key=lambda e: -e["seconds"])[:12],
    }


def best_of(function: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def polars_model_check(rows, name: str):
    """The checks of MODELS[name] as one Polars select: a flag per (column, check), then the
    failing (row, column, check) cases, as pandera's failure_cases would list them."""
    import polars as pl

    from rosterflow.schemas.models import MODELS

    schema = MODELS[name].to_schema()
    flags = []
    for column_name, column in schema.columns.items():
        value = pl.col(column_name)
        if not column.nullable:
            flags.append(value.is_null().alias(f"{column_name}|not_nullable"))
        if column.unique:
            flags.append(value.is_duplicated().alias(f"{column_name}|field_uniqueness"))
        for check in column.checks:
            if check.name == "isin":
                bad = ~value.is_in(list(check.statistics["allowed_values"]))
            elif check.name == "str_matches":
                bad = ~value.str.contains(check.statistics["pattern"])
            elif check.name.startswith("calendar_date"):
                bad = value.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).is_null()
            else:
                raise NotImplementedError(check.name)
            flags.append(
                (value.is_not_null() & bad).fill_null(False).alias(f"{column_name}|{check.name}")
            )
    flagged = rows.lazy().select(pl.int_range(pl.len()).alias("index"), *flags)
    return (
        flagged.filter(pl.any_horizontal(pl.exclude("index")))
        .unpivot(index="index", variable_name="check")
        .filter("value")
        .collect()
    )


def part_pieces(feed: Path, out: Path) -> dict:
    import tempfile
    import zipfile

    import polars as pl

    import rosterflow.schemas.csvfile as csvfile
    from rosterflow.schemas import references, validate
    from rosterflow.schemas.csvfile import LINE
    from rosterflow.schemas.feed import file_sha256, open_feed
    from rosterflow.schemas.lenient import normalize
    from rosterflow.schemas.models import MODELS
    from rosterflow.schemas.settings import Settings
    from rosterflow.schemas.spec import FILE_SPECS

    rows_out: list[dict] = []

    def record(piece: str, file: str, seconds: float, note: str = ""):
        rows_out.append({"piece": piece, "file": file, "seconds": round(seconds, 4), "note": note})
        print(f"{piece:40s} {file:18s} {seconds:8.3f} s {note}", flush=True)

    record("sha256 of the zip", "", best_of(lambda: file_sha256(feed)))
    with zipfile.ZipFile(feed) as archive:
        members = {i.filename: archive.read(i) for i in archive.infolist()}
    record(
        "unzip all members", "", best_of(lambda: [zipfile.ZipFile(feed).read(n) for n in members])
    )
    tmp = Path(tempfile.mkdtemp(prefix="rf-pieces-"))
    try:
        for name, data in members.items():
            if name == "manifest.csv":
                continue
            (tmp / name).write_bytes(data)
            mib = f"{len(data) / 2**20:.0f} MiB"
            record("utf-8 decode check", name, best_of(lambda d=data: d.decode("utf-8")), mib)
            record(
                "floor: read_csv(bytes, infer_schema=False)",
                name,
                best_of(lambda d=data: pl.read_csv(d, infer_schema=False)),
            )
            record(
                "read_csv(path, infer_schema=False)",
                name,
                best_of(lambda p=tmp / name: pl.read_csv(p, infer_schema=False)),
            )
            header = csvfile._header(data)
            width = len(header)
            schema = {f"c{i}": pl.String for i in range(width)}
            read = lambda d=data, s=schema: pl.read_csv(  # noqa: E731
                d, has_header=False, skip_rows=1, schema=s, missing_columns="insert", quote_char='"'
            )
            record("_fast_parse: its read_csv(bytes, schema)", name, best_of(read))
            record(
                "_fast_parse: bytes.count , and \\n",
                name,
                best_of(lambda d=data: (d.count(b","), d.count(b"\n"))),
            )
            record(
                "parse_csv (whole, as open_feed calls it)",
                name,
                best_of(lambda d=data, n=name: csvfile.parse_csv(d, n)),
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    record("open_feed (whole)", "", best_of(lambda: open_feed(feed)))
    opened = open_feed(feed)
    settings = Settings()
    tables = {}
    for name, parsed in opened.files.items():
        spec = FILE_SPECS[name]
        rows = parsed.rows.select(*spec.header, LINE)
        file_name = spec.file_name
        record(
            "normalize (lenient)",
            file_name,
            best_of(lambda r=rows, s=spec: [normalize(r, s)[0], normalize(r, s)[1].collect()]) / 2,
        )
        normalized, _ = normalize(rows, spec)
        tables[name] = normalized
        plain = normalized.drop(LINE)
        record(
            "pandera model validate",
            file_name,
            best_of(lambda p=plain, n=name: MODELS[n].validate(p, lazy=True)),
        )
        record(
            "  alt: same checks as one Polars select",
            file_name,
            best_of(lambda p=plain, n=name: polars_model_check(p, n)),
        )
        try:
            from rosterflow.schemas.prescreen import suspect_rows

            record(
                "prescreen suspect_rows",
                file_name,
                best_of(lambda r=normalized, n=name: suspect_rows(r, MODELS[n])),
            )
        except ImportError:
            pass
        record(
            "model_issues (whole)",
            file_name,
            best_of(lambda r=normalized, s=spec: validate.model_issues(r, s).collect()),
        )
        record(
            "row_rule_issues",
            file_name,
            best_of(
                lambda r=normalized, s=spec, n=name: pl.concat(
                    [f.lazy() for f in validate.row_rule_issues(r, s, opened.modes[n], settings)]
                    or [pl.LazyFrame()]
                ).collect()
            ),
        )

    def collect(frames):
        return (
            pl.concat([f.lazy() for f in frames], how="vertical_relaxed").collect()
            if frames
            else None
        )

    record(
        "reference_issues (all files)",
        "",
        best_of(lambda: collect(references.reference_issues(tables, opened.modes, None))),
    )
    for name in tables:
        for column, target, is_list in references._references(FILE_SPECS[name]):
            rows = tables[name]
            record(
                f"  reference {column} -> {target}",
                FILE_SPECS[name].file_name,
                best_of(
                    lambda r=rows, c=column, t=target, il=is_list: (
                        references._referenced_ids(r, c, il)
                        .join(
                            references.live(tables[t])["sourcedId"].to_frame("ref").lazy().unique(),
                            on="ref",
                            how="anti",
                        )
                        .collect()
                    )
                ),
            )
    record(
        "  live(enrollments) (eager filter, all columns)",
        "enrollments.csv",
        best_of(lambda: references.live(tables["enrollments"])),
    )
    record("cycle_issues", "", best_of(lambda: collect(references.cycle_issues(tables))))
    record(
        "platform_issues",
        "",
        best_of(lambda: collect(references.platform_issues(tables, opened.modes))),
    )
    record(
        "list_length_issues", "", best_of(lambda: collect(references.list_length_issues(tables)))
    )
    record("date_order_issues", "", best_of(lambda: collect(references.date_order_issues(tables))))
    record(
        "validate_feed (whole, after open_feed)",
        "",
        best_of(lambda: validate.validate_feed(opened, settings)),
    )
    with (out / "pieces.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["piece", "file", "seconds", "note"])
        writer.writeheader()
        writer.writerows(rows_out)
    return {"pieces": len(rows_out)}


def piece_timer(pieces: dict[str, float]) -> Callable[[str, Callable[[], object]], object]:
    """`timed(name, function)`: `function()`, its seconds recorded in `pieces` under `name`."""

    def timed(name: str, function: Callable[[], object]) -> object:
        start = time.perf_counter()
        try:
            return function()
        finally:
            pieces[name] = time.perf_counter() - start

    return timed


def part_least(feed: Path, warehouse: Path) -> dict:
    """The pieces of a resync that grow with the district, not with the change, each timed
    once in this new process as a sync meets them (memory not yet touched, as in a real run):
    inflating the zip, the exact parse, reading the stored hashes and the lms checksum; then
    the resync itself, for its apply and its opening and closing of the warehouse."""
    import rosterflow.flows.steps as sync_steps
    from rosterflow.schemas.spec import SYNCED_FILES
    from rosterflow.warehouse.layout import open_warehouse
    from rosterflow.warehouse.records import stored_files, stored_hashes
    from rosterflow.warehouse.state import lms_summary

    pieces: dict[str, float] = {}
    timed_piece = piece_timer(pieces)

    loaded = timed_piece("inflate the zip (load_feed)", lambda: sync_steps.load_feed(feed).read())
    timed_piece("parse every file exactly", loaded.parse)
    del loaded
    with open_warehouse(warehouse) as con:
        tenant = bench.TENANT
        names = [name for name in SYNCED_FILES if name in stored_files(con, tenant)]
        fields = {"enrollments": ["userSourcedId"]}
        timed_piece("read the stored hashes", lambda: stored_hashes(con, tenant, names, fields))
        timed_piece("lms checksum (hand edits)", lambda: lms_summary(con, tenant))
    # the resync itself, its steps timed as bench.py times them
    synced = bench.measure("change", str(feed), str(warehouse))
    pieces["apply the changes"] = synced["step_apply_s"]
    pieces["open the warehouse, close it (checkpoint)"] = synced["step_open_close_s"]
    return {
        "pieces": pieces,
        "sync": synced["seconds"],
        "changes": synced["changes"],
        "planning": synced["planning"],
    }


def part_lines(feed: Path, warehouse: Path) -> dict:
    """The pieces of a resync by its changed lines (the 1%-changed feed), each timed once in
    this new process as the sync meets them: inflating the zip, each file's sha256 (the feed's
    identity), splitting every file into lines and hashing them, reading the stored records
    (every field, as a sync plans from them; and their keys alone, which is all a design that
    reads the other fields by key would read of the unchanged records), matching users' and
    enrollments' lines with the stored ones and parsing the changed; then the resync itself,
    for its validation, plan, apply, and opening and closing of the warehouse."""
    pieces: dict[str, float] = {}
    read_by_its_lines(feed, warehouse, piece_timer(pieces))
    synced = bench.measure("change", str(feed), str(warehouse))
    for step in ("validate", "plan", "apply", "open_close"):
        pieces[f"the resync's {step.replace('_', ' and ')}"] = synced[f"step_{step}_s"]
    return {
        "pieces": pieces,
        "sync": synced["seconds"],
        "changes": synced["changes"],
        "planning": synced["planning"],
    }


def read_by_its_lines(feed: Path, warehouse: Path, timed_piece: Callable) -> None:
    """`part_lines`'s pieces before the resync, each timed by `timed_piece`; what they read
    is gone when it returns."""
    import hashlib

    import rosterflow.flows.steps as sync_steps
    from rosterflow.schemas.by_lines import read_by_lines
    from rosterflow.schemas.lines import LINE_KEY, line_hash, line_texts
    from rosterflow.schemas.settings import Settings
    from rosterflow.warehouse.basis import stored_records_by_lines
    from rosterflow.warehouse.layout import open_warehouse
    from rosterflow.warehouse.records import stored_files, stored_hashes

    settings = Settings()

    def inflate() -> tuple:  # (reading starts its threads: timed from the zip's opening)
        loaded = sync_steps.load_feed(feed).read(digests=False)
        return loaded, loaded.contents

    loaded, contents = timed_piece("inflate the zip", inflate)
    data = {name: content.data for name, content in contents.items()}
    timed_piece(
        "every file's sha256",
        lambda: [hashlib.sha256(bytes_).hexdigest() for bytes_ in data.values()],
    )

    def split_and_hash() -> dict:
        texts = {name: line_texts(bytes_) for name, bytes_ in data.items()}
        return {name: (lines, line_hash(lines)) for name, lines in texts.items()}

    lines = timed_piece("split every file into lines, hash them", split_and_hash)
    tenant = bench.TENANT
    # the keys first, each read on a warehouse opened anew (no block of the other's cached):
    # what the second read gains from memory the first touched understates the difference
    with open_warehouse(warehouse) as con:
        names = list(stored_files(con, tenant))
        timed_piece(
            "read the stored records (keys alone)",
            lambda: stored_hashes(con, tenant, names, {name: [LINE_KEY] for name in names}),
        )
    with open_warehouse(warehouse) as con:
        stored = timed_piece(
            "read the stored records (every field)",
            lambda: stored_records_by_lines(
                con, tenant, sync_steps.settings_key(settings), settings.identity.key, True
            ),
        )
    timed_piece(
        "match the lines, parse the changed (users, enrollments)",
        lambda: [
            read_by_lines(
                loaded.specs[name],
                lines[name][0],
                stored.usable[name],
                lines[name][1],
            )
            for name in stored.usable
        ],
    )


def part_first(feed: Path, warehouse: Path) -> dict:
    """The pieces of a first load of `feed` into the new warehouse `warehouse`, each timed
    once in this new process as a sync meets them (memory not yet touched, as in a real run).
    The apply is taken apart as `warehouse.apply.record_run` does it, in one transaction:
    the lms rows, then the stored records (encoded, then inserted), then the commit."""
    import rosterflow.flows.steps as sync_steps
    from rosterflow.schemas.reads import answered
    from rosterflow.schemas.records import validation_key
    from rosterflow.schemas.runs import RunRecord
    from rosterflow.schemas.settings import Settings
    from rosterflow.schemas.validate import validate_feed
    from rosterflow.transforms.planning import plan_run
    from rosterflow.transforms.source_state import source_records
    from rosterflow.warehouse.apply import _apply_entity
    from rosterflow.warehouse.records import encode_records, record_writes, write_records
    from rosterflow.warehouse.runs import utc_now
    from rosterflow.warehouse.schema import connect
    from rosterflow.warehouse.state import WarehouseCurrent, next_ids

    pieces: dict[str, float] = {}
    timed_piece = piece_timer(pieces)

    settings = Settings()
    loaded = timed_piece("inflate the zip (load_feed)", lambda: sync_steps.load_feed(feed).read())
    timed_piece("parse every file exactly", loaded.parse)
    validated = timed_piece(
        "check every record (validate_feed)", lambda: validate_feed(loaded, settings, {})
    )
    bench.remove_warehouse(warehouse)
    con = connect(warehouse)  # a new warehouse: the tiny sync pays for creating one
    tenant = bench.TENANT
    run = RunRecord(
        run_id=1, tenant=tenant, feed_name=feed.name, feed_sha256=None,
        started_at=utc_now(), outcome="applied", settings_key="bench",
    )  # fmt: skip
    modes = loaded.modes

    def planned():
        records = source_records(validated.tables, modes, {}, run.run_id)
        current = WarehouseCurrent(con, tenant)
        return answered(
            plan_run(tenant, records, modes, settings, next_ids(con), "first"), current.answer
        )

    plan = timed_piece("derive and plan (plan_run: desired rows, creates)", planned)
    writes = record_writes(
        plan.records,
        None,
        modes,
        {name: content.fingerprint for name, content in loaded.files.items()},
        {},
        validation_key(run.settings_key, loaded.version),
    )
    con.execute("begin transaction")
    timed_piece(
        "insert the lms rows (DuckDB)",
        lambda: [
            _apply_entity(con, entity_plan.entity, entity_plan.changes, run, False)
            for entity_plan in plan.plan.entities.values()
        ],
    )
    blobs = timed_piece(
        "encode the stored records (Parquet)",
        lambda: {name: encode_records(name, write) for name, write in writes.items()},
    )
    timed_piece(
        "insert the Parquet blobs",
        lambda: [
            write_records(con, tenant, run.run_id, name, write, blobs[name])
            for name, write in writes.items()
        ],
    )
    timed_piece("commit (the WAL written)", lambda: con.execute("commit"))
    timed_piece("close (checkpoint)", con.close)
    bench.remove_warehouse(warehouse)
    synced = bench.measure("fresh", str(feed), str(warehouse))
    return {"pieces": pieces, "sync": synced["seconds"], "changes": synced["changes"]}


def write_pieces(path: Path, rows: list[tuple[str, float]], floor: float, width: int) -> None:
    """`piece, seconds, x_floor` of each row into `path`, and the same printed."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["piece", "seconds", "x_floor"])
        for piece, seconds in rows:
            writer.writerow([piece, round(seconds, 4), round(seconds / floor, 2)])
            print(f"{piece:{width}s} {seconds:8.3f} s {seconds / floor:6.2f}x", flush=True)


def first_table(floors: list[float], tiny: float, runs: list[dict], out: Path) -> dict:
    """The best of each piece of a first load over the runs, against the best floor and the
    fresh sync's budget -> first.csv."""
    floor = min(floors)
    best = {piece: min(run["pieces"][piece] for run in runs) for piece in runs[0]["pieces"]}
    sync = min(run["sync"] for run in runs)
    rows = [
        ("floor (Polars parse)", floor),
        *best.items(),
        ("sum of the pieces", sum(best.values())),
        (f"the fresh sync itself ({runs[0]['changes']:,} changes)", sync),
        ("the fresh sync less a tiny sync", sync - tiny),
    ]
    write_pieces(out / "first.csv", rows, floor, width=52)
    budget = bench.GOALS["fresh"][0]
    print(f"the fresh sync's budget: {budget:g}x the floor = {budget * floor:.3f} s", flush=True)
    return {"floor": floor, "tiny": tiny, "sync": sync, "best": best}


def least_table(floors: list[float], runs: list[dict], out: Path, budget: float) -> dict:
    """The best of each piece over the runs, against the best floor and the 1% change's
    budget (a multiple of the floor) -> least.csv."""
    floor = min(floors)
    best = {piece: min(run["pieces"][piece] for run in runs) for piece in runs[0]["pieces"]}
    least = sum(best.values())
    sync = min(run["sync"] for run in runs)
    rows = [
        ("floor (Polars parse)", floor),
        *best.items(),
        ("sum of the pieces", least),
        (f"the resync itself ({runs[0]['changes']:,} changes)", sync),
    ]
    write_pieces(out / "least.csv", rows, floor, width=44)
    print(f"the 1% change's budget: {budget:g}x the floor = {budget * floor:.3f} s", flush=True)
    return {"floor": floor, "least": least, "sync": sync, "best": best}


# what every resync by lines pays whatever its design: the feed read and its lines hashed,
# the changes applied, the warehouse opened and closed
UNAVOIDABLE = (
    "inflate the zip",
    "split every file into lines, hash them",
    "the resync's apply",
    "the resync's open and close",
)


def lines_table(floors: list[float], runs: list[dict], out: Path, budget: float) -> dict:
    """The best of each piece of a resync by lines over the runs, the sum of those no design
    avoids, against the best floor and the 1% change's budget -> lines.csv."""
    floor = min(floors)
    best = {piece: min(run["pieces"][piece] for run in runs) for piece in runs[0]["pieces"]}
    unavoidable = sum(best[piece] for piece in UNAVOIDABLE)
    sync = min(run["sync"] for run in runs)
    rows = [
        ("floor (Polars parse)", floor),
        *best.items(),
        ("the pieces no design avoids (inflate, lines, apply, open and close)", unavoidable),
        (f"the resync itself ({runs[0]['changes']:,} changes, {runs[0]['planning']})", sync),
        ("what the budget leaves beyond the pieces no design avoids", budget * floor - unavoidable),
    ]
    write_pieces(out / "lines.csv", rows, floor, width=68)
    print(f"the 1% change's budget: {budget:g}x the floor = {budget * floor:.3f} s", flush=True)
    return {"floor": floor, "unavoidable": unavoidable, "sync": sync, "best": best}


def nights_table(
    nights: list[float], fresh: list[float], aged: list[float], held: list[tuple], out: Path
) -> dict:
    """Each night's seconds, then the 1% change on the fresh and on the aged warehouse, and
    what the oneroster tables hold after the nights -> nights.csv."""
    with (out / "nights.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["what", "seconds", "rows", "blob_mib"])
        writer.writerows([f"night {number}", f"{seconds:.3f}", "", ""] for number, seconds in
                         enumerate(nights, start=1))  # fmt: skip
        writer.writerow(["1% change, fresh warehouse (best of 3)", f"{min(fresh):.3f}", "", ""])
        writer.writerow(["1% change, after the nights (best of 3)", f"{min(aged):.3f}", "", ""])
        writer.writerows([f"oneroster.{table}", "", rows, f"{mib:.1f}"] for table, rows, mib in
                         held)  # fmt: skip
    return {
        "first_night": nights[0],
        "last_night": nights[-1],
        "fresh": min(fresh),
        "aged": min(aged),
        "aged_over_fresh": min(aged) / min(fresh),
        "oneroster": {table: {"rows": rows, "blob_mib": mib} for table, rows, mib in held},
    }


def oneroster_held(warehouse: Path) -> list[tuple]:
    """Rows and MiB of blobs of each oneroster table (kept and current alike)."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = [
            name
            for (name,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'oneroster' "
                "order by table_name"
            ).fetchall()
        ]
        return [
            (
                table,
                *con.execute(
                    f"select count(*), coalesce(sum(octet_length(records)), 0) / 2 ^ 20 "
                    f"from oneroster.{table}"
                ).fetchone(),
            )
            for table in tables
        ]


def run_part(args: list[str]) -> dict:
    result_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"rf-profile-{os.getpid()}.json"
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args, "--result", str(result_path)],
        cwd=ROOT,
    )
    if completed.returncode:
        raise RuntimeError(f"part {args} failed")
    data = json.loads(result_path.read_text())
    result_path.unlink()
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=200_000)
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "profile"))
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--part")
    parser.add_argument("--feed")
    parser.add_argument("--changed")
    parser.add_argument("--warehouse")
    parser.add_argument("--mode")
    parser.add_argument("--nights", type=int, default=30, help="nightly resyncs for `nights`")
    parser.add_argument("--result")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    if args.part:
        feed = Path(args.feed)
        warehouse = Path(args.warehouse) if args.warehouse else None
        if args.part == "validate":
            result = part_validate(feed, out)
        elif args.part == "pieces":
            result = part_pieces(feed, out)
        elif args.part == "sync":
            result = part_sync(args.mode, feed, warehouse, out)
        elif args.part == "explain":
            result = part_sync(args.mode, feed, warehouse, out, explain=True)
        elif args.part == "least":
            result = part_least(feed, warehouse)
        elif args.part == "first":
            result = part_first(feed, warehouse)
        elif args.part == "lines":
            result = part_lines(feed, warehouse)
        else:
            raise SystemExit(f"unknown part {args.part}")
        result["peak_rss_mib"] = bench._max_rss_mib()
        Path(args.result).write_text(json.dumps(result, default=str))
        return 0

    parts = args.parts.split(",")
    work = out / "work"
    work.mkdir(exist_ok=True)
    print(f"generating {args.students:,} students ...", flush=True)
    prepared = bench.run_child(["--prepare", str(args.students), "--work", str(work)])
    feed, changed = Path(prepared["feed"]), Path(prepared["changed"])
    baseline = work / "baseline.duckdb"
    scratch = work / "scratch.duckdb"
    summary = {}

    def show(name, result):
        summary[name] = result
        print(f"== {name}: {json.dumps(result, default=str, indent=1)[:3000]}", flush=True)

    if "validate" in parts:
        show("validate", run_part(["--part", "validate", "--feed", str(feed), "--out", str(out)]))
    if "pieces" in parts:
        show("pieces", run_part(["--part", "pieces", "--feed", str(feed), "--out", str(out)]))
    needs_baseline = {"fresh", "noop", "change", "explain", "least", "lines", "nights"} & set(parts)
    if needs_baseline:
        bench.remove_warehouse(baseline)
        if "fresh" in parts:
            show(
                "fresh",
                run_part(
                    [
                        "--part",
                        "sync",
                        "--mode",
                        "fresh",
                        "--feed",
                        str(feed),
                        "--warehouse",
                        str(baseline),
                        "--out",
                        str(out),
                    ]
                ),
            )
        else:
            bench.measure_in_child("fresh", feed, baseline)
    for mode, feed_path in (("noop", feed), ("change", changed)):
        for part, name in (("sync", mode), ("explain", f"explain-{mode}")):
            if (mode if part == "sync" else "explain") not in parts:
                continue
            bench.copy_warehouse(baseline, scratch)
            arguments = ["--part", part, "--mode", mode, "--feed", str(feed_path)]
            show(name, run_part([*arguments, "--warehouse", str(scratch), "--out", str(out)]))
    # issue 12's goal for the 1% change: 3.5x the floor, 5x at 1M students
    budget = (
        bench.FULL_CHANGE_GOAL if args.students == bench.FULL_SIZE else bench.GOALS["change"][0]
    )
    for part, table in (("least", least_table), ("lines", lines_table)):
        if part not in parts:
            continue
        floors, runs = [], []  # interleaved with the floor, each run a new process, best of 3
        for _ in range(3):
            floors.append(bench.measure_in_child("floor", changed)["seconds"])
            bench.copy_warehouse(baseline, scratch)
            arguments = ["--part", part, "--feed", str(changed), "--warehouse", str(scratch)]
            runs.append(run_part([*arguments, "--out", str(out)]))
        show(part, table(floors, runs, out, budget))
    if "first" in parts:  # interleaved with the floor and a tiny sync, best of 3
        tiny_feed = Path(
            bench.run_child(["--prepare", str(bench.TINY_SIZE), "--work", str(work)])["feed"]
        )
        floors, tinies, runs = [], [], []
        for _ in range(3):
            floors.append(bench.measure_in_child("floor", feed)["seconds"])
            bench.remove_warehouse(scratch)
            tinies.append(bench.measure_in_child("tiny", tiny_feed, scratch)["seconds"])
            arguments = ["--part", "first", "--feed", str(feed), "--warehouse", str(scratch)]
            runs.append(run_part([*arguments, "--out", str(out)]))
        show("first", first_table(floors, min(tinies), runs, out))
    if "nights" in parts:  # each run a new process, as a scheduled sync is
        aged = work / "aged.duckdb"
        bench.copy_warehouse(baseline, aged)
        # the first feed last, so that the 1%-changed one is a change again (not recalled)
        nights = [
            bench.measure_in_child("change", feed if night % 2 else changed, aged)["seconds"]
            for night in range(args.nights + args.nights % 2, 0, -1)
        ]
        fresh, aged_runs = [], []
        for _ in range(3):
            for runs, source in ((fresh, baseline), (aged_runs, aged)):
                bench.copy_warehouse(source, scratch)
                runs.append(bench.measure_in_child("change", changed, scratch)["seconds"])
        show("nights", nights_table(nights, fresh, aged_runs, oneroster_held(aged), out))
    (out / "summary.json").write_text(json.dumps(summary, default=str, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
