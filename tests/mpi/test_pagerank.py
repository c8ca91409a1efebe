"""pagerank on a generated edge list (two files), against the same iteration computed here in
Python: 5 ranks, 6 iterations, a worker killed during the iterations, then the leader killed
as an iteration starts (it computes and commits each iteration's shared state); the output is
every vertex once, sorted, within 1e-12 of the reference, summing to 1. A malformed line fails the
job with exit 3 and a message naming the line."""
import collections
import os
import subprocess
import sys

import rmtest as t

ringmaster = sys.argv[1]
gen = os.path.join(os.path.dirname(os.path.abspath(ringmaster)), "gen_graph")
work = t.tempfile.mkdtemp(prefix="rmpr.")
files = [os.path.join(work, "a.txt"), os.path.join(work, "b.txt")]
subprocess.run([gen, "--vertices", "4000", "--edges", "30000", "--seed", "3", "--out", files[0]],
               check=True, timeout=60)
subprocess.run([gen, "--vertices", "5000", "--edges", "10000", "--seed", "4", "--out", files[1]],
               check=True, timeout=60)
edges = [tuple(map(int, l.split())) for p in files for l in open(p) if l.strip()]
V = sorted({v for e in edges for v in e})
N, D, ITER = len(V), 0.85, 6
out_edges = collections.defaultdict(list)
for a, b in edges:
    out_edges[a].append(b)
rank = {v: 1.0 / N for v in V}
for _ in range(ITER):
    dangling = sum(rank[v] for v in V if not out_edges[v])
    inc = collections.defaultdict(float)
    for a, bs in out_edges.items():
        for b in bs:
            inc[b] += rank[a] / len(bs)
    rank = {v: (1 - D) / N + D * (inc[v] + dangling / N) for v in V}


def run(out, leader):
    job = t.Job(5, [ringmaster, "run", "pagerank", "--input"] + files +
                ["--output", out, "--iterations", str(ITER), "--partitions", "6", "--split-size",
                 "64K", "--heartbeat-ms", "100", "--suspect-ms", "400"],
                extra_env={"RINGMASTER_FAULT_SLOW_STAGE": f"{4 if leader else 3}:80"})
    ranks = job.ranks(5)
    victim = t.kill_worker_at_stage(job, ranks, 4 if leader else 3, leader=leader)
    rc = job.wait(timeout=180)
    what = "the leader" if leader else "a worker"
    t.check(rc is not None and os.path.exists(out), f"{what} killed: the job did not end with "
            "an output")
    got = [l.split("\t") for l in open(out).read().splitlines()] if os.path.exists(out) else []
    t.check([int(a) for a, _ in got] == V, f"{what} killed: the vertices differ (or are not "
            "sorted)")
    bad = [(a, b) for a, b in got
           if abs(float(b) - rank[int(a)]) > 1e-12 * max(rank[int(a)], 1e-3)]
    t.check(not bad, f"{what} killed: {len(bad)} ranks differ from the reference, e.g. {bad[:3]}")
    t.check(abs(sum(float(b) for _, b in got) - 1.0) < 1e-9, f"{what} killed: the ranks do not "
            "sum to 1")
    t.check(f"rank {victim} is dead" in job.stderr(), f"{what} killed: the death was not "
            "committed")
    if t.failures:
        print(job.stderr()[-4000:])


run(os.path.join(work, "ranks.tsv"), leader=False)
run(os.path.join(work, "ranks2.tsv"), leader=True)

broken = os.path.join(work, "broken.txt")
with open(broken, "w") as f:
    f.write("1 2\n2 three\n")
job = t.Job(3, [ringmaster, "run", "pagerank", "--input", broken, "--output",
                os.path.join(work, "x.tsv"), "--max-attempts", "2"], recovery=False)
rc = job.wait(timeout=60)
t.check(rc == 3 and "not a 'src dst' line: '2 three'" in job.stderr(),
        f"malformed line: exit {rc}\n{job.stderr()[-2000:]}")
t.finish("test_pagerank")
