"""`ringmaster info` prints one row per rank, and each rank's real affinity (the kernel's
sched_getaffinity mask, read from /proc/PID/status while the ranks are held alive) matches
the cores that info reports. Also: --bind none leaves ranks unbound, and a binding made by the
launcher (mpirun --bind-to core) is kept and reported as such."""
import sys
import time

import rmtest as t

ringmaster = sys.argv[1]
ncpu = len(t.os.sched_getaffinity(0))


def cpulist(s):
    out = set()
    for part in s.split(","):
        a, _, b = part.partition("-")
        out.update(range(int(a), int(b or a) + 1))
    return out


def run_info(np, extra_args=(), mpirun_args=(), recovery=True):
    job = t.Job(np, [ringmaster, "info", "--hold-ms", "3000"] + list(extra_args),
                mpirun_args=mpirun_args, recovery=recovery)
    rows = {}
    until = time.time() + 30
    while time.time() < until and len(rows) < np:
        time.sleep(0.1)
        for line in job.stdout().splitlines()[1:]:
            f = line.split()
            if len(f) == 6:
                rows[int(f[0])] = {"host": f[1], "pid": int(f[2]), "cores": f[3],
                                   "numa": f[4], "by": f[5]}
    real = {}
    for r, row in rows.items():
        try:
            with open(f"/proc/{row['pid']}/status") as f:
                for l in f:
                    if l.startswith("Cpus_allowed_list:"):
                        real[r] = cpulist(l.split()[1])
        except OSError:
            pass
    rc = job.wait(timeout=60)
    t.check(rc == 0, f"info exited {rc}: {job.stderr()}")
    t.check(job.stdout().splitlines()[0].split() ==
            ["rank", "host", "pid", "cores", "numa", "bound-by"], "info header")
    return rows, real


rows, real = run_info(4)
t.check(sorted(rows) == [0, 1, 2, 3], f"expected rows for ranks 0-3, got {sorted(rows)}")
for r, row in rows.items():
    t.check(r in real, f"rank {r}: could not read the affinity of pid {row['pid']}")
    if r in real:
        t.check(real[r] == cpulist(row["cores"]),
                f"rank {r}: info says cores {row['cores']}, kernel says {sorted(real[r])}")
    t.check(row["by"] == "ours", f"rank {r} bound by {row['by']}")
    t.check(len(cpulist(row["cores"])) == 1 or ncpu == 1, f"rank {r} not bound to one core")
# compact: local rank i on core i mod ncores
cores = [min(cpulist(rows[r]["cores"])) for r in sorted(rows)]
t.check(cores[0] != cores[1] or ncpu == 1, f"ranks 0 and 1 share a core: {cores}")

rows, real = run_info(2, ["--bind", "none"], mpirun_args=["--bind-to", "none"])
for r, row in rows.items():
    t.check(row["by"] == "none", f"--bind none: rank {r} bound by {row['by']}")
    t.check(real.get(r) == set(t.os.sched_getaffinity(0)),
            f"--bind none: rank {r} affinity {real.get(r)}")

rows, real = run_info(2, mpirun_args=["--bind-to", "core"])
for r, row in rows.items():
    t.check(row["by"] == "launcher", f"--bind-to core: rank {r} bound by {row['by']}")
    t.check(real.get(r) == cpulist(row["cores"]),
            f"--bind-to core: rank {r} info {row['cores']} kernel {real.get(r)}")
t.finish("test_info_affinity")
