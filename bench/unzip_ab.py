"""A/B of the zip reader: `schemas/feed.py`'s reader against plain `zipfile`, every member.

    .venv/bin/python bench/unzip_ab.py [--students 200000] [--repeat 7] [--feed PATH]
                                       [--schemas REV] [--out CSV]

The feed is `demo.district.generate_feed(N, seed=0)` written by `schemas.writer.write_feed`
to `bench/out/unzip-ab-N.zip` (generated once, then reused). Two readings of every member's bytes
are timed, each in a fresh process (imports done before the clock starts):

| variant | what is timed |
|---|---|
| zipfile | `zipfile.ZipFile(path)`, then `.read(name)` for every member, one after the other |
| feed.py | `feed._open_source(path)` (the archive opened and checked as `open_feed` does), then every member's `read()` one after the other: the reader a sync uses |

Repeats are interleaved (zipfile, feed.py, zipfile, feed.py, ...) so a burst of other work on
the shared machine hits both alike; the best of each is reported, wall and CPU seconds (user +
system of the child), CPU being the figure other processes disturb least. Each child checks,
after its clock stops, that it read the same bytes as `zipfile` (a digest of every member) and
counts the members the fast reader handed back to `zipfile`, so a speed-up cannot come from
reading something else or from a fallback.

`--schemas REV` takes the `schemas` package of git revision REV (extracted into a temporary
folder) for the feed.py variant, e.g. 985ae38, whose reader inflated with ISA-L (`pip install
isal` first); the zipfile variant is the standard library either way. Every run is appended to `--out` (default
`bench/results/unzip_ab_DATE_N.csv`).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# the git revision's `schemas` (`--schemas REV`), shared with read_feed.py beside this script
from read_feed import extract, import_schemas

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("zipfile", "feed.py")


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- in the child: one timed reading --------------------------------------------------------


def _import_schemas(code: Path | None):
    """`rosterflow.schemas.feed`, from `code` (an extracted revision) or as installed."""
    if code is not None:
        import_schemas(code)
    from rosterflow.schemas import feed

    return feed


def child(variant: str, path: Path, code: Path | None) -> dict:
    import zipfile

    feed = _import_schemas(code)
    if variant == "zipfile":

        def read_all() -> dict[str, bytes]:
            with zipfile.ZipFile(path) as archive:
                return {name: archive.read(name) for name in archive.namelist()}

    else:

        def read_all() -> dict[str, bytes]:
            return {name: m.read() for name, m in feed._open_source(Path(path)).members.items()}

    start, cpu = time.perf_counter(), _cpu_s()
    data = read_all()
    wall_s, cpu_s = time.perf_counter() - start, _cpu_s() - cpu
    fallbacks = None
    if variant == "feed.py" and hasattr(feed, "fast_read"):
        # the fast reader returns None for what it leaves to zipfile: count those members
        with path.open("rb") as handle, zipfile.ZipFile(handle) as archive:
            ends = feed.member_ends(archive)
            fallbacks = sum(
                feed.fast_read(handle.fileno(), info, ends.get(info.header_offset)) is None
                for info in archive.infolist()
            )
    digest = hashlib.sha256()
    for name in sorted(data):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data[name]).digest())
    return {
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "members": len(data),
        "bytes": sum(map(len, data.values())),
        "digest": digest.hexdigest(),
        "fallbacks": fallbacks,
        "fast_reader": hasattr(feed, "fast_read"),
        "inflater": "zlib" if variant == "zipfile" else _inflater(),
    }


# --- in the parent ----------------------------------------------------------------------------


def generate(students: int, path: Path) -> Path:
    from rosterflow.demo.district import generate_feed
    from rosterflow.schemas.writer import write_feed

    start = time.perf_counter()
    write_feed(path, generate_feed(students, seed=0))
    print(f"generated {path} in {time.perf_counter() - start:.1f} s", flush=True)
    return path


def run_child(variant: str, feed: Path, code: Path | None) -> dict:
    command = [sys.executable, __file__, "--child", variant, "--feed", str(feed)]
    if code is not None:
        command += ["--code", str(code)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--feed", type=Path, help="a feed zip to read instead of generating one")
    parser.add_argument("--schemas", metavar="REV", help="schemas/ of git REV for feed.py")
    parser.add_argument("--out", type=Path, help="the CSV the runs are appended to")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.feed, args.code)))
        return

    feed = args.feed or ROOT / "bench" / "out" / f"unzip-ab-{args.students}.zip"
    if not feed.exists():
        generate(args.students, feed)
    today = datetime.date.today().isoformat()
    out = args.out or ROOT / "bench" / "results" / f"unzip_ab_{today}_{args.students}.csv"
    with tempfile.TemporaryDirectory(prefix="rf-unzip-ab-") as tmp:
        code = extract(args.schemas, Path(tmp)) if args.schemas else None
        runs = []
        for repeat in range(args.repeat):
            for variant in VARIANTS:
                result = run_child(variant, feed, code)
                result |= {"variant": variant, "run": repeat + 1, "load1": os.getloadavg()[0]}
                runs.append(result)
                print(
                    f"run {repeat + 1} {variant:8s} wall {result['wall_s']:.3f} s "
                    f"cpu {result['cpu_s']:.3f} s  load1 {result['load1']:.1f}",
                    flush=True,
                )
    digests = {run["digest"] for run in runs}
    if len(digests) != 1:
        raise SystemExit("the two readers read different bytes")
    if any(run["fallbacks"] for run in runs):
        raise SystemExit("the fast reader handed members to zipfile: not an A/B of the fast path")

    revision = args.schemas or _head()
    fields = ["date", "students", "feed_mib", "revision", "variant", "run", "wall_s", "cpu_s"]
    fields += ["load1", "members", "bytes", "fast_reader", "inflater", "python", "zlib"]
    new_file = not out.exists()
    with out.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fields, extrasaction="ignore")
        if new_file:
            writer.writeheader()
        for run in runs:
            writer.writerow(
                run
                | {
                    "date": today,
                    "students": args.students,
                    "feed_mib": round(feed.stat().st_size / 2**20, 1),
                    "revision": revision,
                    "python": platform.python_version(),
                    "zlib": _zlib_version(),
                    "wall_s": round(run["wall_s"], 4),
                    "cpu_s": round(run["cpu_s"], 4),
                    "load1": round(run["load1"], 2),
                }
            )
    best = {
        v: {key: min(r[key] for r in runs if r["variant"] == v) for key in ("wall_s", "cpu_s")}
        for v in VARIANTS
    }
    print(f"\n{feed.name}: {runs[0]['members']} members, {runs[0]['bytes'] / 2**20:.0f} MiB")
    print(f"best of {args.repeat}, fresh processes, interleaved (runs in {out}):")
    for variant in VARIANTS:
        print(
            f"  {variant:8s} wall {best[variant]['wall_s']:.3f} s  cpu {best[variant]['cpu_s']:.3f} s"
        )
    for key in ("wall_s", "cpu_s"):
        ratio = best["zipfile"][key] / best["feed.py"][key]
        print(f"  zipfile / feed.py, {key[:-2]}: {ratio:.2f}x")


def _head() -> str:
    """The work tree's commit, marked `+dirty` when its schemas/ differ from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout.strip()

    dirty = git("status", "--porcelain", "--", "schemas")
    return git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else "")


def _zlib_version() -> str:
    import zlib

    return zlib.ZLIB_RUNTIME_VERSION


def _inflater() -> str:
    """The inflate library the imported reader uses beside zlib (none for plain zipfile)."""
    from importlib.metadata import version

    used = [(m, d) for m, d in (("isal", "isal"), ("zlib_ng", "zlib-ng")) if m in sys.modules]
    return " ".join(f"{dist}=={version(dist)}" for _, dist in used) or "zlib"


if __name__ == "__main__":
    main()
