"""sort on TeraSort-format records, checked against Python's sort: 5 ranks, a uniform and a
skewed input, a worker killed in the reduce stage; the output is the records sorted by key
(then by the rest of the record), the partitions are balanced by sampling, and an input that is
not whole records is a usage error."""
import os
import re
import subprocess
import sys

import rmtest as t

ringmaster = sys.argv[1]
gen = os.path.join(os.path.dirname(os.path.abspath(ringmaster)), "gen_records")
work = t.tempfile.mkdtemp(prefix="rmsort.")
uniform, skewed = os.path.join(work, "uniform.bin"), os.path.join(work, "skewed.bin")
subprocess.run([gen, "--records", "120000", "--seed", "9", "--out", uniform], check=True,
               timeout=60)
subprocess.run([gen, "--records", "40000", "--seed", "2", "--skew", "--out", skewed], check=True,
               timeout=60)
data = open(uniform, "rb").read() + open(skewed, "rb").read()
expected = b"".join(sorted(data[i:i + 100] for i in range(0, len(data), 100)))

out = os.path.join(work, "sorted.bin")
job = t.Job(5, [ringmaster, "run", "sort", "--input", uniform, skewed, "--output", out,
                "--split-size", "400K", "--partitions", "8", "--heartbeat-ms", "100",
                "--suspect-ms", "400"],
            extra_env={"RINGMASTER_FAULT_SLOW_STAGE": "1:400"})
ranks = job.ranks(5)
victim = t.kill_worker_at_stage(job, ranks, 1)
rc = job.wait(timeout=120)
so = job.stdout()
t.check(rc is not None, "the job did not end")
got = open(out, "rb").read() if os.path.exists(out) else b""
t.check(got == expected, f"output differs from the reference ({len(got)} vs {len(expected)} "
        "bytes)")
m = re.search(r"sort: (\d+) records .*largest partition ([0-9.]+)x the mean", so)
t.check(m is not None and int(m.group(1)) == 160000, f"no or wrong summary:\n{so}")
if m:
    t.check(float(m.group(2)) <= 1.3, f"unbalanced partitions: largest {m.group(2)}x the mean")
if t.failures:
    print(job.stderr()[-4000:])

bad = os.path.join(work, "bad.bin")
with open(bad, "wb") as f:
    f.write(b"x" * 150)
p = subprocess.run([ringmaster, "run", "sort", "--input", bad, "--output",
                    os.path.join(work, "o.bin")], capture_output=True, text=True, timeout=30)
t.check(p.returncode == 2 and "is not a whole number of 100-byte records" in p.stderr,
        f"bad input: exit {p.returncode}, {p.stderr!r}")
t.finish("test_sort")
