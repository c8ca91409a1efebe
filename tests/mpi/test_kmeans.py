"""kmeans on HDF5 points, checked exactly against the same algorithm written here in Python
(same initial rows from the seed, same block order of the sums, same tie rule): 5 ranks,
6 iterations, a worker killed mid-way, then the leader killed as it starts an iteration (it
computes and commits each iteration's centroids); HDF5 output read back with h5dump; a 1-D
dataset and too large a K are usage errors."""
import os
import struct
import subprocess
import sys

import rmtest as t

ringmaster = sys.argv[1]
gen = os.path.join(os.path.dirname(os.path.abspath(ringmaster)), "gen_points")
work = t.tempfile.mkdtemp(prefix="rmkm.")
data = os.path.join(work, "points.h5")
ROWS, DIMS, K, ITER, SEED, SPLIT = 20000, 3, 5, 6, 42, 32768
subprocess.run([gen, "--rows", str(ROWS), "--seed", "8", "--dims", str(DIMS), "--clusters", "4",
                "--out", data], check=True, timeout=60)


def dump(path, dataset, fmt):
    raw = os.path.join(work, "dump.bin")
    subprocess.run(["h5dump", "-d", dataset, "-b", "LE", "-o", raw, path], check=True,
                   capture_output=True, timeout=60)
    blob = open(raw, "rb").read()
    return list(struct.unpack(f"<{len(blob) // struct.calcsize(fmt)}{fmt}", blob))


flat = dump(data, "/points", "d")
pts = [flat[i * DIMS:(i + 1) * DIMS] for i in range(ROWS)]
M64 = (1 << 64) - 1


def splitmix(state):
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


s, rows = SEED, []
while len(rows) < K:
    s, z = splitmix(s)
    r = z % ROWS
    if r not in rows:
        rows.append(r)
cent = [list(pts[r]) for r in rows]
per = SPLIT // (8 * DIMS)
blocks = [range(b, min(b + per, ROWS)) for b in range(0, ROWS, per)]


def nearest(p, c):
    best, bd = 0, float("inf")
    for j, cj in enumerate(c):
        d = 0.0
        for x in range(DIMS):
            t_ = p[x] - cj[x]
            d += t_ * t_
        if d < bd:
            best, bd = j, d
    return best


for _ in range(ITER):
    total = [[0.0] * (DIMS + 1) for _ in range(K)]
    for blk in blocks:  # per-block sums, then added in block order, as the kernel does
        part = [[0.0] * (DIMS + 1) for _ in range(K)]
        for i in blk:
            j = nearest(pts[i], cent)
            for x in range(DIMS):
                part[j][x] += pts[i][x]
            part[j][DIMS] += 1
        for j in range(K):
            for x in range(DIMS + 1):
                total[j][x] += part[j][x]
    cent = [[total[j][x] / total[j][DIMS] for x in range(DIMS)] if total[j][DIMS] > 0
            else cent[j] for j in range(K)]
labels = [nearest(p, cent) for p in pts]


def run(out, leader):
    job = t.Job(5, [ringmaster, "run", "kmeans", "--dataset", "/points", "--k", str(K),
                    "--iterations", str(ITER), "--seed", str(SEED), "--input", data,
                    "--output", out, "--split-size", str(SPLIT), "--heartbeat-ms", "100",
                    "--suspect-ms", "400"],
                extra_env={"RINGMASTER_FAULT_SLOW_STAGE": f"{3 if leader else 2}:60"})
    ranks = job.ranks(5)
    victim = t.kill_worker_at_stage(job, ranks, 3 if leader else 2, leader=leader)
    rc = job.wait(timeout=180)
    what = "the leader" if leader else "a worker"
    t.check(rc is not None and os.path.exists(out), f"{what} killed: the job did not end with "
            "an output")
    if os.path.exists(out):
        got = dump(out, "/centroids", "d")
        t.check(got == [v for c in cent for v in c], f"{what} killed: centroids differ:\n{got}\n"
                f"{cent}")
        t.check(dump(out, "/clusters", "I") == labels, f"{what} killed: cluster labels differ")
    t.check(f"rank {victim} is dead" in job.stderr(), f"{what} killed: the death was not "
            "committed")
    if t.failures:
        print(job.stderr()[-4000:])


run(os.path.join(work, "km.h5"), leader=False)
run(os.path.join(work, "km2.h5"), leader=True)

for args, expect in ((["--dataset", "/values", "--k", "3"], "must have 2 dimensions"),
                     (["--dataset", "/points", "--k", "99999"], "is not a whole number"),
                     (["--k", "3"], "kmeans needs --dataset NAME")):
    p = subprocess.run([ringmaster, "run", "kmeans"] + args + ["--input", data, "--output",
                       os.path.join(work, "bad.h5")], capture_output=True, text=True, timeout=30)
    t.check(p.returncode == 2 and expect in p.stderr, f"{args}: exit {p.returncode}, {p.stderr!r}")
t.finish("test_kmeans")
