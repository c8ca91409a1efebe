"""Iterative kernels (issue 5): the time of one k-means and one PageRank iteration with
`ringmaster run` on 3 ranks (2 workers and the leader), against the serial references
(tools/ref_kmeans, tools/ref_pagerank: one process, one core) in the same run. Prints one JSON
object.

Usage: bench_iterative.py BUILD_DIR [--reps R] [--timeout S]

Inputs (generated once into BUILD_DIR/bench-data): 1,000,000 points of 4 dimensions around 8
centres (gen_points; k = 8), and a graph of 100,000 vertices and 1,000,000 edges (gen_graph).
ringmaster's time per iteration is the difference between its job times (its own summary line,
without MPI start-up) with 12 and with 2 iterations, over 10: what an iteration costs once the
job runs (its tasks, the shared state committed through the coordinator, the shuffle). The
references time their iteration loop alone. Each is repeated R times, the variants in rotated
order; medians, minimums and maximums, and the ratio of the medians, are reported.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

from bench_wordcount import run, summary

KMEANS_TIME = re.compile(r"kmeans: .* iterations, in ([0-9.]+) s")
PAGERANK_TIME = re.compile(r"pagerank: .* iterations \(damping [0-9.]+\) in ([0-9.]+) s")
REF_TIME = re.compile(r"\(([0-9.]+) s per iteration\)")
LOW, HIGH = 2, 12


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=600)
    a = ap.parse_args()
    bindir = os.path.join(a.build, "bin")
    data = os.path.join(a.build, "bench-data")
    os.makedirs(data, exist_ok=True)
    points = os.path.join(data, "points-1M.h5")
    graph = os.path.join(data, "graph-1M.txt")
    if not os.path.exists(points):
        subprocess.run([os.path.join(bindir, "gen_points"), "--rows", "1000000", "--dims", "4",
                        "--clusters", "8", "--seed", "11", "--out", points + ".tmp.h5"],
                       check=True, timeout=a.timeout)
        os.replace(points + ".tmp.h5", points)
    if not os.path.exists(graph):
        subprocess.run([os.path.join(bindir, "gen_graph"), "--vertices", "100000", "--edges",
                        "1000000", "--seed", "7", "--out", graph + ".tmp"], check=True,
                       timeout=a.timeout)
        os.replace(graph + ".tmp", graph)
    rm = os.path.join(bindir, "ringmaster")
    mpirun = ["mpirun", "--oversubscribe", "--enable-recovery", "-np", "3", rm, "run"]
    km = ["--dataset", "/points", "--k", "8", "--seed", "1", "--input", points]
    pr = ["--damping", "0.85", "--input", graph]
    out = os.path.join(data, "iter.out")

    def rm_job(kernel, args, iters, pattern):
        cmd = mpirun + [kernel, "--iterations", str(iters), "--output", out + ".tsv"] + args
        with open(out, "w") as f:
            rc, _, _, err = run(cmd, a.timeout, stdout=f)
        m = pattern.search(open(out).read())
        if rc != 0 or not m:
            raise RuntimeError(f"{kernel} --iterations {iters}: exit {rc}: {err[-300:]}")
        return float(m.group(1))

    def ref(tool, args):
        cmd = [os.path.join(bindir, tool), "--iterations", str(HIGH), "--output",
               out + ".ref.tsv"] + args + ["--time"]
        rc, _, _, err = run(cmd, a.timeout)
        m = REF_TIME.search(err)
        if rc != 0 or not m:
            raise RuntimeError(f"{tool}: exit {rc}: {err[-300:]}")
        return float(m.group(1))

    variants = {
        "kmeans_ringmaster": lambda: (rm_job("kmeans", km, HIGH, KMEANS_TIME) -
                                      rm_job("kmeans", km, LOW, KMEANS_TIME)) / (HIGH - LOW),
        "kmeans_serial": lambda: ref("ref_kmeans", km),
        "pagerank_ringmaster": lambda: (rm_job("pagerank", pr, HIGH, PAGERANK_TIME) -
                                        rm_job("pagerank", pr, LOW, PAGERANK_TIME)) / (HIGH - LOW),
        "pagerank_serial": lambda: ref("ref_pagerank", pr),
    }
    names = list(variants)
    got = {k: [] for k in names}
    failed = []
    for rep in range(a.reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            try:
                got[name].append(variants[name]())
                print(f"bench_iterative: rep {rep} {name}: {got[name][-1] * 1000:.1f} ms per "
                      "iteration", file=sys.stderr)
            except (RuntimeError, OSError) as e:
                failed.append({"variant": name, "rep": rep, "error": str(e)})
    res = {"inputs": {"kmeans": "1,000,000 x 4 float64 points, k 8",
                      "pagerank": "100,000 vertices, 1,000,000 edges"},
           "ranks": 3, "seconds_per_iteration": {k: summary(v) for k, v in got.items() if v},
           "failed_runs": failed}
    for kern in ("kmeans", "pagerank"):
        r, s = got[f"{kern}_ringmaster"], got[f"{kern}_serial"]
        if r and s:
            res[f"{kern}_ringmaster_over_serial_time"] = statistics.median(r) / statistics.median(s)
    print(json.dumps(res))
    return 0 if all(got.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
