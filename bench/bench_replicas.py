"""The cost of in-memory replicas (issue 6): `ringmaster run wordcount` on the generated 1 GiB
corpus with 3 ranks, with --replicas 1 (no copies) and --replicas 2 (every map output copied to
one more rank before its task is reported done), alternating in rotated order. Prints one JSON
object: wall and job times (median, min, max) and the median of the per-repetition ratios
(replicas 2 over replicas 1; the target is at most 1.05).

Usage: bench_replicas.py BUILD_DIR [--mb N] [--reps R] [--timeout S]
"""
import argparse
import json
import os
import statistics
import sys

from bench_wordcount import JOB_TIME, corpus_of, run, summary

TARGET = 1.05


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--mb", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=900)
    a = ap.parse_args()
    corpus, data = corpus_of(a.build, a.mb, a.timeout)
    rm = os.path.join(a.build, "bin", "ringmaster")
    walls = {1: [], 2: []}
    jobs = {1: [], 2: []}
    failed = []
    for rep in range(a.reps):
        for copies in ((1, 2) if rep % 2 == 0 else (2, 1)):
            out = os.path.join(data, f"replicas{copies}.tsv")
            log = out + ".log"
            cmd = ["mpirun", "--oversubscribe", "--enable-recovery", "-np", "3", rm, "run",
                   "wordcount", "--input", corpus, "--output", out, "--quiet", "--replicas",
                   str(copies)]
            with open(log, "w") as f:
                rc, wall, _, err = run(cmd, a.timeout, stdout=f)
            m = JOB_TIME.search(open(log).read())
            if rc != 0 or not m:
                failed.append({"replicas": copies, "rep": rep, "rc": rc, "stderr": err[-500:]})
                continue
            walls[copies].append(wall)
            jobs[copies].append(float(m.group(1)))
            print(f"bench_replicas: rep {rep} --replicas {copies}: {wall:.2f} s wall, "
                  f"{jobs[copies][-1]:.2f} s job", file=sys.stderr)
    res = {"corpus_bytes": a.mb << 20, "ranks": 3, "failed_runs": failed, "target": TARGET}
    for c in (1, 2):
        if walls[c]:
            res[f"replicas_{c}"] = {"seconds": summary(walls[c]), "job_seconds": summary(jobs[c])}
    pairs = [b / a_ for a_, b in zip(walls[1], walls[2])]
    jpairs = [b / a_ for a_, b in zip(jobs[1], jobs[2])]
    if pairs:
        res["ratio_wall"] = statistics.median(pairs)
        res["ratio_job"] = statistics.median(jpairs)
        res["ratio_wall_spread"] = summary(pairs)  # the per-repetition ratios
        res["ratio_job_spread"] = summary(jpairs)
        res["met"] = res["ratio_wall"] <= TARGET
    print(json.dumps(res))
    return 0 if walls[1] and walls[2] else 1


if __name__ == "__main__":
    sys.exit(main())
