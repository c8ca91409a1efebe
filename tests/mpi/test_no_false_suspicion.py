"""6 ranks on 2 cores, every worker spinning the CPU in tasks of 5x the suspicion timeout:
the control threads keep answering, nobody is declared dead, and every task completes."""
import sys

import rmtest as t

ringmaster = sys.argv[1]
SUSPECT_MS = 400
job = t.Job(6, [ringmaster, "run", "noop", "--tasks", "10", "--task-ms", str(5 * SUSPECT_MS),
                "--batch-size", "1", "--suspect-ms", str(SUSPECT_MS)])
rc = job.wait(timeout=120)
out, err = job.stdout(), job.stderr()
t.check(rc == 0, f"mpirun exited {rc}")
t.check("noop: 10 tasks done" in out, f"no completion summary:\n{out}\n{err}")
t.check("declared dead" not in err, f"false suspicion:\n{err}")
t.check("fenced" not in err, f"a rank fenced itself:\n{err}")
t.finish("test_no_false_suspicion")
