"""Benchmarks: rosterflow's validate and sync against the raw Polars parse of the same feed.

    .venv/bin/python bench/bench.py [--sizes 10000,50000,200000] [--full] [--repeat N]
                                    [--out bench/out] [--keep]

For each size (students) a synthetic district feed is generated (demo.district, seed 0)
and written as a zip, with a second zip in which about 1% of the records changed. Then, in the
same run, each measurement runs in its own child process (this script with `--measure`), so its
peak resident memory is its own and peaks do not accumulate:

  unzip      read every zip member into memory (zipfile, inflate only)
  floor      pl.read_csv(bytes, infer_schema=False) of every CSV member: the parse only
  validate   schemas.feed.open_feed + schemas.validate.validate_feed (unzip + parse + checks),
             as `rosterflow validate` runs them (no sha256 of the files)
  validate-change
             `rosterflow validate` of the 1%-changed feed against a copy of the warehouse
             `fresh` left: read by its changed lines (schemas.by_lines)
  fresh      a sync of the feed into a new warehouse
  noop       a sync of the same feed again (into a copy of the warehouse `fresh` left)
  change     a sync of the 1%-changed feed (into a copy of that same warehouse)
  tiny       a fresh sync of a 20-student feed: the fixed start-up cost, subtracted from
             `fresh` for its goal

Repeats are interleaved (floor, validate, fresh, noop, change, floor, ...) so that a burst of
load from other work on the machine hits every measurement alike; the table shows the best of N
and the spread. See bench/README.md for how to read it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_SIZES = (10_000, 50_000, 200_000)
FULL_SIZE = 1_000_000
TINY_SIZE = 20
SEED = 0
TENANT = "bench-district"
RSS_GOAL_SIZE = 200_000
RSS_GOAL_MIB = 2048
# at 1M students, the 1% change has its own goals (issue 12): time and memory
FULL_CHANGE_GOAL = 5.0
FULL_CHANGE_RSS_MIB = 8192
# `rosterflow sync` of a tiny feed into a new warehouse, end to end (issue 12)
CLI_TINY_GOAL_S = 2.0

MEASUREMENTS = (
    "unzip",
    "floor",
    "validate",
    "validate-change",
    "fresh",
    "noop",
    "reordered",
    "change",
)
# measurement -> (goal as a multiple of the floor, subtract the tiny sync first?)
GOALS = {
    "validate": (2.0, False),
    "validate-change": (2.0, False),
    "fresh": (5.0, True),
    "noop": (3.0, False),
    "reordered": (3.0, False),
    "change": (3.5, False),
}
LABELS = {
    "unzip": "unzip (read members)",
    "floor": "floor (Polars parse)",
    "validate": "validate",
    "validate-change": "validate --warehouse, 1% change (by lines)",
    "fresh": "fresh sync",
    "fresh-tiny": "fresh sync - tiny",
    "noop": "no-op resync",
    "reordered": "no-op resync, rows reordered",
    "change": "1% change resync",
    "tiny": "tiny sync (20 students)",
    "cli-change": "CLI 1% change - CLI tiny resync",
    "cli-tiny": "CLI tiny sync (20 students, new warehouse)",
    "change-rss": "peak RSS, 1% change",
}
STEPS = ("load_feed", "read_feed", "recall", "validate", "plan", "guard", "apply")
# timed beside the steps: `read_feed` starts reading the files in threads of their own and
# returns, and the run's start (`start_run`, the feed's content hash) waits for every file's
# bytes, so its time is what inflating the zip still costs the run
TIMED = (*STEPS[:2], "start_run", *STEPS[2:])
# a sync's time outside the steps: opening the warehouse (connect + migrate) and closing it
# (DuckDB checkpoints the WAL into the file on close)
REPORTED_STEPS = (*TIMED, "open_close")


# --- in the child: one measurement ------------------------------------------------------------


def _max_rss_mib() -> float:
    # Linux reports ru_maxrss in KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(kind: str, feed: str, warehouse: str | None) -> dict:
    """Run one measurement in this (fresh) process; return its figures."""
    import polars as pl

    import rosterflow.flows.pipeline as pipeline
    from rosterflow.schemas.feed import open_feed
    from rosterflow.schemas.settings import Settings
    from rosterflow.schemas.validate import validate_feed

    base_rss = _max_rss_mib()
    result: dict = {"kind": kind, "base_rss_mib": base_rss}
    cpu0 = _cpu_s()
    if kind == "floor":  # also times the unzip, separately
        start = time.perf_counter()
        with zipfile.ZipFile(feed) as archive:
            members = {
                info.filename: archive.read(info)
                for info in archive.infolist()
                if info.filename.endswith(".csv")
            }
        unzipped = time.perf_counter()
        cpu0 = _cpu_s()  # the floor's CPU time is the parse's alone
        frames = {name: pl.read_csv(data, infer_schema=False) for name, data in members.items()}
        parsed = time.perf_counter()
        result |= {
            "unzip_s": unzipped - start,
            "seconds": parsed - unzipped,
            "csv_bytes": sum(len(d) for d in members.values()),
            "rows": sum(f.height for f in frames.values()),
        }
    elif kind == "validate":
        start = time.perf_counter()
        validated = validate_feed(open_feed(feed, digests=False), Settings())
        result |= {
            "seconds": time.perf_counter() - start,
            "ok": validated.ok,
            "issues": validated.issues.height,
            "errors": validated.error_count,
        }
    elif kind == "validate-change":  # `rosterflow validate FEED --warehouse W`
        from rosterflow.flows.commands import validate

        start = time.perf_counter()
        _, validated = validate(Path(feed), None, Path(warehouse), None)
        result |= {
            "seconds": time.perf_counter() - start,
            "ok": validated.ok,
            "issues": validated.issues.height,
            "errors": validated.error_count,
        }
    else:  # a sync: fresh, noop, change, tiny
        step_seconds: dict[str, float] = dict.fromkeys((*TIMED, "reject"), 0.0)
        # each step's CPU seconds, every thread's: what the step costs the machine, which a
        # step overlapping another cannot hide
        step_cpu: dict[str, float] = dict.fromkeys((*TIMED, "reject"), 0.0)
        step_peaks: dict[str, float] = {}  # the peak RSS so far, after each step

        def timed(name, function):
            def wrapper(*args, **kwargs):
                t0, c0 = time.perf_counter(), _cpu_s()
                try:
                    return function(*args, **kwargs)
                finally:
                    step_seconds[name] += time.perf_counter() - t0
                    step_cpu[name] += _cpu_s() - c0
                    step_peaks[name] = _max_rss_mib()

            return wrapper

        # the same chain as flows.pipeline.run_sync (= run_steps(Steps(), ...)), each step timed
        defaults = pipeline.Steps()
        steps = pipeline.Steps(**{n: timed(n, getattr(defaults, n)) for n in (*STEPS, "reject")})
        pipeline.start_run = timed("start_run", pipeline.start_run)
        start, run_cpu = time.perf_counter(), _cpu_s()
        synced = pipeline.run_steps(steps, feed, warehouse, Settings())
        seconds = time.perf_counter() - start
        step_seconds["open_close"] = seconds - sum(step_seconds.values())
        step_cpu["open_close"] = _cpu_s() - run_cpu - sum(step_cpu.values())
        result |= {
            "seconds": seconds,
            "outcome": synced.outcome,
            "message": synced.message,
            "changes": int(synced.summary["count"].sum()) if synced.summary.height else 0,
            "planning": synced.planning,
            "summary": {f"{e}.{a}": c for e, a, c in synced.summary.iter_rows()},
        } | {f"step_{n}_s": s for n, s in step_seconds.items()}
        result |= {f"step_{n}_cpu_s": c for n, c in step_cpu.items()}
        result |= {f"peak_after_{n}_mib": m for n, m in step_peaks.items()}
    result["cpu_s"] = _cpu_s() - cpu0
    result["load1"] = os.getloadavg()[0]  # other work on the machine, for judging noise
    result["peak_rss_mib"] = _max_rss_mib()
    return result


def prepare(students: int, folder: str) -> dict:
    """Generate the feed and its 1%-changed twin as zips (in a child: the parent stays small)."""
    from rosterflow.demo.district import generate_feed
    from rosterflow.schemas.writer import write_feed

    folder_path = Path(folder)
    start = time.perf_counter()
    frames = generate_feed(students, seed=SEED)
    generated = time.perf_counter()
    # both feeds name the same tenant (else it would be the zip's name, and the change resync
    # would create a second tenant instead of updating the first)
    properties = {"source.systemCode": TENANT}
    feed = write_feed(folder_path / f"feed-{students}.zip", frames, properties=properties)
    written = time.perf_counter()
    changed = write_feed(
        folder_path / f"feed-{students}-1pct.zip", one_percent_change(frames), properties=properties
    )
    # the same records in the opposite order: other bytes, so the run cannot be recalled from
    # the last one, yet nothing changes (it is planned incrementally: no record differs)
    reordered = write_feed(
        folder_path / f"feed-{students}-reordered.zip",
        {name: frame.reverse() for name, frame in frames.items()},
        properties=properties,
    )
    return {
        "generate_s": generated - start,
        "write_s": written - generated,
        "feed": str(feed),
        "changed": str(changed),
        "reordered": str(reordered),
        "zip_bytes": feed.stat().st_size,
        "records": {name: frame.height for name, frame in frames.items()},
        "peak_rss_mib": _max_rss_mib(),
    }


def one_percent_change(frames: dict) -> dict:
    """About 1% of the records changed, with vectorized edits that keep the feed valid:

    - 1% of users get a new email and given name;
    - 0.5% of enrollments are dropped (the default policy inactivates them);
    - 0.1% as many new enrollments: students of those rows also join their school's first class.
    """
    import polars as pl

    index = pl.int_range(pl.len())
    users = (
        frames["users"]
        .with_columns((index % 100 == 7).alias("__changed"))
        .with_columns(
            pl.when("__changed")
            .then(
                pl.lit("changed.") + pl.col("email").fill_null(pl.col("username") + "@example.org")
            )
            .otherwise(pl.col("email"))
            .alias("email"),
            pl.when("__changed")
            .then(pl.col("givenName") + pl.lit(" Jr"))
            .otherwise(pl.col("givenName"))
            .alias("givenName"),
        )
        .drop("__changed")
    )
    enrollments = frames["enrollments"]
    kept = enrollments.filter(index % 200 != 3)
    first_class = (
        frames["classes"]
        .group_by("schoolSourcedId")
        .agg(pl.col("sourcedId").min().alias("__first_class"))
    )
    added = (
        enrollments.filter((index % 1000 == 11) & (pl.col("role") == "student"))
        .join(first_class, on="schoolSourcedId", how="inner")
        .filter(pl.col("__first_class") != pl.col("classSourcedId"))
        .with_columns(
            (pl.col("sourcedId") + "-bench-new").alias("sourcedId"),
            pl.col("__first_class").alias("classSourcedId"),
        )
        .drop("__first_class")
        .select(enrollments.columns)
    )
    return frames | {"users": users, "enrollments": pl.concat([kept, added])}


# --- in the parent: orchestration -----------------------------------------------------------


def run_child(args: list[str], timeout: float | None = None) -> dict:
    with tempfile.NamedTemporaryFile("r", suffix=".json", delete=False) as handle:
        result_path = handle.name
    try:
        completed = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), *args, "--result", result_path],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if completed.returncode != 0:
            raise RuntimeError(
                f"child {' '.join(args)} failed ({completed.returncode}):\n{completed.stderr[-4000:]}"
            )
        return json.loads(Path(result_path).read_text())
    finally:
        Path(result_path).unlink(missing_ok=True)


def measure_in_child(kind: str, feed: Path, warehouse: Path | None = None) -> dict:
    args = ["--measure", kind, "--feed", str(feed)]
    if warehouse is not None:
        args += ["--warehouse", str(warehouse)]
    return run_child(args)


def cli_sync(feed: Path, warehouse: Path) -> dict:
    """`rosterflow sync FEED --warehouse W` as a user runs it, timed from outside the process:
    interpreter start, imports, the sync, exit. Without Prefect (no `PREFECT_*` setting, a
    Prefect home of its own), so the sync runs in the process, as `cli_startup.py` measures."""
    program = Path(sys.executable).with_name("rosterflow")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    with tempfile.TemporaryDirectory() as home:
        env["PREFECT_HOME"] = home
        start = time.perf_counter()
        completed = subprocess.run(
            [str(program), "sync", str(feed), "--warehouse", str(warehouse)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
    if completed.returncode != 0:
        raise RuntimeError(
            f"rosterflow sync {feed.name} failed ({completed.returncode}):\n"
            f"{(completed.stdout + completed.stderr)[-4000:]}"
        )
    return {"seconds": seconds, "load1": os.getloadavg()[0]}


# what a sync leaves beside the file: its write-ahead log (if any) and its seal, which lets
# the next sync of an untouched file skip reading every lms row (`warehouse.seal`)
BESIDE = (".wal", ".seal")


def copy_warehouse(source: Path, target: Path) -> None:
    """`source` as `target`, with what a sync left beside it. A copy is another file (its
    inode, its change time), for which the seal of `source` vouches nothing, so a sync of the
    copy would read every lms row where a nightly sync of the file the last one sealed does
    not: when the seal vouches for `source`, the copy's seal vouches for the copy instead."""
    from rosterflow.warehouse.seal import fingerprint, seal_path

    remove_warehouse(target)
    shutil.copyfile(source, target)
    for suffix in BESIDE:
        beside = source.with_name(source.name + suffix)
        if beside.exists():
            shutil.copyfile(beside, target.with_name(target.name + suffix))
    if seal_path(source).exists():
        seal = json.loads(seal_path(source).read_text(encoding="utf-8"))
        held = fingerprint(source)
        if held is not None and seal.get("fingerprint") == held:
            seal["fingerprint"] = fingerprint(target)
            seal_path(target).write_text(json.dumps(seal), encoding="utf-8")


