"""Start-up of `rosterflow sync` end to end: a tiny generated feed synced into a new warehouse,
timed from outside the process (interpreter start, imports, the sync, exit), best of N.

    .venv/bin/python bench/cli_startup.py [--repeat 3] [--students 20] [--server]
                                          [--api-url URL] [--keep DIR]

Measured, each in a fresh process with no Prefect setting in its environment and PREFECT_HOME in
a temporary folder:

  without Prefect      PREFECT_API_URL unset: the steps run in-process (goal: at most 2 s)
  --prefect, no API    the Prefect flow on a temporary local server, as every sync ran before
  Prefect API          the Prefect flow reporting to a running server: --api-url URL names one,
                       --server starts one for the measurement (`prefect server start`, on a
                       free port, stopped at the end)
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

GOAL_SECONDS = 2.0
BIN = Path(sys.executable).parent


def rosterflow_command() -> list[str]:
    """The console script beside this interpreter, as a user runs it."""
    script = shutil.which("rosterflow", path=str(BIN))
    return [script] if script else [sys.executable, "-m", "rosterflow.flows.cli"]


def clean_environment(home: Path, **extra: str) -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PREFECT_") and name != "ROSTERFLOW_PREFECT"
    }
    return environment | {"PREFECT_HOME": str(home)} | extra


def timed_sync(work: Path, feed: Path, number: int, environment: dict, *options: str) -> float:
    warehouse = work / f"w-{number}.duckdb"
    command = [*rosterflow_command(), "sync", str(feed), "--warehouse", str(warehouse), *options]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=work, env=environment, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return elapsed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(home: Path) -> tuple[subprocess.Popen, str]:
    """A Prefect server of our own for the measurement, and its API URL once it answers."""
    port = free_port()
    prefect = shutil.which("prefect", path=str(BIN)) or "prefect"
    server = subprocess.Popen(
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=clean_environment(home, PREFECT_SERVER_ANALYTICS_ENABLED="false"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return server, url
        except OSError:
            time.sleep(0.5)
        if server.poll() is not None:
            break
    server.terminate()
    sys.exit("the Prefect server did not start within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode (best is shown)")
    parser.add_argument("--students", type=int, default=20, help="size of the tiny feed")
    parser.add_argument("--api-url", help="also time the flow against this running Prefect API")
    parser.add_argument("--server", action="store_true", help="start a Prefect server to do so")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    arguments = parser.parse_args()

    work = arguments.keep or Path(tempfile.mkdtemp(prefix="rosterflow-startup-"))
    work.mkdir(parents=True, exist_ok=True)
    home = work / "prefect-home"
    feed = work / "tiny.zip"
    subprocess.run(
        [*rosterflow_command(), "generate", str(feed), "--students", str(arguments.students)],
        check=True,
        capture_output=True,
        env=clean_environment(home),
    )
    modes: list[tuple[str, dict, tuple[str, ...]]] = [
        ("without Prefect (PREFECT_API_URL unset)", clean_environment(home), ()),
        ("--prefect, no API: temporary server", clean_environment(home), ("--prefect",)),
    ]
    server = None
    try:
        api_url = arguments.api_url
        if api_url is None and arguments.server:
            server, api_url = start_server(work / "server-home")  # its own database
        if api_url:
            modes.append(
                (f"Prefect API at {api_url}", clean_environment(home, PREFECT_API_URL=api_url), ())
            )

        print(
            f"rosterflow sync of {feed.name} ({arguments.students} students) into a new "
            f"warehouse, best of {arguments.repeat}, each run a new process "
            f"(Python {platform.python_version()}, {os.cpu_count()} CPUs):\n"
        )
        results = {name: [] for name, _, _ in modes}
        number = 0
        for _ in range(arguments.repeat):  # interleaved: a burst of load hits every mode alike
            for name, environment, options in modes:
                number += 1
                results[name].append(timed_sync(work, feed, number, environment, *options))
        width = max(len(name) for name in results)
        for name, times in results.items():
            best = min(times)
            runs = ", ".join(f"{t:.2f}" for t in times)
            verdict = ""
            if name.startswith("without Prefect"):
                verdict = (
                    f"  goal {GOAL_SECONDS:g} s: {'met' if best <= GOAL_SECONDS else 'MISSED'}"
                )
            print(f"  {name:<{width}}  {best:6.2f} s  (runs: {runs}){verdict}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if arguments.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
