"""4 ranks: SIGKILL one worker from outside by its pid. Every survivor reports it dead within
2x the suspicion timeout, its tasks are rescheduled, and the job ends on its own with every
task done exactly once."""
import sys
import time

import rmtest as t

ringmaster = sys.argv[1]
SUSPECT_MS = 400
TASKS = 240

shm_before = t.shm_segments()
job = t.Job(4, [ringmaster, "run", "noop", "--tasks", str(TASKS), "--task-ms", "25",
                "--batch-size", "2", "--heartbeat-ms", "100", "--suspect-ms", str(SUSPECT_MS)])
ranks = job.ranks(4)
t.check(len(ranks) == 4, f"expected 4 rank processes, found {ranks}")
time.sleep(1.5)
victim = 2
killed_at = time.time()
t.os.kill(ranks[victim], t.signal.SIGKILL)
rc = job.wait(timeout=120)
out, err = job.stdout(), job.stderr()
t.check(rc is not None, "the job did not end on its own within 120 s")
t.check(f"noop: {TASKS} tasks done" in out, f"no completion summary on stdout:\n{out}\n{err}")

kill_t = t.local_midnight_seconds(killed_at)
reported = {}
for ts, rank, level, msg in t.log_lines(err):
    if msg.startswith(f"rank {victim} declared dead") and rank not in reported:
        reported[rank] = (ts - kill_t) * 1000.0
for survivor in (0, 1, 3):
    got = reported.get(survivor)
    t.check(got is not None, f"rank {survivor} never reported rank {victim} dead")
    if got is not None:
        print(f"rank {survivor} reported the death after {got:.0f} ms")
        t.check(got <= 2 * SUSPECT_MS, f"rank {survivor} took {got:.0f} ms (> {2 * SUSPECT_MS})")
t.check(all(m.find(f"declared dead") < 0 or m.startswith(f"rank {victim} ")
            for _, _, _, m in t.log_lines(err)), "a live rank was declared dead")
t.check("rescheduled" in err, "no tasks were rescheduled")
# Every survivor built the new epoch's communicator over the 3 live ranks.
for survivor in (0, 1, 3):
    t.check(any(r == survivor and m.startswith("epoch 1 communicator ready: 3 ranks")
                for _, r, _, m in t.log_lines(err)),
            f"rank {survivor} did not build the epoch 1 communicator")
left = t.shm_segments() - shm_before
t.check(not left, f"shared-memory objects left in /dev/shm after a rank was killed: {left}")
if t.failures:
    print(err)
t.finish("test_kill_worker")
