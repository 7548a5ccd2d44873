"""Records per second pulling a generated district from a OneRoster REST API on this machine:
rosterflow's client (`rosterflow.sis`: httpx2, authlib, stamina; each page decoded by Polars
into a frame) against dlt's REST client (requests; a paginator; each page a list of Python
dicts, made a Polars frame per page here so that both end with frames).

    .venv/bin/python bench/pull.py [--students 200000] [--repeat 3] [--dlt-python PATH]

The API is `rosterflow.demo.api` serving `demo.district.generate_feed(students)` in a process
of its own (uvicorn, one worker), with `Link` and `X-Total-Count` headers as most SIS APIs
send them: both clients then follow the links, one page after another per collection, the six
collections at once (rosterflow within `[source] concurrency` = 4 requests in flight; dlt on 4
threads, one collection each). A second server sends `X-Total-Count` alone, where rosterflow
asks for all the pages of a collection at once (within the same bound); dlt's paginators read
a total from the body, not a header, so it has no counterpart there. Each measurement runs in
a fresh process: records, seconds, records per second, peak memory. dlt is not a dependency
of rosterflow; give the python of a virtual environment that has `dlt` and `polars`
(`python3 -m venv /tmp/dlt && /tmp/dlt/bin/pip install dlt==1.31.0 polars==2.1.0`), or the
dlt rows are skipped. Results go to bench/results/pull_<date>_<students>.csv.

    .venv/bin/python bench/pull.py --sync [--students 200000] [--repeat 3]

`--sync` measures instead what the sync after a pull costs against the sync of the same
district's zip: the district is pulled once into a zip (`rosterflow pull URL ZIP`), then
`rosterflow sync URL --tenant T` (the pull and its sync in one run) and `rosterflow sync ZIP
--tenant T` run in turn, each into a fresh warehouse, best of `--repeat`. The pull's seconds,
which `sync URL` prints, are taken from its wall time: what is left is its sync part (writing
the pulled feed, then the sync), set against the zip's whole sync. Both are CLI runs in
processes of their own, without Prefect, start-up included. Results go to
bench/results/pull_sync_<date>_<students>.csv.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLLECTIONS = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")
PAGE_SIZE = 1000
CONCURRENCY = 4

# run in a fresh interpreter: pull with rosterflow, print what it took as JSON
ROSTERFLOW = """
import json, resource, sys, time
from rosterflow.schemas.settings import Source
from rosterflow.sis.pull import pull
started = time.perf_counter()
pulled = pull(sys.argv[1], Source(page_size=PAGE_SIZE, concurrency=CONCURRENCY))
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"records": pulled.records, "seconds": seconds, "peak_bytes": peak}))
"""

# the same with dlt's REST client: Link rel="next" followed, pages as frames
DLT = """
import json, resource, sys, time
from concurrent.futures import ThreadPoolExecutor
import polars as pl
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import HeaderLinkPaginator

def collection(name):
    client = RESTClient(base_url=sys.argv[1])
    pages = client.paginate(
        "/" + name, params={"limit": PAGE_SIZE, "offset": 0},
        paginator=HeaderLinkPaginator(), data_selector=name,
    )
    return pl.concat([pl.from_dicts(page, infer_schema_length=None) for page in pages], how="diagonal_relaxed")

