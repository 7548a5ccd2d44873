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
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import subprocess
import sys
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dlt-python", default="/tmp/dlt/bin/python")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    options = parser.parse_args()
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
    options.out.mkdir(parents=True, exist_ok=True)
    path = options.out / f"pull_{date.today():%Y-%m-%d}_{options.students}.csv"
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"written {path} ({platform.machine()}, {len(rows)} rows)")


if __name__ == "__main__":
    main()
