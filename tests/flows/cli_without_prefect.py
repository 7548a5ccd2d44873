"""Runs `rosterflow ARGUMENTS...` as the console script does, for tests of the run without
Prefect, then writes every module this process imported (as a JSON list) to REPORT:

    python tests/flows/cli_without_prefect.py REPORT [--fail-apply] ARGUMENTS...

`--fail-apply` makes applying fail as on a full disk, after lms was written in the transaction.
The tests run it with `rosterflow(...)`, below.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def disk_full() -> None:
    raise OSError(28, "No space left on device")


@dataclass(frozen=True)
class Done:
    code: int
    stdout: str
    stderr: str
    modules: list[str]  # every module the process imported

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def prefect_modules(self) -> list[str]:
        return [name for name in self.modules if name.partition(".")[0] == "prefect"]


def rosterflow(
    cwd: Path,
    *arguments,
    fail_apply: bool = False,
    unprivileged: bool = False,
    **environment: str,
) -> Done:
    """`rosterflow ARGUMENTS...` in its own process, in `cwd`, without any Prefect setting;
    `unprivileged`: bound by file permissions, also when the tests run as root."""
    from tests.unprivileged import without_override

    clean = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PREFECT_") and name != "ROSTERFLOW_PREFECT"
    }
    clean |= {"PREFECT_HOME": str(cwd / ".prefect-home"), "PYTHONPATH": str(ROOT)}
    report = cwd / ".imports.json"
    command = [
        sys.executable,
        __file__,
        str(report),
        *(["--fail-apply"] if fail_apply else []),
        *map(str, arguments),
    ]
    done = subprocess.run(
        without_override(command) if unprivileged else command,
        capture_output=True,
        text=True,
        env=clean | environment,
        cwd=cwd,
        timeout=120,
    )
    imported = json.loads(report.read_text())
    report.unlink()
    return Done(done.returncode, done.stdout, done.stderr, imported)


if __name__ == "__main__":
    report, arguments = Path(sys.argv[1]), sys.argv[2:]
    if arguments[:1] == ["--fail-apply"]:
        from rosterflow.warehouse import apply

        apply._pause_for_kill_test = disk_full
        arguments = arguments[1:]
    sys.argv = ["rosterflow", *arguments]
    from rosterflow.flows.cli import exit_code

    try:
        code = exit_code()  # (`main` would end the process before the report is written)
    finally:
        report.write_text(json.dumps(sorted(sys.modules)))
    sys.exit(code)