started = time.perf_counter()
with ThreadPoolExecutor(CONCURRENCY) as pool:
    frames = list(pool.map(collection, COLLECTIONS))
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"records": sum(f.height for f in frames), "seconds": seconds, "peak_bytes": peak}))
"""


def script(body: str) -> str:
    constants = (
        f"PAGE_SIZE = {PAGE_SIZE}\nCONCURRENCY = {CONCURRENCY}\nCOLLECTIONS = {COLLECTIONS!r}\n"
    )
    return constants + body


def start_api(students: int, paging: str) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rosterflow.demo.api",
            "--students",
            str(students),
            "--paging",
            paging,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    url = server.stdout.readline().strip()
    if not url.startswith("http"):
        server.kill()
        raise SystemExit(f"the API did not start (paging {paging})")
    return server, url


def measure(python: str, body: str, url: str) -> dict:
    done = subprocess.run(
        [python, "-c", script(body), url], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"{python}: the pull failed\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# `sync URL`'s line of what it pulled: "pulled URL (...): ... in 12.3 s (...)"
PULL_SECONDS = re.compile(r"^pulled \S+ \(.*?\): .* in ([0-9.]+) s \(", re.MULTILINE)
TENANT = "bench"


def rosterflow_command(*arguments: str) -> tuple[float, str]:
    """`rosterflow ARGUMENTS` in a process of its own, without Prefect (the steps in-process,
    as a cron job without PREFECT_API_URL runs them): its wall seconds and its output."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    environment["COLUMNS"] = "500"  # the pulled line unwrapped, for PULL_SECONDS
    started = time.perf_counter()
    done = subprocess.run(
        [str(Path(sys.executable).with_name("rosterflow")), *arguments],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(
            f"rosterflow {' '.join(arguments)}: exit {done.returncode}\n"
            f"{(done.stdout + done.stderr)[-2000:]}"
        )
    return seconds, done.stdout


def sync_of_url(url: str, warehouse: Path) -> dict:
    """`rosterflow sync URL` into a fresh `warehouse`: its wall seconds, the pull's seconds it
    printed, and the rest, its sync part."""
    seconds, output = rosterflow_command(
        "sync", url, "--tenant", TENANT, "--warehouse", str(warehouse)
    )
    pulled = PULL_SECONDS.search(output)
    if pulled is None:
        raise SystemExit(f"sync {url}: no line of what it pulled in\n{output[-2000:]}")
    pull_seconds = float(pulled.group(1))
    return {"seconds": seconds, "pull": pull_seconds, "sync": seconds - pull_seconds}


def sync_of_zip(feed: Path, warehouse: Path) -> dict:
    """`rosterflow sync ZIP` into a fresh `warehouse`: its wall seconds, all of them a sync's."""
    seconds, _ = rosterflow_command(
        "sync", str(feed), "--tenant", TENANT, "--warehouse", str(warehouse)
    )
    return {"seconds": seconds, "pull": 0.0, "sync": seconds}


def measure_sync(options: argparse.Namespace) -> None:
    """The sync after a pull against the sync of the pulled zip, interleaved run by run (a
    machine that slows down slows both alike), each into a fresh warehouse; best of
    `options.repeat`, by each one's sync part."""
    server, url = start_api(options.students, "link")
    runs: dict[str, list[dict]] = {"sync URL": [], "sync zip": []}
    try:
        with tempfile.TemporaryDirectory(prefix="rosterflow-bench-pull-") as folder:
            work = Path(folder)
            feed = work / "pulled.zip"
            rosterflow_command("pull", url, str(feed))
            for attempt in range(options.repeat):
                runs["sync URL"].append(sync_of_url(url, work / f"url-{attempt}.duckdb"))
                runs["sync zip"].append(sync_of_zip(feed, work / f"zip-{attempt}.duckdb"))
                print(
                    f"run {attempt + 1}: sync URL {runs['sync URL'][-1]['seconds']:.2f} s "
                    f"(pull {runs['sync URL'][-1]['pull']:.2f} s, sync "
                    f"{runs['sync URL'][-1]['sync']:.2f} s); sync zip "
                    f"{runs['sync zip'][-1]['sync']:.2f} s",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait()
    rows = []
    for command, measured in runs.items():
        best = min(measured, key=lambda run: run["sync"])
        rows.append(
            {
                "command": command,
                "students": options.students,
                "seconds": round(best["seconds"], 2),
                "pull_seconds": round(best["pull"], 2),
                "sync_seconds": round(best["sync"], 2),
                "runs": " ".join(f"{run['sync']:.2f}" for run in measured),
            }
        )
    by_url, by_zip = rows[0]["sync_seconds"], rows[1]["sync_seconds"]
    print(
        f"{options.students:,} students, best of {options.repeat}: the sync part of sync URL "
        f"{by_url:.2f} s (its pull {rows[0]['pull_seconds']:.2f} s apart), sync of the zip "
        f"{by_zip:.2f} s: {by_url / by_zip:.2f}x"
    )
    write_rows(options.out / f"pull_sync_{date.today():%Y-%m-%d}_{options.students}.csv", rows)


def write_rows(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"written {path} ({platform.machine()}, {len(rows)} rows)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dlt-python", default="/tmp/dlt/bin/python")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument(
        "--sync",
        action="store_true",
        help="measure `sync URL`'s sync part against `sync ZIP` of the pulled zip instead",
    )
    options = parser.parse_args()
    if options.sync:
        measure_sync(options)
        return
    has_dlt = (
        subprocess.run(
            [options.dlt_python, "-c", "import dlt, polars"], capture_output=True, check=False
        ).returncode
        == 0
        if Path(options.dlt_python).exists()
        else False
    )
    clients = [("rosterflow", "link", sys.executable, ROSTERFLOW)]
    if has_dlt:
        clients.append(("dlt", "link", options.dlt_python, DLT))
    clients.append(("rosterflow", "total", sys.executable, ROSTERFLOW))
    rows = []
    for paging in ("link", "total"):
        started = time.perf_counter()
        server, url = start_api(options.students, paging)
        print(f"API ({paging}) up in {time.perf_counter() - started:.0f} s: {url}", flush=True)
        try:
            for client, serves, python, body in clients:
                if serves != paging:
                    continue
                runs = [measure(python, body, url) for _ in range(options.repeat)]
                best = min(runs, key=lambda r: r["seconds"])
                row = {
                    "client": client,
                    "paging": paging,
                    "students": options.students,
                    "records": best["records"],
                    "seconds": round(best["seconds"], 2),
                    "records_per_second": round(best["records"] / best["seconds"]),
                    "peak_mib": round(best["peak_bytes"] / 2**20),
                    "runs": " ".join(f"{r['seconds']:.2f}" for r in runs),
                }
                rows.append(row)
                print(
                    f"{client:>10} {paging:>5}: {row['records']:,} records in {row['seconds']} s "
                    f"= {row['records_per_second']:,} records/s, peak {row['peak_mib']} MiB "
                    f"(runs {row['runs']})",
                    flush=True,
                )
        finally:
            server.terminate()
            server.wait()
    if not has_dlt:
        print(f"dlt skipped: no python with dlt and polars at {options.dlt_python}")
    write_rows(options.out / f"pull_{date.today():%Y-%m-%d}_{options.students}.csv", rows)


if __name__ == "__main__":
    main()
