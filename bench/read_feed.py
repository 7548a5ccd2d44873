"""Reading a feed, piece by piece: unzip, sha256, the floor parse, our parse of each big file,
`Feed.parse()` and `open_feed` as a whole; best of N, wall and CPU seconds.

    .venv/bin/python bench/read_feed.py [--students 200000] [--feed PATH] [--repeat 3]
                                        [--compare REV] [--keep]

Without `--feed`, a synthetic district of `--students` (demo.district, seed 0, about 10 s
at 200k) is written as a zip into a temporary folder (`--keep` writes it to
bench/out/read-feed-N.zip instead, for `--feed` next time).

`--compare REV` measures twice, each in a child process of its own: the `schemas` package of git
revision REV (extracted into a temporary folder) and that of the work tree, and prints them side
by side. The work tree's unzip reader is the fast one only if REV predates it; the `zipfile`
row is the same code in both, so it shows how far the machine's noise alone moves a figure.

| row | what is timed |
|---|---|
| unzip: zipfile | `zipfile.ZipFile.read` of every member, one after the other (the old reader) |
| unzip: open_feed's reader | the reader `open_feed` uses, every member one after the other |
| sha256 of the files | `hashlib.sha256` of every file's bytes (`Feed.content_sha256` needs them) |
| open_feed(parse=False) | unzip + sha256 (its `contents`), as a sync's `read_feed` does for a feed it recalls |
| floor: read_csv FILE | `pl.read_csv(bytes, infer_schema=False)`, bytes already in memory |
| parse_csv FILE | `schemas.csvfile.parse_csv` as `open_feed` calls it, bytes in memory |
| Feed.parse() | parsing every file of an `open_feed(parse=False)` feed (a sync's validate step) |
| open_feed | the whole `open_feed(path)`: unzip, sha256, parse of every file |

Repeats are interleaved (every row once, then again), so a burst of other work on the shared
machine hits every row alike; `cpu` is the process's CPU seconds in the best run (user + system,
every thread), which noise moves less than wall time.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIG_FILES = ("users.csv", "enrollments.csv")


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- in the child: the measurements of one version of `schemas` -----------------------------


def measure(feed: Path, repeat: int) -> dict[str, dict[str, float]]:
    import hashlib
    import zipfile

    import polars as pl

    from rosterflow.schemas import feed as feed_module
    from rosterflow.schemas.csvfile import parse_csv

    with zipfile.ZipFile(feed) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}

    def unzip_zipfile() -> None:
        with zipfile.ZipFile(feed) as archive:
            for info in archive.infolist():
                archive.read(info)

    def unzip_ours() -> None:
        for member in feed_module._open_source(Path(feed)).members.values():
            member.read()

    def sha256s() -> None:
        for data in members.values():
            hashlib.sha256(data).hexdigest()

    def parse_one(file_name: str):
        data = members[file_name]
        return lambda: parse_csv(data, file_name)

    def feed_parse() -> float:
        opened = feed_module.open_feed(feed, parse=False)
        _ = opened.contents  # read (inflated) now, as a revision before read_feed did on opening
        start, cpu = time.perf_counter(), _cpu_s()
        opened.parse()
        return time.perf_counter() - start, _cpu_s() - cpu

    pieces = {
        "unzip: zipfile, every member": unzip_zipfile,
        "unzip: open_feed's reader, every member": unzip_ours,
        "sha256 of the files": sha256s,
        "open_feed(parse=False): unzip + sha256": lambda: (
            feed_module.open_feed(feed, parse=False).contents
        ),
        **{
            f"floor: read_csv {name}": (lambda d=members[name]: pl.read_csv(d, infer_schema=False))
            for name in BIG_FILES
        },
        **{f"parse_csv {name}": parse_one(name) for name in BIG_FILES},
        "Feed.parse() (every file)": feed_parse,
        "open_feed (whole)": lambda: feed_module.open_feed(feed),
    }
    best: dict[str, dict[str, float]] = {}
    for _ in range(repeat):
        for label, piece in pieces.items():
            start, cpu = time.perf_counter(), _cpu_s()
            timed = piece()
            seconds, cpu_s = (
                timed
                if label.startswith("Feed.parse")
                else (time.perf_counter() - start, _cpu_s() - cpu)
            )
            if label not in best or seconds < best[label]["seconds"]:
                best[label] = {"seconds": seconds, "cpu_s": cpu_s}
    return best


def import_schemas(code: Path) -> types.ModuleType:
    """`rosterflow.schemas` from `code` (a folder holding `schemas/`, e.g. an extracted git
    revision): a revision before the one import name imports its modules as bare `schemas.*`,
    found through sys.path."""
    sys.path.insert(0, str(code))
    package = types.ModuleType("rosterflow")
    package.__path__ = [str(code)]
    sys.modules["rosterflow"] = package
    import rosterflow.schemas as schemas

    if Path(schemas.__file__).resolve().parent != (code / "schemas").resolve():
        raise SystemExit(f"imported schemas from {schemas.__file__}, not from {code}")
    return schemas


def child_main(args: argparse.Namespace) -> None:
    import_schemas(Path(args.code).resolve())
    results = measure(Path(args.feed), args.repeat)
    Path(args.result).write_text(json.dumps({"results": results, "load1": os.getloadavg()[0]}))


# --- in the parent ------------------------------------------------------------------------------


def run_child(feed: Path, code: Path, repeat: int) -> dict:
    with tempfile.NamedTemporaryFile("r", suffix=".json", delete=False) as handle:
        result_path = Path(handle.name)
    try:
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--measure",
                "--feed",
                str(feed),
                "--code",
                str(code),
                "--repeat",
                str(repeat),
                "--result",
                str(result_path),
            ],
            check=True,
            cwd=code,
        )
        return json.loads(result_path.read_text())
    finally:
        result_path.unlink(missing_ok=True)


def generate(students: int, folder: Path) -> Path:
    sys.path.insert(0, str(ROOT))
    from rosterflow.demo.district import generate_feed
    from rosterflow.schemas.writer import write_feed

    start = time.perf_counter()
    path = write_feed(folder / f"read-feed-{students}.zip", generate_feed(students, seed=0))
    print(f"generated {path} in {time.perf_counter() - start:.1f} s", flush=True)
    return path


def extract(revision: str, folder: Path) -> Path:
    """The `schemas` package of a git revision, in `folder`."""
    archive = subprocess.run(
        ["git", "archive", revision, "schemas"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=200_000)
    parser.add_argument("--feed", help="a feed zip to read instead of generating one")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compare", metavar="REV", help="also measure schemas/ of git REV")
    parser.add_argument("--keep", action="store_true", help="write the feed to bench/out")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--code", default=str(ROOT), help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        child_main(args)
        return
    with tempfile.TemporaryDirectory(prefix="rf-read-feed-") as tmp:
        if args.feed:
            feed = Path(args.feed).resolve()
        else:
            folder = ROOT / "bench" / "out" if args.keep else Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            feed = generate(args.students, folder)
        versions = {}
        if args.compare:
            old = extract(args.compare, Path(tmp) / "old")
            versions[args.compare] = run_child(feed, old, args.repeat)
        versions["work tree"] = run_child(feed, ROOT, args.repeat)
    print_table(feed, versions, args.repeat)


def print_table(feed: Path, versions: dict[str, dict], repeat: int) -> None:
    mib = feed.stat().st_size / 2**20
    print(f"\n{feed.name} ({mib:.0f} MiB zip), best of {repeat}: wall s (cpu s)")
    names = list(versions)
    labels = list(next(iter(versions.values()))["results"])
    header = f"{'':42s}" + "".join(f"{name:>22s}" for name in names)
    if len(names) == 2:
        header += f"{'after/before':>14s}"
    print(header)
    for label in labels:
        cells = [versions[name]["results"][label] for name in names]
        line = f"{label:42s}" + "".join(
            f"{c['seconds']:>12.3f} ({c['cpu_s']:6.3f})" + " " * 1 for c in cells
        )
        if len(cells) == 2:
            line += f"{cells[1]['seconds'] / cells[0]['seconds']:>13.2f}x"
        print(line)
    print("load1 at the end: " + ", ".join(f"{n} {v['load1']:.1f}" for n, v in versions.items()))


if __name__ == "__main__":
    main()
