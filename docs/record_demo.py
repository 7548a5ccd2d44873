"""Record `rosterflow demo` as the picture the README and the docs show (docs/assets/demo.svg).

    .venv/bin/python docs/record_demo.py

Runs the installed `rosterflow demo` in a temporary folder, in colour and 100 columns wide
(`FORCE_COLOR=1`, `TTY_INTERACTIVE=0`: no spinner), reads its output back into a recording
rich console and saves it as SVG. The picture ends where the demo's "Try it" part begins:
it shows the two syncs and their change summaries; the docs say what to try next. Run it
again whenever the demo's output changes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.text import Text

OUT = Path(__file__).resolve().parent / "assets" / "demo.svg"
WIDTH = 100
STOP_AT = "Try it"


def demo_output() -> str:
    """What `rosterflow demo` prints, with its colours as ANSI codes."""
    script = Path(sys.executable).parent / "rosterflow"
    command = [str(script)] if script.exists() else [shutil.which("rosterflow") or "rosterflow"]
    env = os.environ | {
        "COLUMNS": str(WIDTH),
        "FORCE_COLOR": "1",
        "TTY_INTERACTIVE": "0",
        "ROSTERFLOW_PREFECT": "0",
    }
    env.pop("NO_COLOR", None)
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            [*command, "demo"], cwd=folder, env=env, capture_output=True, text=True, check=True
        )
    return done.stdout


def until_try_it(output: str) -> str:
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if Text.from_ansi(line).plain.startswith(STOP_AT):
            return "\n".join(lines[:i])
    return output


def main() -> None:
    output = until_try_it(demo_output())
    with open(os.devnull, "w") as nowhere:
        console = Console(record=True, width=WIDTH, force_terminal=True, file=nowhere)
        console.print(Text("$ rosterflow demo", style="bold"))
        console.print(Text.from_ansi(output), soft_wrap=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    console.save_svg(str(OUT), title="rosterflow demo")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