def remove_warehouse(path: Path) -> None:
    path.unlink(missing_ok=True)
    for suffix in BESIDE:
        path.with_name(path.name + suffix).unlink(missing_ok=True)


@dataclass
class Series:
    """Every run of one measurement at one size."""

    runs: list[dict] = field(default_factory=list)

    def seconds(self, key: str = "seconds") -> list[float]:
        return [r[key] for r in self.runs]

    def best(self, key: str = "seconds") -> float:
        return min(self.seconds(key))

    def median(self, key: str = "seconds") -> float:
        return statistics.median(self.seconds(key))

    def peak(self) -> float:
        return max(r["peak_rss_mib"] for r in self.runs)

    def best_run(self) -> dict:
        return min(self.runs, key=lambda r: r["seconds"])


def check_sync(kind: str, result: dict) -> None:
    if result["outcome"] != "applied":
        raise RuntimeError(f"{kind} sync was {result['outcome']}: {result['message']}")
    if kind in ("noop", "reordered") and result["changes"]:
        raise RuntimeError(f"the no-op resync planned {result['changes']} changes")


def bench_size(students: int, repeat: int, work: Path, log) -> tuple[dict, dict[str, Series]]:
    log(f"[{students:,} students] generating the feeds ...")
    prepared = run_child(["--prepare", str(students), "--work", str(work)])
    log(
        f"  generated in {prepared['generate_s']:.1f} s, written in {prepared['write_s']:.1f} s: "
        f"{prepared['zip_bytes'] / 2**20:.1f} MiB zip, "
        + ", ".join(f"{n} {c:,}" for n, c in prepared["records"].items())
    )
    feed, changed = Path(prepared["feed"]), Path(prepared["changed"])
    reordered = Path(prepared["reordered"])
    baseline = work / f"baseline-{students}.duckdb"
    scratch = work / f"scratch-{students}.duckdb"
    series = {kind: Series() for kind in (*MEASUREMENTS, "cli-change")}
    for round_ in range(1, repeat + 1):
        floor = measure_in_child("floor", feed)
        series["floor"].runs.append(floor)
        series["unzip"].runs.append(
            {"seconds": floor["unzip_s"], "peak_rss_mib": floor["peak_rss_mib"]}
        )
        series["validate"].runs.append(measure_in_child("validate", feed))
        if not series["validate"].runs[-1]["ok"]:
            raise RuntimeError(
                f"the generated feed has {series['validate'].runs[-1]['errors']} errors"
            )
        target = baseline if round_ == 1 else scratch
        remove_warehouse(target)
        fresh = measure_in_child("fresh", feed, target)
        check_sync("fresh", fresh)
        series["fresh"].runs.append(fresh)
        for kind, feed_path in (("noop", feed), ("reordered", reordered), ("change", changed)):
            copy_warehouse(baseline, scratch)
            result = measure_in_child(kind, feed_path, scratch)
            check_sync(kind, result)
            series[kind].runs.append(result)
        # the 1% change validated against the warehouse, which reads it by its changed lines
        copy_warehouse(baseline, scratch)
        series["validate-change"].runs.append(measure_in_child("validate-change", changed, scratch))
        # the same 1% change as a user runs it: `rosterflow sync` in a process of its own
        copy_warehouse(baseline, scratch)
        series["cli-change"].runs.append(cli_sync(changed, scratch))
        remove_warehouse(scratch)
        log(
            f"  round {round_}/{repeat}: "
            + ", ".join(f"{k} {series[k].runs[-1]['seconds']:.2f} s" for k in MEASUREMENTS)
        )
    return prepared, series


