"""A straggler does not hold the job to its own speed: with 6 ranks, rank 3 is slowed down by
3 s per task (the test-only fault RINGMASTER_FAULT_SLOW_RANK). It holds a few tasks from the
first dispatch, which alone would take it about 6 s; once 75% of the tasks are done, backup
copies of its tasks run on their replica holders, the first completion wins, and the job ends
well before the straggler could have finished. Also: a task that always fails fails the job
with exit 3 and a message naming it, after --max-attempts tries; and a command that exits
non-zero is reported in the output and in the exit status, not retried forever."""
import os
import re
import subprocess
import sys
import time

import rmtest as t

ringmaster = sys.argv[1]
TASKS = 300
SLOW_MS = 3000

# 1. The straggler.
# A generous --suspect-ms: on a loaded machine the straggler must not be taken for dead (its
# tasks would then be rescheduled instead of backed up).
job = t.Job(6, [ringmaster, "run", "noop", "--tasks", str(TASKS), "--task-ms", "10",
                "--batch-size", "1", "--suspect-ms", "3000"],
            extra_env={"RINGMASTER_FAULT_SLOW_RANK": f"3:{SLOW_MS}"})
start = time.time()
rc = job.wait(timeout=120)
wall = time.time() - start
out, err = job.stdout(), job.stderr()
t.check(rc is not None, "straggler: the job did not end on its own")
m = re.search(r"noop: (\d+) tasks done in ([0-9.]+) s .* (\d+) backup copies", out)
t.check(m is not None, f"straggler: no completion summary:\n{out}")
if m:
    done, secs, backups = int(m.group(1)), float(m.group(2)), int(m.group(3))
    print(f"straggler: {done} tasks in {secs:.2f} s (whole launch {wall:.1f} s), "
          f"{backups} backup copies")
    t.check(done == TASKS, f"straggler: {done} tasks done, expected {TASKS}")
    t.check(backups >= 1, "straggler: no backup copies were made")
    # Without backups the job could not end before the straggler's 2 tasks: 2 x 3 s.
    t.check(secs < SLOW_MS / 1000.0, f"straggler: the job took {secs:.2f} s, as long as the "
            f"straggler's own tasks")
t.check(re.search(r"straggler: .* running on rank 3 .* backup copy on rank \d", err) is not None,
        "straggler: no backup of rank 3's tasks was logged")
if t.failures:
    print(err[-4000:])

# 2. A task that always fails: exit 3 after --max-attempts, naming the task. Without
# --enable-recovery, mpirun returns the ranks' exit status.
job = t.Job(4, [ringmaster, "run", "noop", "--tasks", "50", "--max-attempts", "2"],
            recovery=False, extra_env={"RINGMASTER_FAULT_FAIL_TASK": "17"})
rc = job.wait(timeout=60)
err = job.stderr()
t.check(rc == 3, f"failing task: exit status {rc}, expected 3")
t.check(re.search(r"task 17 failed 2 times; the job fails\. Last error \(rank \d+\): injected "
                  r"failure", err) is not None, f"failing task: no message naming task 17:\n{err}")

# 3. A command that exits non-zero: reported in the output and the exit status; retried only
# as asked.
work = t.tempfile.mkdtemp(prefix="rmtasks.")
cmds, outp = os.path.join(work, "cmds"), os.path.join(work, "out")
counter = os.path.join(work, "runs")
with open(cmds, "w") as f:
    f.write("echo fine\n")
    f.write(f"echo x >> {counter}; exit 4\n")
    f.write("echo also fine\n")
job = t.Job(3, [ringmaster, "run", "tasks", "--input", cmds, "--output", outp, "--retries",
                "2"], recovery=False)
rc = job.wait(timeout=60)
err = job.stderr()
t.check(rc == 3, f"failing command: exit status {rc}, expected 3")
t.check("1 of 3 commands ended non-zero; the first is line 2 (status 4)" in err,
        f"failing command: no summary of the failure:\n{err}")
text = open(outp).read() if os.path.exists(outp) else ""
t.check("line=2 status=4" in text and "attempts=3" in text and "line=3 status=0" in text,
        f"failing command: output {text!r}")
runs = open(counter).read().count("x") if os.path.exists(counter) else 0
t.check(runs == 3, f"failing command ran {runs} times, expected 1 + 2 retries")
t.finish("test_straggler")
