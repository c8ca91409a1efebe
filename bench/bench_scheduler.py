"""Scheduler throughput (issue 4): committed `noop` tasks per second with 4 ranks, against a
plain MPI master-worker loop (bench_masterworker.c) in the same run. Prints one JSON object.

Usage: bench_scheduler.py BUILD_DIR [--tasks N] [--reps R] [--timeout S]

Each repetition runs, in an order rotated from one repetition to the next so that machine
noise and position effects hit every variant alike:
  ringmaster      mpirun --enable-recovery -np 4 ringmaster run noop --tasks N
                  (rate from its own "tasks done in X s (Y tasks/s)" line, which excludes MPI
                  start-up; the whole mpirun wall time is kept as end_to_end_seconds)
  masterworker    mpirun -np 4 bench_masterworker --tasks N --batch 64 (2 batches in flight
                  per worker)
  masterworker_b1 the same with --batch 1: one task per message
Reported: median, min, max and n per variant, the per-task time 1e6 / tasks/s of each run, the
ringmaster/baseline ratio (median of the per-repetition ratios) and whether the target of
100,000 tasks/s is met. Every run is bounded by a timeout; on timeout only the process group
this script started is killed. A failed run is listed in "failed_runs"; the exit status is 1
only when some variant has no successful run at all.
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

TARGET_TASKS_PER_S = 100000
RANKS = 4
ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_btl_tcp_if_include": "lo",
    "OMPI_MCA_oob_tcp_if_include": "lo",
}
# Tolerant of changes around it: only this part of the summary line is relied on.
RM_LINE = re.compile(r"tasks done in ([0-9.]+) s \(([0-9]+) tasks/s\)")
RM_COUNT = re.compile(r"([0-9]+) tasks done in")


def launch(cmd, timeout):
    """Runs cmd in its own session; returns (rc or None on timeout, stdout, stderr, wall s)."""
    env = dict(os.environ)
    env.update(ENV)
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, env=env, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)  # the group of the mpirun we started, only it
        except ProcessLookupError:
            pass
        out, err = p.communicate()
        rc = None
    return rc, out, err, time.monotonic() - t0


def run_ringmaster(build, tasks, timeout):
    cmd = ["mpirun", "--oversubscribe", "--enable-recovery", "-np", str(RANKS),
           os.path.join(build, "bin", "ringmaster"), "run", "noop", "--tasks", str(tasks)]
    rc, out, err, wall = launch(cmd, timeout)
    if rc is None:
        return None, f"timed out after {timeout} s"
    m = RM_LINE.search(out) or RM_LINE.search(err)
    if rc != 0 or not m:
        return None, f"exit {rc}, summary line {'found' if m else 'missing'}: {tail(out, err)}"
    c = RM_COUNT.search(out) or RM_COUNT.search(err)
    if c and int(c.group(1)) != tasks:
        return None, f"{c.group(1)} of {tasks} tasks done"
    return {"seconds": float(m.group(1)), "tasks_per_s": float(m.group(2)),
            "end_to_end_seconds": wall}, None


def run_masterworker(build, tasks, batch, timeout):
    cmd = ["mpirun", "--oversubscribe", "-np", str(RANKS),
           os.path.join(build, "bench", "bench_masterworker"), "--tasks", str(tasks),
           "--batch", str(batch)]
    rc, out, err, wall = launch(cmd, timeout)
    if rc is None:
        return None, f"timed out after {timeout} s"
    try:
        doc = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        doc = None
    if rc != 0 or doc is None or doc.get("tasks") != tasks:
        return None, f"exit {rc}, bad output: {tail(out, err)}"
    return {"seconds": doc["seconds"], "tasks_per_s": doc["tasks_per_s"],
            "end_to_end_seconds": wall}, None


def tail(out, err):
    text = (out + err).strip().splitlines()
    return " | ".join(text[-3:])[:400]


def spread(values):
    return {"median": round(statistics.median(values), 6), "min": round(min(values), 6),
            "max": round(max(values), 6), "n": len(values)}


def summarize(runs):
    rate = [r["tasks_per_s"] for r in runs]
    return {"tasks_per_s": spread(rate), "seconds": spread([r["seconds"] for r in runs]),
            "end_to_end_seconds": spread([r["end_to_end_seconds"] for r in runs]),
            "us_per_task": spread([1e6 / r for r in rate])}


def pair_ratio(results, a, b):
    """Median over repetitions of a's rate / b's rate, using repetitions where both ran."""
    ratios = [ra["tasks_per_s"] / rb["tasks_per_s"]
              for ra, rb in zip(results[a], results[b]) if ra and rb]
    return round(statistics.median(ratios), 4) if ratios else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--tasks", type=int, default=1000000)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--timeout", type=float, default=300, help="seconds per mpirun [300]")
    a = ap.parse_args()
    if a.tasks <= 0 or a.reps <= 0:
        ap.error("--tasks and --reps must be positive")
    variants = {
        "ringmaster": lambda: run_ringmaster(a.build, a.tasks, a.timeout),
        "masterworker": lambda: run_masterworker(a.build, a.tasks, 64, a.timeout),
        "masterworker_b1": lambda: run_masterworker(a.build, a.tasks, 1, a.timeout),
    }
    names = list(variants)
    results = {n: [None] * a.reps for n in names}
    failed = []
    for rep in range(a.reps):
        for k in range(len(names)):
            name = names[(rep + k) % len(names)]
            res, why = variants[name]()
            results[name][rep] = res
            if why:
                failed.append({"variant": name, "rep": rep, "reason": why})
                print(f"bench_scheduler: {name} rep {rep}: {why}", file=sys.stderr)
    doc = {"bench": "scheduler", "kernel": "noop", "ranks": RANKS, "workers": RANKS - 1,
           "cores": os.cpu_count(), "tasks": a.tasks, "reps": a.reps,
           "target_tasks_per_s": TARGET_TASKS_PER_S,
           "baselines": {"masterworker": {"batch": 64, "outstanding": 2},
                         "masterworker_b1": {"batch": 1, "outstanding": 2}}}
    missing = False
    for n in names:
        ok = [r for r in results[n] if r]
        doc[n] = summarize(ok) if ok else None
        missing = missing or not ok
    rm = doc["ringmaster"]
    if rm:
        doc["ringmaster"]["target_met"] = rm["tasks_per_s"]["median"] >= TARGET_TASKS_PER_S
    doc["target_met"] = bool(rm and rm["target_met"])
    doc["ratio_ringmaster_over_masterworker"] = pair_ratio(results, "ringmaster", "masterworker")
    doc["ratio_ringmaster_over_masterworker_b1"] = pair_ratio(results, "ringmaster",
                                                              "masterworker_b1")
    doc["failed_runs"] = failed
    print(json.dumps(doc))
    sys.exit(1 if missing else 0)


if __name__ == "__main__":
    main()