# --- goals and the table --------------------------------------------------------------------


@dataclass
class Row:
    students: int
    measurement: str
    best_s: float
    median_s: float
    spread: float  # max / min over the runs
    runs: int
    x_floor: float | None
    peak_rss_mib: float | None
    base_rss_mib: float | None
    goal: str = ""
    verdict: str = ""
    note: str = ""
    steps: dict[str, float] = field(default_factory=dict)
    cpu_s: float | None = None  # the least CPU time (user + system, all threads) of the runs
    step_peaks: dict[str, float] = field(default_factory=dict)  # peak RSS after each step
    step_cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of each step


def verdict(actual: float, goal: float, floor: float) -> str:
    if actual <= 0:
        return "n/a (the tiny sync took longer: noise)"
    if actual <= goal:
        return f"PASS ({actual / goal:.0%} of budget)"
    over_s = (actual - goal) * floor
    return f"MISS by {actual / goal:.1f}x (+{over_s:.2f} s over)"


def rows_for_size(students: int, series: dict[str, Series], tiny: Series) -> list[Row]:
    floor = series["floor"].best()
    tiny_s = tiny.best()
    rows = []
    for kind in MEASUREMENTS:
        s = series[kind]
        runs = s.seconds()
        base = [r.get("base_rss_mib") for r in s.runs if r.get("base_rss_mib")]
        row = Row(
            students,
            kind,
            s.best(),
            s.median(),
            max(runs) / min(runs) if min(runs) > 0 else float("nan"),
            len(runs),
            s.best() / floor,
            s.peak(),
            max(base) if base else None,
        )
        cpu = [r["cpu_s"] for r in s.runs if "cpu_s" in r]
        row.cpu_s = min(cpu) if cpu else None
        if kind in ("fresh", "noop", "reordered", "change"):
            best = s.best_run()
            row.steps = {n: best[f"step_{n}_s"] for n in REPORTED_STEPS}
            row.step_peaks = {n: best.get(f"peak_after_{n}_mib") for n in TIMED}
            row.step_cpu = {n: best.get(f"step_{n}_cpu_s") for n in REPORTED_STEPS}
            row.note = f"{best['changes']:,} changes, planned {best.get('planning') or '?'}"
        if kind in GOALS:
            multiple, subtract = GOALS[kind]
            if kind == "change" and students == FULL_SIZE:
                multiple = FULL_CHANGE_GOAL
            if subtract:
                rows.append(row)
                net = s.best() - tiny_s
                row = Row(
                    students,
                    "fresh-tiny",
                    net,
                    s.median() - tiny_s,
                    float("nan"),
                    len(runs),
                    net / floor,
                    None,
                    None,
                    note=f"tiny = {tiny_s:.2f} s",
                )
            row.goal = f"<= {multiple:g}x floor"
            row.verdict = verdict(row.x_floor, multiple, floor)
        rows.append(row)
    peak = max(series[k].peak() for k in MEASUREMENTS)
    worst = max(MEASUREMENTS, key=lambda k: series[k].peak())
    rss = Row(
        students,
        "peak-rss",
        float("nan"),
        float("nan"),
        float("nan"),
        0,
        None,
        peak,
        None,
        note=f"max over all measurements ({LABELS[worst]})",
    )
    heaviest = max(series[worst].runs, key=lambda r: r["peak_rss_mib"])
    after = [(n, heaviest.get(f"peak_after_{n}_mib")) for n in TIMED]
    if all(m is not None for _, m in after):
        rss.note += "; peak so far after " + ", ".join(f"{n} {m:,.0f}" for n, m in after)
    if students == RSS_GOAL_SIZE:
        rss.goal = f"<= {RSS_GOAL_MIB / 1024:g} GiB at {RSS_GOAL_SIZE:,}"
        rss.verdict = (
            f"PASS ({peak / RSS_GOAL_MIB:.0%} of budget)"
            if peak <= RSS_GOAL_MIB
            else f"MISS by {peak / RSS_GOAL_MIB:.1f}x (+{peak - RSS_GOAL_MIB:,.0f} MiB)"
        )
    else:
        rss.goal = f"(goal applies at {RSS_GOAL_SIZE:,})"
    rows.append(rss)
    if students == FULL_SIZE:
        change_peak = series["change"].peak()
        rows.append(
            Row(
                students,
                "change-rss",
                float("nan"),
                float("nan"),
                float("nan"),
                0,
                None,
                change_peak,
                None,
                goal=f"< {FULL_CHANGE_RSS_MIB / 1024:g} GiB",
                verdict=(
                    f"PASS ({change_peak / FULL_CHANGE_RSS_MIB:.0%} of budget)"
                    if change_peak < FULL_CHANGE_RSS_MIB
                    else f"MISS by {change_peak / FULL_CHANGE_RSS_MIB:.1f}x"
                ),
                note="peak RSS of the 1% change resync",
            )
        )
    rows.extend(_cli_rows(students, series, floor))
    return rows


