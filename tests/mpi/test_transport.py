"""The message layer itself, on 3 ranks: every rank sends every other one 6,000 frames of mixed
sizes (some fragmented), and each checks that every peer's frames arrive complete, unaltered
and in order. Rank 1 stops polling for 300 ms at the start, so the rings to it fill up and
batches wait for room. Run three times: with the same-node shared-memory rings (the default);
with RINGMASTER_SHM=0, MPI alone, as between nodes; and with one rank failing to map the
node's segment, when every rank must fall back to MPI."""
import re
import subprocess
import sys

import rmtest as t

check_bin = sys.argv[1]
shm_before = t.shm_segments()

# "fallback": one rank of the node can't map the segment, so all of them must use MPI alone
# (a rank writing into rings that nobody reads would lose every message).
for mode, extra in (("rings", {}), ("mpi", {"RINGMASTER_SHM": "0"}),
                    ("fallback", {"RINGMASTER_FAULT_NO_SHM": "1"})):
    cmd = ["mpirun", "--oversubscribe", "-np", "3", check_bin]
    try:
        p = subprocess.run(cmd, env=t.env(extra), capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as e:
        t.check(False, f"{mode}: transport_check did not finish within 120 s")
        continue
    out = p.stdout + p.stderr
    print(f"--- {mode}\n{out}", end="")
    t.check(p.returncode == 0, f"{mode}: exit status {p.returncode}")
    lines = re.findall(r"rank (\d): (ok|FAILED): (\d+) frames received, (\d+) bad, (\d+) batches "
                       r"sent, (\d+) through shared memory, (\d+) waited for ring room", out)
    t.check(len(lines) == 3, f"{mode}: expected 3 rank lines, got {len(lines)}")
    for rank, status, got, bad, batches, shm, waits in lines:
        t.check(status == "ok" and int(got) == 12000 and int(bad) == 0,
                f"{mode}: rank {rank}: {status}, {got} frames, {bad} bad")
        if mode != "rings":
            t.check(int(shm) == 0, f"{mode}: rank {rank} sent {shm} batches through shared "
                                   "memory")
        else:
            t.check(int(shm) == int(batches), f"rings: rank {rank}: {shm} of {batches} batches "
                                              "through shared memory")
            if rank != "1":
                t.check(int(waits) > 0, f"rings: rank {rank}: no batch ever waited for room "
                                        "in rank 1's ring, so that path went untested")

left = t.shm_segments() - shm_before
t.check(not left, f"shared-memory objects left in /dev/shm: {left}")
t.finish("test_transport")
