"""Runs `rosterflow ARGUMENTS...` as the console script does, for tests of the run without
Prefect, then writes the Prefect modules this process imported (as a JSON list) to REPORT:

    python tests/flows/cli_without_prefect.py REPORT [--fail-apply] ARGUMENTS...

`--fail-apply` makes applying fail as on a full disk, after lms was written in the transaction.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def disk_full() -> None:
    raise OSError(28, "No space left on device")


def prefect_modules() -> list[str]:
    return sorted(name for name in sys.modules if name.partition(".")[0] == "prefect")


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
        report.write_text(json.dumps(prefect_modules()))
    sys.exit(code)