def _cli_rows(students: int, series: dict[str, Series], floor: float) -> list[Row]:
    """The 1% change as a user runs it (`rosterflow sync`), less what any CLI sync pays (the
    tiny feed's resync: interpreter, imports, opening and closing the warehouse), against the
    same goal as the in-process change; and a tiny CLI sync against its 2 s."""
    if not series["cli-change"].runs:
        return []
    change, tiny = series["cli-change"], series["cli-tiny-resync"]
    multiple = FULL_CHANGE_GOAL if students == FULL_SIZE else GOALS["change"][0]
    net = change.best() - tiny.best()
    row = Row(
        students,
        "cli-change",
        net,
        change.median() - tiny.median(),
        max(change.seconds()) / min(change.seconds()),
        len(change.runs),
        net / floor,
        None,
        None,
        goal=f"<= {multiple:g}x floor",
        verdict=verdict(net / floor, multiple, floor),
        note=f"CLI 1% change {change.best():.2f} s, CLI tiny resync {tiny.best():.2f} s",
    )
    fresh = series["cli-tiny"]
    tiny_row = Row(
        students,
        "cli-tiny",
        fresh.best(),
        fresh.median(),
        max(fresh.seconds()) / min(fresh.seconds()),
        len(fresh.runs),
        None,
        None,
        None,
        goal=f"<= {CLI_TINY_GOAL_S:g} s",
        verdict=(
            f"PASS ({fresh.best() / CLI_TINY_GOAL_S:.0%} of budget)"
            if fresh.best() <= CLI_TINY_GOAL_S
            else f"MISS by {fresh.best() / CLI_TINY_GOAL_S:.1f}x"
        ),
    )
    return [row, tiny_row]


