"""Wordcount throughput sweeps (issue 8): `ringmaster run wordcount` on the generated corpus
(bench_wordcount.py's, BENCH_WC_MB in size) as one setting is varied. Prints one JSON object.

Usage: bench_sweeps.py workers|batch|compression BUILD_DIR [--mb N] [--reps R] [--timeout S]
                       [--split-size SIZE]

  workers      1, 2 and 3 workers plus the leader (ranks = workers + 1), and the serial
               wordcount (tools/wc_serial: the same tokenizer, one process, no MPI) as the
               reference, in the same rotation.
  batch        --batch-size 1, 4, 16, 64, 256 and the automatic default, 2 workers + leader,
               with --split-size 1M (so that there are enough map tasks for batches to matter:
               1,024 per GiB; at the default 32M a GiB is 32 tasks, one batch per worker).
  compression  --compression 0 (off), 1 (the default), 3, 6, 9 and 19, 2 workers + leader.

Every point is run R times (BENCH_SWEEP_REPS, 3 by default), the points in an order rotated from
one repetition to the next, so that machine noise hits all alike, after one read of the corpus
that puts it in the page cache. Throughput is the corpus size over the wall time of the whole
command (mpirun start-up and the output file included), in MB/s (10^6 bytes); the job's own time
(its summary line) is kept too. Each point reports the median, min, max and n of both. Every
output is checked against the serial wordcount's, byte for byte; a wrong or failed run is listed
in failed_runs and left out. The exit status is 1 when some point has no successful run.
Runs oversubscribe the cores when ranks exceed them (said in the output: "cores").
"""
import argparse
import json
import os
import sys

from bench_wordcount import JOB_TIME, corpus_of, reference_counts, run, same_file, summary

SWEEPS = {
    "workers": {"parameter": "workers", "values": [1, 2, 3], "default": None,
                "xlabel": "workers (ranks = workers + 1, the leader)"},
    "batch": {"parameter": "--batch-size", "values": [1, 4, 16, 64, 256, "auto"],
              "default": "auto", "xlabel": "--batch-size (tasks per dispatch message)"},
    "compression": {"parameter": "--compression", "values": [0, 1, 3, 6, 9, 19], "default": 1,
                    "xlabel": "--compression (zstd level of shuffled data; 0 off)"},
}
FIXED_WORKERS = 2


def ringmaster_cmd(build, corpus, out, workers, extra):
    return (["mpirun", "--oversubscribe", "--enable-recovery", "-np", str(workers + 1),
             os.path.join(build, "bin", "ringmaster"), "run", "wordcount", "--input", corpus,
             "--output", out, "--quiet"] + extra)


def variants_of(sweep, a, corpus):
    """Returns {label: (workers or None for serial, extra options)} in the sweep's order."""
    v = {}
    for value in SWEEPS[sweep]["values"]:
        if sweep == "workers":
            v[str(value)] = (value, [])
        elif sweep == "batch":
            extra = ["--split-size", a.split_size]
            v[str(value)] = (FIXED_WORKERS, extra + ([] if value == "auto" else
                                                     ["--batch-size", str(value)]))
        else:
            v[str(value)] = (FIXED_WORKERS, ["--compression", str(value)])
    if sweep == "workers":
        v["serial"] = (None, [])
    return v


def run_once(a, corpus, data, label, workers, extra):
    """Runs one variant; returns (wall s, job s or None) or raises RuntimeError why not."""
    out = os.path.join(data, f"sweep-{label}.tsv")
    if os.path.exists(out):
        os.unlink(out)
    if workers is None:
        cmd, log = [os.path.join(a.build, "bin", "wc_serial"), corpus], out
    else:
        cmd, log = ringmaster_cmd(a.build, corpus, out, workers, extra), out + ".log"
    with open(log, "w") as f:
        rc, wall, _, err = run(cmd, a.timeout, stdout=f)
    if rc != 0:
        raise RuntimeError(f"exit {rc}: {err[-400:]}")
    if not same_file(out, a.ref):
        raise RuntimeError("output differs from the serial wordcount")
    job = None
    if workers is not None:
        with open(log) as f:
            m = JOB_TIME.search(f.read())
        job = float(m.group(1)) if m else None
    return wall, job


def measure(a, sweep):
    corpus, data = corpus_of(a.build, a.mb, a.timeout)
    a.ref = reference_counts(a.build, corpus, data, a.mb, a.timeout)
    mb = os.path.getsize(corpus) / 1e6
    variants = variants_of(sweep, a, corpus)
    names = list(variants)
    walls = {n: [] for n in names}
    jobs = {n: [] for n in names}
    failed = []
    for rep in range(a.reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            workers, extra = variants[name]
            try:
                wall, job = run_once(a, corpus, data, name, workers, extra)
            except (RuntimeError, OSError) as e:
                failed.append({"point": name, "rep": rep, "error": str(e)})
                print(f"bench_sweeps: {sweep} {name} rep {rep}: {e}", file=sys.stderr)
                continue
            walls[name].append(wall)
            if job is not None:
                jobs[name].append(job)
            print(f"bench_sweeps: {sweep} rep {rep} {name}: {wall:.2f} s, {mb / wall:.0f} MB/s",
                  file=sys.stderr)
    return mb, variants, walls, jobs, failed


def point_of(mb, walls, jobs):
    p = {"mb_s": summary([mb / w for w in walls]), "seconds": summary(walls)}
    if jobs:
        p["job_seconds"] = summary(jobs)
        p["job_mb_s"] = summary([mb / j for j in jobs])
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sweep", choices=list(SWEEPS))
    ap.add_argument("build")
    ap.add_argument("--mb", type=int, default=1024, help="corpus size in MiB [1024]")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=900, help="seconds per run [900]")
    ap.add_argument("--split-size", default="1M", help="map split of the batch sweep [1M]")
    a = ap.parse_args()
    if a.mb <= 0 or a.reps <= 0:
        ap.error("--mb and --reps must be positive")
    spec = SWEEPS[a.sweep]
    mb, variants, walls, jobs, failed = measure(a, a.sweep)
    cores = os.cpu_count()
    res = {"sweep": a.sweep, "parameter": spec["parameter"], "xlabel": spec["xlabel"],
           "default": spec["default"], "corpus_bytes": a.mb << 20, "reps": a.reps,
           "cores": cores, "points": [], "failed_runs": failed}
    if a.sweep == "batch":
        res["split_size"] = a.split_size
    if a.sweep != "workers":
        res["workers"] = FIXED_WORKERS
    for name, (workers, extra) in variants.items():
        if workers is None:
            if walls[name]:
                res["reference"] = {"label": "serial wordcount (wc_serial, no MPI)",
                                    **point_of(mb, walls[name], [])}
            continue
        p = {"label": name, "workers": workers, "ranks": workers + 1,
             "oversubscribed": workers + 1 > (cores or 1), "options": extra}
        if walls[name]:
            p.update(point_of(mb, walls[name], jobs[name]))
        res["points"].append(p)
    print(json.dumps(res))
    return 0 if all(walls.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
