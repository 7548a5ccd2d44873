"""A feed broken as exports break them, read by `validate`: seconds and peak memory beside the
same feed unbroken, each run a new process; best of N.

    .venv/bin/python bench/broken_feeds.py [--students 200000] [--feed PATH] [--repeat 3]

Without `--feed`, a synthetic district of `--students` (demo.district, seed 0) is written
into a temporary folder. Each variant changes one file of it and nothing else:

| variant | what is broken |
|---|---|
| unbroken | nothing: the figure the others are read against |
| a ragged enrollment | one line of enrollments.csv with a value too many |
| a ragged user | one line of users.csv (whose names are quoted) with a value too many |
| a blank line at the end | enrollments.csv ending in an empty line |
| a ragged enrollment, one quoted amiss | and another line's status `"active"x` (which the csv module reads) |
| a CR alone in an enrollment | a status `act\rive`: the csv module reads the whole file |
| a control character, a blank line at the end | a status `act\x0bive`, and enrollments.csv ending in an empty line |
| a comma too many on every enrollment | each line of enrollments.csv but the header ends in a comma |

Each of these the fast path's counts refuse, so the file is read again (`schemas.csvfile`):
line by line, the csv module reading only the lines that need it (a value quoted amiss or
spanning lines) from where they start.
Every variant must end as `validate` ends it, with the same exit code and issue counts, run
after run; the table prints them.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path


def _ragged_line(data: bytes, at: int = 5_000) -> bytes:
    lines = data.split(b"\n")
    lines[at] += b",extra"
    return b"\n".join(lines)


def _second_value_changed(data: bytes, change: Callable[[bytes], bytes], at: int = 7_000) -> bytes:
    """`data` with the second value of line `at` (an enrollment's status) changed."""
    lines = data.split(b"\n")
    values = lines[at].split(b",")
    values[1] = change(values[1])
    lines[at] = b",".join(values)
    return b"\n".join(lines)


def _quoted_amiss(data: bytes) -> bytes:
    """A ragged line, and a value quoted amiss (`"active"x`) on another: Polars refuses the
    value, so the csv module reads its line."""
    return _second_value_changed(_ragged_line(data), lambda value: b'"' + value + b'"x')


def _bare_cr(data: bytes) -> bytes:
    """A CR alone in a value: only the csv module tells which CRs end lines, so it reads the
    whole file."""
    return _second_value_changed(data, lambda value: value[:3] + b"\r" + value[3:])


def _control_and_blank_end(data: bytes) -> bytes:
    """A vertical tab in a value (an error, `value.control`), and a blank line at the end."""
    return _second_value_changed(data, lambda value: value[:3] + b"\x0b" + value[3:]) + b"\n"


def _comma_on_every_line(data: bytes) -> bytes:
    header, _, body = data.partition(b"\n")
    return header + b"\n" + body.replace(b"\n", b",\n")


VARIANTS: dict[str, tuple[str | None, Callable[[bytes], bytes]]] = {
    "unbroken": (None, lambda data: data),
    "a ragged enrollment": ("enrollments.csv", _ragged_line),
    "a ragged user": ("users.csv", _ragged_line),
    "a blank line at the end": ("enrollments.csv", lambda data: data + b"\n"),
    "a ragged enrollment, one quoted amiss": ("enrollments.csv", _quoted_amiss),
    "a CR alone in an enrollment": ("enrollments.csv", _bare_cr),
    "a control character, a blank line at the end": ("enrollments.csv", _control_and_blank_end),
    "a comma too many on every enrollment": ("enrollments.csv", _comma_on_every_line),
}


def broken(feed: Path, folder: Path, name: str) -> Path:
    """`feed` with the one file `VARIANTS[name]` breaks broken."""
    member, breaking = VARIANTS[name]
    target = folder / (re.sub(r"\W+", "-", name) + ".zip")
    with zipfile.ZipFile(feed) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            data = source.read(info)
            out.writestr(info.filename, breaking(data) if info.filename == member else data)
    return target


def measure(feed: Path) -> dict:
    """`rosterflow validate FEED` in a new process: its seconds, peak memory and answer."""
    code = (
        "import json, resource, sys, time\n"
        "from pathlib import Path\n"
        "from rosterflow.flows.commands import validate\n"
        "start = time.perf_counter()\n"
        "_, validated = validate(Path(sys.argv[1]), None, None, None)\n"
        "seconds = time.perf_counter() - start\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(json.dumps({'seconds': seconds, 'peak_mib': peak, 'ok': validated.ok,\n"
        "    'errors': validated.error_count, 'issues': validated.issues.height}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(feed)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=200_000)
    parser.add_argument("--feed", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        feed = args.feed
        if feed is None:
            from rosterflow.demo.district import generate_feed
            from rosterflow.schemas.writer import write_feed

            feed = write_feed(folder / "feed.zip", generate_feed(args.students, seed=0))
        feeds = {name: broken(feed, folder, name) for name in VARIANTS}
        runs: dict[str, list[dict]] = {name: [] for name in VARIANTS}
        for _ in range(args.repeat):  # interleaved: a burst of other work hits every variant
            for name, path in feeds.items():
                runs[name].append(measure(path))
    unbroken = min(run["seconds"] for run in runs["unbroken"])
    print(f"{'variant':<46} {'s':>7} {'x unbroken':>10} {'peak MiB':>9}  answer")
    for name, measured in runs.items():
        best = min(measured, key=lambda run: run["seconds"])
        answers = {(run["ok"], run["errors"], run["issues"]) for run in measured}
        assert len(answers) == 1, f"{name}: another answer run after run: {answers}"
        ok, errors, issues = answers.pop()
        answer = f"{'valid' if ok else 'invalid'}, {errors:,} error(s), {issues:,} issue(s)"
        print(
            f"{name:<46} {best['seconds']:>7.2f} {best['seconds'] / unbroken:>10.2f} "
            f"{max(run['peak_mib'] for run in measured):>9,.0f}  {answer}"
        )


if __name__ == "__main__":
    main()