def _fmt(value: float | None, pattern: str) -> str:
    if value is None or value != value:  # None or NaN
        return ""
    return pattern.format(value)


def print_table(students: int, prepared: dict, rows: list[Row], tiny: Series) -> None:
    from rich.console import Console
    from rich.table import Table

    records = prepared["records"]
    title = (
        f"{students:,} students: {records['users']:,} users, {records['enrollments']:,} "
        f"enrollments, {prepared['zip_bytes'] / 2**20:.1f} MiB zip "
        f"(tiny sync {tiny.best():.2f} s)"
    )
    table = Table(title=title, title_justify="left")
    for column, justify in (
        ("measurement", "left"),
        ("best s", "right"),
        ("median s", "right"),
        ("CPU s", "right"),
        ("spread", "right"),
        ("x floor", "right"),
        ("peak RSS MiB", "right"),
        ("goal", "left"),
        ("verdict", "left"),
        ("note", "left"),
    ):
        table.add_column(column, justify=justify)
    for row in rows:
        style = "red" if row.verdict.startswith("MISS") else "green" if row.verdict else None
        steps = (
            " | " + " ".join(f"{n} {s:.2f}" for n, s in row.steps.items() if s >= 0.005)
            if row.steps
            else ""
        )
        table.add_row(
            LABELS.get(row.measurement, "peak RSS (all)"),
            _fmt(row.best_s, "{:.3f}"),
            _fmt(row.median_s, "{:.3f}"),
            _fmt(row.cpu_s, "{:.2f}"),
            _fmt(row.spread, "{:.2f}"),
            _fmt(row.x_floor, "{:.1f}x"),
            _fmt(row.peak_rss_mib, "{:,.0f}"),
            row.goal,
            row.verdict,
            row.note + steps,
            style=style,
        )
    Console(width=200).print(table)


