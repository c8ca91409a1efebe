"""5 ranks, 3 voters. SIGKILL the leader mid-run: a new leader is elected, the group is
refilled to 3 voters, and no committed work is lost. Then SIGKILL a second voter after the
refill: the group is refilled again and the job still completes, every task exactly once.
The log is compacted every 8 entries, so the promoted ranks catch up by InstallSnapshot."""
import re
import sys
import time

import rmtest as t

ringmaster = sys.argv[1]
TASKS = 300
ELECTED = re.compile(r"elected leader: rank (\d+) \(pid \d+\), term (\d+)")
PROMOTED = re.compile(r"raft: promoting rank (\d+) to voter")


def leaders(err):
    return [(int(m.group(1)), int(m.group(2)), ts) for ts, _, _, msg in t.log_lines(err)
            for m in [ELECTED.search(msg)] if m]


def wait_for(job, pred, timeout):
    until = time.time() + timeout
    while time.time() < until:
        got = pred(job.stderr())
        if got:
            return got
        time.sleep(0.05)
    return None


job = t.Job(5, [ringmaster, "run", "noop", "--tasks", str(TASKS), "--task-ms", "40",
                "--batch-size", "2", "--voters", "3", "--snapshot-entries", "8", "--verbose"])
ranks = job.ranks(5)
t.check(len(ranks) == 5, f"expected 5 rank processes, found {ranks}")
first = wait_for(job, leaders, 20)
t.check(bool(first), "no leader was elected")
old = first[0][0] if first else 0
time.sleep(1.5)
killed_at = time.time()
t.os.kill(ranks[old], t.signal.SIGKILL)
print(f"killed leader rank {old}")

new = wait_for(job, lambda e: [l for l in leaders(e) if l[0] != old], 10)
t.check(bool(new), "no new leader after the leader was killed")
refill = wait_for(job, lambda e: [int(m.group(1)) for _, _, _, msg in t.log_lines(e)
                                  for m in [PROMOTED.search(msg)] if m], 10)
t.check(bool(refill), "the voter group was not refilled")
if new and refill:
    leader = new[0][0]
    print(f"new leader rank {leader} (term {new[0][1]}), promoted rank {refill[0]}")
    # the voters are now the initial ones minus the dead leader, plus the promoted rank
    voters = ({0, 1, 2} - {old}) | {refill[0]}
    second = min(v for v in voters if v != leader)
    time.sleep(0.5)
    t.os.kill(ranks[second], t.signal.SIGKILL)
    print(f"killed voter rank {second}")
    again = wait_for(job, lambda e: [int(m.group(1)) for _, _, _, msg in t.log_lines(e)
                                     for m in [PROMOTED.search(msg)] if m][1:], 15)
    t.check(bool(again), "the voter group was not refilled after the second death")

rc = job.wait(timeout=120)
out, err = job.stdout(), job.stderr()
t.check(rc is not None, "the job did not end on its own")
t.check(f"noop: {TASKS} tasks done" in out, f"no completion summary:\n{out}")
terms = {}
for rank, term, _ in leaders(err):
    t.check(terms.setdefault(term, rank) == rank, f"two leaders in term {term}")
t.check(len(terms) >= 2, f"expected at least two terms with a leader, got {terms}")
t.check("installed the leader's snapshot" in err, "no rank caught up through a snapshot")
t.check("epoch 2 communicator ready: 3 ranks" in err, "no epoch 2 communicator over 3 ranks")
if new and refill:
    final = leaders(err)[-1][0]
    for r in set(range(5)) - {old, second, final}:
        t.check(any(rank == r and msg.startswith("membership epoch")
                    for _, rank, _, msg in t.log_lines(err)),
                f"rank {r} never learned a new membership epoch")
if t.failures:
    print(out)
    print(err)
t.finish("test_leader_failover")
