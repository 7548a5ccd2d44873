"""Tenants per minute: a night's feeds of 8 districts through the inbox, one after another in
one process and fanned out to a process work pool with 1 and with 2 workers.

    .venv/bin/python bench/tenants.py [--tenants 8] [--students 20000] [--repeat 1]
                                      [--out bench/out] [--keep DIR]

Each district is a synthetic feed (`generate_feed(students, seed=i)`, its own
`source.systemCode`), synced into a new per-tenant layout (`wh/{tenant}.duckdb`) from a fresh
copy of the inbox, every feed settled and in arrival order:

  serial, in-process   `inbox_flow` without dispatch: each sync a subflow of the scan, one after
                       another, in the scan's process (rosterflow serve without --pool)
  N worker(s)          `inbox_flow(dispatch=True)`: each sync a flow run of the tenant
                       deployment on a process work pool served by N `prefect worker start
                       --limit 1` processes, each flow run a process of its own

Timed is the scan, from its start to the last zip filed. A Prefect server of the bench's own
(`prefect server start`, a new database) serves all of it. The goal (issue 15): with 2 workers
on the 2-core machine, the tenants finish in at most 0.65x the time of 1 worker.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cli_startup import clean_environment, start_server

GOAL_RATIO = 0.65
POOL = "rosterflow-bench"
BIN = Path(sys.executable).parent


def write_feeds(folder: Path, tenants: int, students: int) -> list[Path]:
    from rosterflow.demo.district import generate_feed
    from rosterflow.schemas.writer import write_feed

    folder.mkdir(parents=True, exist_ok=True)
    return [
        write_feed(
            folder / f"district-{i}.zip",
            generate_feed(students, seed=i),
            properties={"source.systemCode": f"district-{i}"},
        )
        for i in range(tenants)
    ]


def fresh_inbox(folder: Path, feeds: list[Path]) -> Path:
    """The feeds in a new inbox, settled long ago, arriving in their order."""
    folder.mkdir(parents=True)
    settled = time.time() - 3600
    for i, feed in enumerate(feeds):
        copy = shutil.copy(feed, folder / feed.name)
        os.utime(copy, (settled + i, settled + i))
    return folder


def start_workers(count: int, api_url: str, work: Path) -> list[subprocess.Popen]:
    prefect = shutil.which("prefect", path=str(BIN)) or "prefect"
    workers = []
    for number in range(1, count + 1):
        home = work / f"worker-{number}"
        home.mkdir(parents=True, exist_ok=True)
        environment = clean_environment(
            home / "prefect-home",
            PREFECT_API_URL=api_url,
            PREFECT_WORKER_QUERY_SECONDS="1",
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
        )
        command = [prefect, "worker", "start", "--pool", POOL, "--name", f"bench-worker-{number}"]
        workers.append(
            subprocess.Popen(
                [*command, "--limit", "1"],
                env=environment,
                cwd=home,
                stdout=(home / "worker.log").open("w"),
                stderr=subprocess.STDOUT,
            )
        )
    wait_for_workers({f"bench-worker-{n}" for n in range(1, count + 1)})
    return workers


def wait_for_workers(names: set[str], seconds: float = 120) -> None:
    from prefect import get_client

    deadline = time.monotonic() + seconds
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            online = {
                worker.name
                for worker in client.read_workers_for_work_pool(POOL)
                if worker.status.value == "ONLINE"
            }
            if names <= online:
                return
            time.sleep(0.5)
    sys.exit(f"workers {sorted(names)} did not come online within {seconds:.0f} s")


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait(timeout=60)


def timed_scan(inbox: Path, warehouse: Path, dispatch: bool, tenants: int) -> float:
    from rosterflow.flows.inbox_flow import inbox_flow

    started = time.perf_counter()
    filed = inbox_flow(str(inbox), str(warehouse / "{tenant}.duckdb"), settle_seconds=0,
                       dispatch=dispatch)  # fmt: skip
    elapsed = time.perf_counter() - started
    outcomes = sorted(entry.outcome for entry in filed)
    if outcomes != ["applied"] * tenants:
        sys.exit(f"expected {tenants} applied runs, the scan filed {outcomes}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=8)
    parser.add_argument("--students", type=int, default=20000, help="students per district")
    parser.add_argument("--repeat", type=int, default=1, help="scans per mode (best is shown)")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    arguments = parser.parse_args()

    work = arguments.keep or Path(tempfile.mkdtemp(prefix="rosterflow-tenants-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"generating {arguments.tenants} districts of {arguments.students} students ...")
    feeds = write_feeds(work / "feeds", arguments.tenants, arguments.students)
    feed_mib = sum(feed.stat().st_size for feed in feeds) / 2**20

    server, api_url = start_server(work / "server-home")
    os.environ.update(clean_environment(work / "bench-home", PREFECT_API_URL=api_url))
    modes = ["serial, in-process", "1 worker", "2 workers"]
    seconds: dict[str, list[float]] = {mode: [] for mode in modes}
    try:
        from rosterflow.flows.fanout import deploy_sync

        deploy_sync(POOL)
        number = 0
        for _ in range(arguments.repeat):
            for mode in modes:
                number += 1
                workers = [] if mode.startswith("serial") else (
                    start_workers(int(mode.split()[0]), api_url, work / f"scan-{number}")
                )  # fmt: skip
                try:
                    inbox = fresh_inbox(work / f"scan-{number}" / "inbox", feeds)
                    elapsed = timed_scan(
                        inbox, work / f"scan-{number}" / "wh", bool(workers), arguments.tenants
                    )
                finally:
                    stop_workers(workers)
                seconds[mode].append(elapsed)
                print(f"  {mode:<20} {elapsed:7.1f} s")
    finally:
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=5)  # the scans' last log lines, while the server is up
        server.terminate()
        server.wait(timeout=30)

    best = {mode: min(times) for mode, times in seconds.items()}
    ratio_1w = best["2 workers"] / best["1 worker"]
    ratio_serial = best["2 workers"] / best["serial, in-process"]
    print(
        f"\n{arguments.tenants} districts x {arguments.students} students "
        f"({feed_mib:.0f} MiB of zips), best of {arguments.repeat}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs:\n"
    )
    print(f"  {'mode':<20} {'seconds':>8} {'tenants/min':>12}")
    for mode in modes:
        print(f"  {mode:<20} {best[mode]:8.1f} {60 * arguments.tenants / best[mode]:12.1f}")
    verdict = "PASS" if ratio_1w <= GOAL_RATIO else f"MISS by {ratio_1w / GOAL_RATIO:.2f}x"
    print(f"\n  2 workers / 1 worker          {ratio_1w:.2f}  (goal <= {GOAL_RATIO}: {verdict})")
    print(f"  2 workers / serial in-process {ratio_serial:.2f}")

    arguments.out.mkdir(parents=True, exist_ok=True)
    with (arguments.out / "tenants.csv").open("w", newline="") as out:
        table = csv.writer(out)
        table.writerow(["mode", "tenants", "students", "best_s", "runs_s", "tenants_per_min"])
        for mode in modes:
            table.writerow(
                [mode, arguments.tenants, arguments.students, f"{best[mode]:.2f}",
                 " ".join(f"{s:.2f}" for s in seconds[mode]),
                 f"{60 * arguments.tenants / best[mode]:.1f}"]
            )  # fmt: skip
    (arguments.out / "tenants.json").write_text(
        json.dumps(
            {
                "ratio_2_workers_to_1": round(ratio_1w, 3),
                "ratio_2_workers_to_serial": round(ratio_serial, 3),
                "goal_ratio": GOAL_RATIO,
                "cpus": os.cpu_count(),
                "load_average": os.getloadavg(),
                "python": platform.python_version(),
            },
            indent=2,
        )
    )
    if arguments.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