# --- outputs --------------------------------------------------------------------------------


CSV_COLUMNS = (
    "students",
    "users",
    "enrollments",
    "csv_bytes",
    "measurement",
    "best_s",
    "median_s",
    "cpu_s",
    "spread",
    "runs",
    "x_floor",
    "peak_rss_mib",
    "base_rss_mib",
    "goal",
    "verdict",
    "note",
    *(f"step_{n}_s" for n in REPORTED_STEPS),
    *(f"peak_after_{n}_mib" for n in TIMED),
    *(f"step_{n}_cpu_s" for n in REPORTED_STEPS),
)


def write_csv(path: Path, results: list[tuple[dict, dict[str, Series], list[Row]]], tiny: Series):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)

        def emit(students, records, csv_bytes, row: Row):
            writer.writerow(
                [
                    students,
                    records.get("users", ""),
                    records.get("enrollments", ""),
                    csv_bytes,
                    row.measurement,
                    _fmt(row.best_s, "{:.4f}"),
                    _fmt(row.median_s, "{:.4f}"),
                    _fmt(row.cpu_s, "{:.3f}"),
                    _fmt(row.spread, "{:.3f}"),
                    row.runs,
                    _fmt(row.x_floor, "{:.3f}"),
                    _fmt(row.peak_rss_mib, "{:.1f}"),
                    _fmt(row.base_rss_mib, "{:.1f}"),
                    row.goal,
                    row.verdict,
                    row.note,
                    *(_fmt(row.steps.get(n), "{:.4f}") for n in REPORTED_STEPS),
                    *(_fmt(row.step_peaks.get(n), "{:.1f}") for n in TIMED),
                    *(_fmt(row.step_cpu.get(n), "{:.3f}") for n in REPORTED_STEPS),
                ]
            )

        best_tiny = tiny.best_run()
        emit(
            TINY_SIZE,
            {},
            "",
            Row(
                TINY_SIZE,
                "tiny",
                tiny.best(),
                tiny.median(),
                max(tiny.seconds()) / tiny.best(),
                len(tiny.runs),
                None,
                tiny.peak(),
                best_tiny.get("base_rss_mib"),
                steps={n: best_tiny[f"step_{n}_s"] for n in REPORTED_STEPS},
            ),
        )
        for prepared, series, rows in results:
            csv_bytes = series["floor"].runs[0]["csv_bytes"]
            for row in rows:
                emit(row.students, prepared["records"], csv_bytes, row)


