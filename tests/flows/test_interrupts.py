"""A Ctrl-C a process was started to ignore stays ignored: Polars' native library installs a
SIGINT handler of its own when it loads (`interrupts.load_keeping_ctrl_c_ignored`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.feeds import tiny_district, write_feed

# whether SIGINT is caught below Python (by any handler) once `argv[1]` has run
CAUGHT_AFTER = """
import signal, sys
exec(sys.argv[1])
import polars
caught = next(line for line in open("/proc/self/status") if line.startswith("SigCgt:"))
print(bool(int(caught.split()[1], 16) & (1 << (signal.SIGINT - 1))))
"""


def _caught_after(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", CAUGHT_AFTER, code],
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    ).stdout.strip()


def test_polars_catches_a_ctrl_c_its_process_ignores_unless_loaded_keeping_it_ignored():
    assert _caught_after("pass") == "True"  # why the commands do what they do
    kept = "from rosterflow.flows.interrupts import load_keeping_ctrl_c_ignored as load\n"
    assert _caught_after(kept + "load('polars')") == "False"


@pytest.mark.slow
def test_a_sync_started_ignoring_ctrl_c_runs_through_ctrl_c_after_ctrl_c(tmp_path):
    """A sync a script started with `&` gets the Ctrl-Cs meant for the script, and ignores
    them: it went on only until a step of Polars' took one, then ended `interrupted`, exit
    130, every time."""
    program = Path(sys.executable).parent / "rosterflow"
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("PREFECT_")
    } | {"PREFECT_HOME": str(tmp_path / ".prefect-home")}
    feed = write_feed(tmp_path / "d.zip", tiny_district())
    running = subprocess.Popen(
        [str(program), "sync", str(feed), "--warehouse", str(tmp_path / "w.duckdb")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        deadline = time.monotonic() + 120
        while running.poll() is None and time.monotonic() < deadline:
            running.send_signal(signal.SIGINT)
            time.sleep(0.01)
        stdout, stderr = running.communicate(timeout=60)
    finally:
        if running.poll() is None:
            running.kill()
    assert running.returncode == 0, stdout + stderr
    assert ": applied — run 1" in stdout
