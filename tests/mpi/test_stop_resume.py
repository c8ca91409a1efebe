"""4 ranks: SIGSTOP one worker for 3x the suspicion timeout, then SIGCONT it. It is reported
dead, the job completes with every task done once, and nothing it does after resuming is acted
on. Run twice: with the default self-fencing (it stops at once), and with self-fencing disabled
by the test-only RINGMASTER_FAULT_NO_SELF_FENCE, so the stale rank keeps sending (completions,
heartbeats, death notices about the live ranks) and the survivors must drop all of it."""
import re
import sys
import time

import rmtest as t

ringmaster = sys.argv[1]
SUSPECT_MS = 400
TASKS = 240
victim = 2


def scenario(no_self_fence):
    extra = {"RINGMASTER_FAULT_NO_SELF_FENCE": "1"} if no_self_fence else None
    label = "no-self-fence" if no_self_fence else "default"
    job = t.Job(4, [ringmaster, "run", "noop", "--tasks", str(TASKS), "--task-ms", "25",
                    "--batch-size", "2", "--suspect-ms", str(SUSPECT_MS), "--verbose"],
                extra_env=extra)
    ranks = job.ranks(4)
    t.check(len(ranks) == 4, f"[{label}] expected 4 rank processes, found {ranks}")
    time.sleep(1.2)
    t.os.kill(ranks[victim], t.signal.SIGSTOP)
    time.sleep(3 * SUSPECT_MS / 1000.0)
    t.os.kill(ranks[victim], t.signal.SIGCONT)
    rc = job.wait(timeout=120)
    out, err = job.stdout(), job.stderr()
    t.check(rc is not None, f"[{label}] the job did not end on its own")
    t.check(f"noop: {TASKS} tasks done" in out, f"[{label}] no completion summary:\n{out}")
    lines = list(t.log_lines(err))
    for survivor in (0, 1, 3):
        t.check(any(r == survivor and m.startswith(f"rank {victim} declared dead")
                    for _, r, _, m in lines),
                f"[{label}] rank {survivor} never reported rank {victim} dead")
    # No survivor ever acted on anything the stale rank said: no live rank was declared dead.
    wrongly = [m for _, r, _, m in lines
               if r != victim and "declared dead" in m and not m.startswith(f"rank {victim} ")]
    t.check(not wrongly, f"[{label}] a survivor acted on the stale rank: {wrongly}")
    if no_self_fence:
        # The stale rank did keep talking, and the coordinator dropped it.
        stats = [m for _, r, _, m in lines if r == 0 and m.startswith("transport:")]
        dropped = int(re.search(r"(\d+) batches from dead ranks dropped", stats[0]).group(1)) \
            if stats else 0
        print(f"[{label}] coordinator dropped {dropped} batches from the stale rank")
        t.check(dropped > 0, f"[{label}] the stale rank sent nothing the coordinator dropped")
    else:
        t.check(any(r == victim and m.startswith("fenced:") for _, r, _, m in lines),
                f"[{label}] the resumed rank did not fence itself")
    if t.failures:
        print(err)


scenario(no_self_fence=False)
scenario(no_self_fence=True)
t.finish("test_stop_resume")