def write_runs(path: Path, results, tiny: Series) -> None:
    """Every single run, for looking at the noise."""
    fields = (
        "students",
        "measurement",
        "run",
        "seconds",
        "cpu_s",
        "peak_rss_mib",
        "base_rss_mib",
        "load1",
    )
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(fields)
        for i, run in enumerate(tiny.runs, 1):
            writer.writerow([TINY_SIZE, "tiny", i, *(run.get(f, "") for f in fields[3:])])
        for prepared, series, _ in results:
            students = prepared["students"]
            for kind, s in series.items():
                for i, run in enumerate(s.runs, 1):
                    writer.writerow([students, kind, i, *(run.get(f, "") for f in fields[3:])])


def write_chart(path: Path, results, tiny: Series) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart (pip install matplotlib)", file=sys.stderr)
        return False
    sizes = [prepared["students"] for prepared, _, _ in results]
    figure, (times, memory) = plt.subplots(1, 2, figsize=(13, 5.5))
    kinds = (*MEASUREMENTS, "fresh-tiny")
    markers = dict(zip(kinds, "v.o*sD^<x", strict=True))
    colors = {kind: f"C{i}" for i, kind in enumerate(kinds)}
    for kind in (
        "unzip",
        "floor",
        "validate",
        "validate-change",
        "fresh",
        "fresh-tiny",
        "noop",
        "reordered",
        "change",
    ):
        values = [next(r.best_s for r in rows if r.measurement == kind) for _, _, rows in results]
        times.plot(sizes, values, marker=markers[kind], color=colors[kind], label=LABELS[kind])
    floors = [series["floor"].best() for _, series, _ in results]
    for multiple, _ in GOALS.values():
        times.plot(
            sizes, [multiple * f for f in floors], linestyle=":", linewidth=0.8, color="grey"
        )
        times.annotate(
            f"{multiple:g}x floor", (sizes[-1], multiple * floors[-1]), fontsize=7, color="grey"
        )
    times.axhline(tiny.best(), linestyle="--", linewidth=0.8, color="black")
    times.annotate("tiny sync", (sizes[0], tiny.best()), fontsize=7)
    times.set(xscale="log", yscale="log", xlabel="students", ylabel="seconds (best of N)")
    times.set_title("time against feed size (dotted: goals)")
    times.grid(True, which="both", alpha=0.3)
    times.legend(fontsize=8)
    for kind in ("floor", "validate", "fresh", "noop", "reordered", "change"):
        memory.plot(
            sizes,
            [series[kind].peak() for _, series, _ in results],
            marker=markers[kind],
            color=colors[kind],
            label=LABELS[kind],
        )
    memory.axhline(RSS_GOAL_MIB, linestyle=":", color="grey")
    memory.annotate(
        f"{RSS_GOAL_MIB / 1024:g} GiB goal (at 200k)", (sizes[0], RSS_GOAL_MIB), fontsize=7
    )
    memory.set(xscale="log", yscale="log", xlabel="students", ylabel="peak RSS MiB")
    memory.set_title("peak resident memory per measurement")
    memory.grid(True, which="both", alpha=0.3)
    memory.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


