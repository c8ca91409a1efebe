"""What --report and --trace cost (issue 8): the coordinator-bound noop job (4 ranks, N tasks:
the leader commits every assignment and completion, the workers do nothing else) run plainly,
with --report, and with --trace, in an order rotated per repetition. Prints one JSON object.

Usage: bench_trace.py BUILD_DIR [--tasks N] [--reps R] [--timeout S]

The rate is the job's own "tasks done in X s (Y tasks/s)" line (MPI start-up excluded); the
mpirun wall time is kept too, since the report and trace are written after the tasks, while
mpirun still runs. Reported per variant: median, min, max; and the ratio of each variant's
median rate to the plain run's (1.0 = no cost)."""
import argparse
import json
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_scheduler import RM_LINE, launch  # noqa: E402


def stats(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--tasks", type=int, default=1000000)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--timeout", type=float, default=300)
    a = ap.parse_args()
    rm = os.path.join(a.build, "bin", "ringmaster")
    work = tempfile.mkdtemp(prefix="rmbtrace.")
    variants = {"plain": [], "report": ["--report", os.path.join(work, "r.json")],
                "trace": ["--trace", os.path.join(work, "t.json")]}
    rate = {v: [] for v in variants}
    wall = {v: [] for v in variants}
    failed = []
    names = list(variants)
    for rep in range(a.reps):
        for v in names[rep % len(names):] + names[:rep % len(names)]:
            cmd = ["mpirun", "--oversubscribe", "--enable-recovery", "-np", "4", rm, "run",
                   "noop", "--tasks", str(a.tasks), "--quiet"] + variants[v]
            rc, out, err, secs = launch(cmd, a.timeout)
            m = RM_LINE.search(out)
            if rc != 0 or not m:
                failed.append({"variant": v, "rep": rep, "rc": rc, "stderr": err[-300:]})
                continue
            rate[v].append(float(m.group(2)))
            wall[v].append(secs)
    res = {"bench": "trace_overhead", "kernel": "noop", "ranks": 4, "tasks": a.tasks,
           "reps": a.reps, "failed_runs": failed}
    for v in names:
        if rate[v]:
            res[v] = {"tasks_per_s": stats(rate[v]), "end_to_end_seconds": stats(wall[v])}
    if rate["plain"]:
        base = statistics.median(rate["plain"])
        res["rate_vs_plain"] = {v: statistics.median(rate[v]) / base for v in names if rate[v]}
    if os.path.exists(os.path.join(work, "t.json")):
        res["trace_bytes"] = os.path.getsize(os.path.join(work, "t.json"))
    print(json.dumps(res))
    return 0 if all(rate[v] for v in names) else 1


if __name__ == "__main__":
    sys.exit(main())
