"""histogram on HDF5 input, checked against the same binning done here in Python on the values
dumped with h5dump: (a) 5 ranks, bounds from the data (three stages), TSV output, a worker
killed during the count stage; (b) given bounds, HDF5 output read back with h5dump;
(c) a missing dataset is a usage error."""
import os
import struct
import subprocess
import sys

import rmtest as t

ringmaster = sys.argv[1]
gen = os.path.join(os.path.dirname(os.path.abspath(ringmaster)), "gen_points")
work = t.tempfile.mkdtemp(prefix="rmhist.")
data = os.path.join(work, "points.h5")
subprocess.run([gen, "--rows", "300000", "--seed", "4", "--out", data], check=True, timeout=60)


def dump(path, dataset, fmt):
    raw = os.path.join(work, "dump.bin")
    subprocess.run(["h5dump", "-d", dataset, "-b", "LE", "-o", raw, path], check=True,
                   capture_output=True, timeout=60)
    blob = open(raw, "rb").read()
    return list(struct.unpack(f"<{len(blob) // struct.calcsize(fmt)}{fmt}", blob))


values = dump(data, "/values", "d")


def reference(lo, hi, bins):
    width = (hi - lo) / bins
    counts = [0] * bins
    for x in values:
        if lo <= x <= hi:
            k = int((x - lo) / width) if width > 0 else 0
            counts[min(k, bins - 1)] += 1
    edges = [hi if k == bins else lo + (hi - lo) * k / bins for k in range(bins + 1)]
    return edges, counts


# (a) bounds from the data, a worker killed while counting.
out = os.path.join(work, "hist.tsv")
job = t.Job(5, [ringmaster, "run", "histogram", "--dataset", "/values", "--bins", "37",
                "--input", data, "--output", out, "--split-size", "160K",
                "--heartbeat-ms", "100", "--suspect-ms", "400"],
            extra_env={"RINGMASTER_FAULT_SLOW_STAGE": "1:150"})
ranks = job.ranks(5)
victim = t.kill_worker_at_stage(job, ranks, 1, delay=0.3)
rc = job.wait(timeout=120)
t.check(rc is not None, "(a) the job did not end")
edges, counts = reference(min(values), max(values), 37)
rows = [l.split("\t") for l in open(out).read().splitlines()] if os.path.exists(out) else []
t.check(len(rows) == 37, f"(a) {len(rows)} bins, expected 37")
t.check([int(r[2]) for r in rows] == counts, "(a) counts differ from the reference")
t.check(all(float(r[0]) == edges[k] and float(r[1]) == edges[k + 1]
            for k, r in enumerate(rows)), "(a) edges differ from the reference")
t.check(sum(counts) == len(values), "(a) the reference lost values")
t.check(f"rank {victim} is dead" in job.stderr(), "(a) the death was not committed")
if t.failures:
    print(job.stderr()[-4000:])

# (b) given bounds, HDF5 output.
out = os.path.join(work, "hist.h5")
job = t.Job(3, [ringmaster, "run", "histogram", "--dataset", "/values", "--bins", "8",
                "--min", "-2.5", "--max", "7", "--input", data, "--output", out])
rc = job.wait(timeout=120)
t.check(rc is not None and os.path.exists(out), "(b) no output")
if os.path.exists(out):
    edges, counts = reference(-2.5, 7.0, 8)
    t.check(dump(out, "/counts", "Q") == counts, "(b) /counts differs from the reference")
    t.check(dump(out, "/edges", "d") == edges, "(b) /edges differs from the reference")

# (c) a dataset that is not there.
p = subprocess.run([ringmaster, "run", "histogram", "--dataset", "/nope", "--input", data,
                    "--output", os.path.join(work, "x.tsv")], capture_output=True, text=True,
                   timeout=30)
t.check(p.returncode == 2 and "has no float64 dataset '/nope'" in p.stderr,
        f"(c) exit {p.returncode}, {p.stderr!r}")
t.check(not os.path.exists(os.path.join(work, "x.tsv.parts")), "(c) parts directory made")
t.finish("test_histogram")