def environment() -> dict:
    import duckdb
    import pandera
    import polars as pl

    return {
        "python": platform.python_version(),
        "polars": pl.__version__,
        "duckdb": duckdb.__version__,
        "pandera": pandera.__version__,
        "cpus": os.cpu_count(),
        "polars_threads": pl.thread_pool_size(),
        "machine": platform.machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES))
    parser.add_argument("--full", action="store_true", help=f"add {FULL_SIZE:,} students")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best of N)")
    parser.add_argument(
        "--full-repeat",
        type=int,
        default=1,
        help=f"runs per measurement at {FULL_SIZE:,} students (each sync takes minutes)",
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "out"))
    parser.add_argument("--keep", action="store_true", help="keep the feeds and warehouses")
    # internal: a child process
    parser.add_argument(
        "--measure",
        choices=(*MEASUREMENTS[1:], "tiny"),
    )
    parser.add_argument("--prepare", type=int)
    parser.add_argument("--feed")
    parser.add_argument("--warehouse")
    parser.add_argument("--work")
    parser.add_argument(
        "--result", help="where --measure/--prepare write their JSON (stdout without)"
    )
    args = parser.parse_args(argv)

    if args.measure or args.prepare:
        if args.measure:
            result = measure(args.measure, args.feed, args.warehouse)
        else:
            result = prepare(args.prepare, args.work) | {"students": args.prepare}
        if args.result:
            Path(args.result).write_text(json.dumps(result))
        else:  # one measurement by hand: its figures on stdout
            print(json.dumps(result, indent=1))
        return 0

    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    if args.full and FULL_SIZE not in sizes:
        sizes.append(FULL_SIZE)
    sizes.sort()
    out = Path(args.out)
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)

    def log(message: str) -> None:
        print(message, flush=True)

    env = environment()
    log(
        "rosterflow bench: "
        + ", ".join(f"{k} {v}" for k, v in env.items())
        + f"; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    started = time.perf_counter()

    log(f"[tiny: {TINY_SIZE} students] fixed start-up cost ...")
    tiny_feed = Path(run_child(["--prepare", str(TINY_SIZE), "--work", str(work)])["feed"])
    tiny = Series()
    tiny_warehouse = work / "tiny.duckdb"
    for _ in range(max(args.repeat, 5)):  # cheap, and subtracted from every size: be sure
        remove_warehouse(tiny_warehouse)
        result = measure_in_child("tiny", tiny_feed, tiny_warehouse)
        check_sync("tiny", result)
        tiny.runs.append(result)
    log(f"  tiny sync: best {tiny.best():.3f} s, median {tiny.median():.3f} s")
    cli_tiny, cli_tiny_resync = Series(), Series()
    for _ in range(max(args.repeat, 5)):
        remove_warehouse(tiny_warehouse)
        cli_tiny.runs.append(cli_sync(tiny_feed, tiny_warehouse))  # a new warehouse
        cli_tiny_resync.runs.append(cli_sync(tiny_feed, tiny_warehouse))  # the same again
    log(
        f"  CLI tiny sync: best {cli_tiny.best():.3f} s (new warehouse), "
        f"{cli_tiny_resync.best():.3f} s (resync)"
    )

    results = []
    charted = False
    for students in sizes:
        repeat = args.full_repeat if students >= FULL_SIZE else args.repeat
        prepared, series = bench_size(students, repeat, work, log)
        series |= {"cli-tiny": cli_tiny, "cli-tiny-resync": cli_tiny_resync}
        prepared["students"] = students
        rows = rows_for_size(students, series, tiny)
        results.append((prepared, series, rows))
        print_table(students, prepared, rows, tiny)
        # written after every size, so a long --full run leaves its figures behind
        write_csv(out / "results.csv", results, tiny)
        write_runs(out / "runs.csv", results, tiny)
        charted = write_chart(out / "bench.png", results, tiny)
        if not args.keep:
            for path in (prepared["feed"], prepared["changed"]):
                Path(path).unlink(missing_ok=True)
            remove_warehouse(work / f"baseline-{students}.duckdb")

    (out / "environment.json").write_text(
        json.dumps(env | {"load_average_end": os.getloadavg(), "repeat": args.repeat}, indent=2)
    )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    log(
        f"done in {time.perf_counter() - started:.0f} s; load average now "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}. Wrote {out / 'results.csv'}, "
        f"{out / 'runs.csv'}" + (f", {out / 'bench.png'}" if charted else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
