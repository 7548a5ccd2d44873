"""How far `rosterflow validate FEED --warehouse W` could go by checking less: the same command
with every check across rows and files taken out (no references, platform warnings, orders or
cycles, and the stored records never laid beside the changed lines), against the command as it
is, and the floor, each run in a new process, interleaved, best and median of N.

    .venv/bin/python bench/validate_bound.py --feed F.zip --warehouse W.duckdb [--repeat 5]

F is a changed feed and W a warehouse its tenant's earlier feed was synced into, as
`bench.py --prepare 200000 --work DIR` and a first sync make them (`bench.py --keep` keeps
them: `DIR/work/feed-200000-1pct.zip` and the fresh warehouse). The bound's answer is wrong
(it reports no issue of any check it takes out): it is a measure of what reading the feed by
its lines costs, not a product; W is opened read-only and left as it was.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODES = ("floor", "as-is", "no-cross-checks")
# the checks across rows and files `schemas.validate.validate_feed` runs after the per-row ones
CROSS_CHECKS = (
    "reference_issues",
    "platform_issues",
    "date_order_issues",
    "list_length_issues",
    "range_order_issues",
    "cycle_issues",
    "title_variant_issues",
)


def measure(mode: str, feed: Path, warehouse: Path) -> dict:
    """One run in this (fresh) process."""
    if mode == "floor":
        sys.path.insert(0, str(ROOT / "bench"))
        import bench

        return bench.measure("floor", str(feed), None)
    import rosterflow.flows.pipeline  # noqa: F401  (imported before timing, as bench.py does)
    from rosterflow.flows.commands import validate

    if mode == "no-cross-checks":
        import rosterflow.schemas.by_lines as by_lines
        import rosterflow.schemas.validate as validating

        for name in CROSS_CHECKS:
            setattr(validating, name, lambda *args, **kwargs: [])
        by_lines.LineDelta.with_kept = lambda self, spec, changed, in_place=False: changed
    start = time.perf_counter()
    _, validated = validate(feed, None, warehouse, None)
    return {"seconds": time.perf_counter() - start, "issues": validated.issues.height}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feed", type=Path, required=True)
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # (a child's run)
    args = parser.parse_args()
    if args.mode is not None:
        print(json.dumps(measure(args.mode, args.feed, args.warehouse)))
        return
    seconds: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(args.repeat):
        for mode in MODES:
            child = subprocess.run(
                [
                    *(sys.executable, __file__, "--mode", mode),
                    *("--feed", str(args.feed), "--warehouse", str(args.warehouse)),
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            seconds[mode].append(json.loads(child.stdout.splitlines()[-1])["seconds"])
    floor = min(seconds["floor"])
    print(f"{'measure':18} {'best s':>8} {'median s':>9} {'best x floor':>13}")
    for mode in MODES:
        best, median = min(seconds[mode]), statistics.median(seconds[mode])
        print(f"{mode:18} {best:8.3f} {median:9.3f} {best / floor:12.2f}x")


if __name__ == "__main__":
    main()
