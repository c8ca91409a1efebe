"""SIGSTOP the leader for 3x the election timeout, then SIGCONT it. A new leader takes over;
there is never a second coordinator acting in the same term; the job completes with every
task once. Run twice: with the default self-fencing (the resumed leader stops at once), and
with the test-only RINGMASTER_FAULT_NO_SELF_FENCE, where the stale leader keeps running and
must make no decision: it cannot commit, and everything it sends is dropped."""
import re
import sys
import time

import rmtest as t

ringmaster = sys.argv[1]
TASKS = 240
ELECTION_MS = 150
ELECTED = re.compile(r"elected leader: rank (\d+) \(pid \d+\), term (\d+)")


def scenario(no_self_fence):
    label = "no-self-fence" if no_self_fence else "default"
    extra = {"RINGMASTER_FAULT_NO_SELF_FENCE": "1"} if no_self_fence else None
    job = t.Job(4, [ringmaster, "run", "noop", "--tasks", str(TASKS), "--task-ms", "30",
                    "--batch-size", "2", "--election-timeout-ms", str(ELECTION_MS)],
                extra_env=extra)
    ranks = job.ranks(4)
    time.sleep(1.5)
    elected = [(int(m.group(1)), int(m.group(2))) for _, _, _, msg in t.log_lines(job.stderr())
               for m in [ELECTED.search(msg)] if m]
    t.check(bool(elected), f"[{label}] no leader elected")
    leader = elected[-1][0] if elected else 0
    t.os.kill(ranks[leader], t.signal.SIGSTOP)
    time.sleep(3 * ELECTION_MS / 1000.0)
    t.os.kill(ranks[leader], t.signal.SIGCONT)
    rc = job.wait(timeout=120)
    out, err = job.stdout(), job.stderr()
    t.check(rc is not None, f"[{label}] the job did not end on its own")
    t.check(f"noop: {TASKS} tasks done" in out, f"[{label}] no completion summary:\n{out}")
    terms = {}
    for _, _, _, msg in t.log_lines(err):
        m = ELECTED.search(msg)
        if m:
            r, term = int(m.group(1)), int(m.group(2))
            t.check(terms.setdefault(term, r) == r, f"[{label}] two leaders in term {term}")
    t.check(any(r != leader for r in terms.values()), f"[{label}] no other rank took over")
    # The finishing summary comes from a rank other than the stopped leader.
    t.check(f"leader: rank {leader} " not in out, f"[{label}] the stopped leader finished")
    if t.failures:
        print(err)


scenario(no_self_fence=False)
scenario(no_self_fence=True)
t.finish("test_leader_stop")
