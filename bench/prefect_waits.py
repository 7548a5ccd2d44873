"""What a flow run under a Prefect server spends waiting, not working (bench/README.md, "What a
Prefect flow run waits for").

Under a temporary Prefect server on SQLite (Prefect's test harness, as the test suites use), in
this process:

- an empty flow run, with Prefect's default heartbeats and with none: a flow run joins its
  heartbeat thread as it ends, and the thread sleeps a second at a time;
- an inbox scan of tiny districts, each its own tenant (`inbox_flow`, each sync a subflow, as
  `rosterflow serve` without `--pool`), both ways, with the requests the server answered 503
  ("database is locked": SQLite's one writer) counted by the endpoint they were sent to.

    .venv/bin/python bench/prefect_waits.py    # 3 rounds: 10 empty flow runs, 8 districts
    .venv/bin/python bench/prefect_waits.py --districts 20 --students 200
"""

from __future__ import annotations

import argparse
import collections
import shutil
import tempfile
import time
from pathlib import Path

import httpx
from tenants import fresh_inbox, timed_scan, write_feeds

# requests the server answered 503, by method and path (Prefect's client waits, then asks again)
REFUSED: collections.Counter[str] = collections.Counter()


def _count_refusals() -> None:
    """Count every 503 that Prefect's clients (httpx, sync and async) receive."""
    send, send_async = httpx.Client.send, httpx.AsyncClient.send

    def counted(response: httpx.Response) -> httpx.Response:
        if response.status_code == 503:
            REFUSED[f"{response.request.method} {response.request.url.path}"] += 1
        return response

    def client_send(self, request, *args, **kwargs):
        return counted(send(self, request, *args, **kwargs))

    async def async_client_send(self, request, *args, **kwargs):
        return counted(await send_async(self, request, *args, **kwargs))

    httpx.Client.send, httpx.AsyncClient.send = client_send, async_client_send


def empty_flow_runs(count: int) -> float:
    """Seconds per run of a flow that does nothing."""
    from prefect import flow

    @flow
    def nothing() -> None:
        return None

    nothing()  # the first run creates the flow
    started = time.perf_counter()
    for _ in range(count):
        nothing()
    return (time.perf_counter() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="empty flow runs each way")
    parser.add_argument("--districts", type=int, default=8, help="zips in each scan")
    parser.add_argument("--students", type=int, default=40, help="students per district")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of both ways, interleaved")
    args = parser.parse_args()

    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    from rosterflow.flows.prefect_logging import quiet_prefect

    quiet_prefect(verbose=False)
    _count_refusals()
    root = Path(tempfile.mkdtemp(prefix="prefect-waits-"))
    rows = []
    try:
        feeds = write_feeds(root / "feeds", args.districts, args.students)
        with (
            temporary_settings({PREFECT_SERVER_ANALYTICS_ENABLED: False}),
            prefect_test_harness(),
        ):
            for round_ in range(args.repeat):
                for heartbeats in ("Prefect's default", "none"):
                    off = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None} if heartbeats == "none" else {}
                    with temporary_settings(off):
                        empty = empty_flow_runs(args.runs)
                        REFUSED.clear()
                        folder = root / f"{round_}-{'none' if off else 'default'}"
                        inbox = fresh_inbox(folder / "inbox", feeds)
                        seconds = timed_scan(inbox, folder / "wh", False, args.districts)
                        rows.append((heartbeats, empty, seconds, dict(REFUSED)))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(f"{args.districts} districts of {args.students} students, {args.runs} empty flow runs")
    print("| heartbeats | empty flow run, s | scan, s | s per district | 503 answers |")
    print("|---|---|---|---|---|")
    for heartbeats, empty, seconds, refused in rows:
        answers = ", ".join(f"{n} {what}" for what, n in sorted(refused.items())) or "none"
        print(
            f"| {heartbeats} | {empty:.2f} | {seconds:.1f} | {seconds / args.districts:.2f} "
            f"| {answers} |"
        )


if __name__ == "__main__":
    main()
