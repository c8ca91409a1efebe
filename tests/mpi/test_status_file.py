"""--status FILE: always complete JSON with the interface's keys; shows the leader and term,
follows a leader change (SIGKILL of the leader), marks the dead rank, and ends "done" with every
task counted. A status file in a missing directory is a usage error (exit 2, one line)."""
import json
import os
import re
import subprocess
import sys
import time

import rmtest as t

ringmaster = sys.argv[1]
TASKS = 200
path = os.path.join(t.tempfile.mkdtemp(prefix="rmstatus."), "status.json")

job = t.Job(4, [ringmaster, "run", "noop", "--tasks", str(TASKS), "--task-ms", "40",
                "--batch-size", "2", "--status", path])
ranks = job.ranks(4)
seen, bad = [], 0
until = time.time() + 60
killed = None
while time.time() < until and job.proc.poll() is None:
    try:
        with open(path) as f:
            doc = json.load(f)
        seen.append(doc)
    except FileNotFoundError:
        pass
    except ValueError:
        bad += 1
    if killed is None and seen and seen[-1]["state"] == "running" and seen[-1]["tasks"]["done"] > 20:
        killed = seen[-1]["leader"]
        t.os.kill(ranks[killed], t.signal.SIGKILL)
    time.sleep(0.05)
rc = job.wait(timeout=60)
with open(path) as f:
    final = json.load(f)

t.check(bad == 0, f"{bad} reads found a partial file")
t.check(len(seen) > 5, f"only {len(seen)} status snapshots were read")
for key in ("state", "leader", "term", "epoch", "ranks", "tasks"):
    t.check(key in final, f"missing key {key}")
t.check(all(set(r) >= {"rank", "pid", "host", "role", "cores"} for r in final["ranks"]),
        "a rank row lacks a field")
t.check(set(final["tasks"]) >= {"total", "done", "running", "rescheduled"}, "tasks fields")
t.check(killed is not None, "the leader was never killed")
leaders = {(d["leader"], d["term"]) for d in seen if d["state"] == "running"}
t.check(len({l for l, _ in leaders}) >= 2, f"the status never showed a new leader: {leaders}")
t.check(final["state"] == "done", f"final state {final['state']}")
t.check(final["tasks"]["done"] == TASKS and final["tasks"]["total"] == TASKS,
        f"final tasks {final['tasks']}")
if killed is not None:
    t.check(final["ranks"][killed]["role"] == "dead", f"rank {killed} is not shown dead")
    t.check(final["leader"] != killed and final["term"] > 1, "final leader/term")
    t.check(final["epoch"] >= 1, "the epoch did not advance after a death")

# The progress line: plain lines in a log (here every 0.2 s, instead of 10), none with --quiet.
for quiet in (False, True):
    job2 = t.Job(3, [ringmaster, "run", "noop", "--tasks", "400", "--task-ms", "5"] +
                 (["--quiet"] if quiet else []), extra_env={"RINGMASTER_PROGRESS_S": "0.2"})
    rc2 = job2.wait(timeout=60)
    lines = re.findall(r"^progress: \d+/400 tasks, .*ETA .* ranks alive, \d+ dead, leader \d+ "
                       r"\(term \d+\), \d+ rescheduled$", job2.stderr(), re.M)
    t.check(rc2 is not None and (len(lines) == 0 if quiet else len(lines) >= 2),
            f"progress lines ({'quiet' if quiet else 'default'}): {len(lines)}")

p = subprocess.run([ringmaster, "run", "noop", "--status", "/nonexistent/dir/s.json"],
                   capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
t.check(p.returncode == 2 and p.stderr.count("ringmaster: error:") == 1
        and "not writable" in p.stderr, f"missing directory: {p.returncode} {p.stderr!r}")
if t.failures:
    print(job.stderr())
t.finish("test_status_file")
