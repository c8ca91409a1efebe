"""6 ranks: the `tasks` farm and `noop` each survive (a) a worker killed mid-job, (b) the leader
killed mid-job, (c) two ranks killed one after the other. In every case the job ends on its own
with every task accounted for: noop reports all N done, and the tasks output holds each command
exactly once, in input order, with its own output, although commands were running on the ranks
that died."""
import os
import re
import sys
import time

import rmtest as t

ringmaster = sys.argv[1]
COMMANDS = 90
NOOP_TASKS = 400
FAST = ["--heartbeat-ms", "100", "--suspect-ms", "400"]
LEADER = re.compile(r"elected leader: rank (\d+) \(pid (\d+)\), term (\d+)")


def leaders(err):
    return [(int(m.group(1)), int(m.group(2))) for m in LEADER.finditer(err)]


def wait_for_leader(job, timeout=15.0):
    until = time.time() + timeout
    while time.time() < until:
        found = leaders(job.stderr())
        if found:
            return found[-1]
        time.sleep(0.05)
    return None


def kill(pid):
    try:
        t.os.kill(pid, t.signal.SIGKILL)
    except ProcessLookupError:
        pass


def victims_for(scenario, ranks, leader):
    """The (delay, rank) kills of a scenario; the leader is found at run time."""
    worker = next(r for r in sorted(ranks) if r != leader and r >= 3)  # not a voter
    if scenario == "worker":
        return [(1.0, worker)]
    if scenario == "leader":
        return [(1.0, leader)]
    other = next(r for r in sorted(ranks) if r not in (leader, worker))
    return [(0.8, worker), (1.0, other)]


def run(kernel, scenario, workdir):
    if kernel == "tasks":
        cmds = os.path.join(workdir, f"cmds-{scenario}.txt")
        out = os.path.join(workdir, f"out-{scenario}.txt")
        with open(cmds, "w") as f:
            f.write("# each command sleeps, then prints its own number\n")
            for i in range(COMMANDS):
                f.write(f"sleep 0.1; echo result {i}\n")
        args = [ringmaster, "run", "tasks", "--input", cmds, "--output", out, "--batch-size",
                "2"] + FAST
    else:
        out = None
        args = [ringmaster, "run", "noop", "--tasks", str(NOOP_TASKS), "--task-ms", "20",
                "--batch-size", "2"] + FAST
    job = t.Job(6, args)
    ranks = job.ranks(6)
    name = f"{kernel}/{scenario}"
    t.check(len(ranks) == 6, f"{name}: expected 6 rank processes, found {ranks}")
    lead = wait_for_leader(job)
    t.check(lead is not None, f"{name}: no leader elected")
    start = time.time()
    killed = []
    if lead is not None and len(ranks) == 6:
        for delay, victim in victims_for(scenario, ranks, lead[0]):
            time.sleep(max(0.0, start + delay - time.time()))
            kill(ranks[victim])
            killed.append(victim)
    rc = job.wait(timeout=int(os.environ.get("RM_TEST_WAIT", "120")))
    so, se = job.stdout(), job.stderr()
    t.check(rc is not None, f"{name}: the job did not end on its own within 120 s")
    for v in killed:
        t.check(f"rank {v} is dead" in se, f"{name}: the death of rank {v} was never committed")
    if kernel == "noop":
        t.check(f"noop: {NOOP_TASKS} tasks done" in so, f"{name}: no completion summary:\n{so}")
    else:
        t.check(f"tasks: {COMMANDS} commands done" in so, f"{name}: no completion summary:\n{so}")
        check_tasks_output(name, out)
    if "leader" in scenario and lead is not None:
        new = [r for r, _ in leaders(se) if r != lead[0]]
        t.check(bool(new), f"{name}: no new leader after rank {lead[0]} was killed")
    if t.failures:
        print(se[-6000:])
    print(f"{name}: killed {killed}, ended in {time.time() - start:.1f} s", flush=True)


def check_tasks_output(name, out):
    t.check(os.path.exists(out), f"{name}: no output file {out}")
    t.check(not os.path.exists(out + ".parts"), f"{name}: the parts directory was left behind")
    if not os.path.exists(out):
        return
    data = open(out, "rb").read()
    pos, seen = 0, []
    head = re.compile(rb"#ringmaster-task line=(\d+) status=(-?\d+) bytes=(\d+) [^\n]*"
                      rb"command=([^\n]*)\n")
    while pos < len(data):
        m = head.match(data, pos)
        if not t.check(m is not None, f"{name}: bad record header at byte {pos}"):
            return
        line, status, nbytes = int(m.group(1)), int(m.group(2)), int(m.group(3))
        body = data[m.end():m.end() + nbytes]
        i = len(seen)
        t.check(line == i + 2, f"{name}: record {i} is line {line}, expected {i + 2}")
        t.check(status == 0 and body == f"result {i}\n".encode(),
                f"{name}: record {i}: status {status}, output {body!r}")
        t.check(data[m.end() + nbytes:m.end() + nbytes + 1] == b"\n",
                f"{name}: record {i} not followed by a newline")
        seen.append(line)
        pos = m.end() + nbytes + 1
    t.check(len(seen) == COMMANDS, f"{name}: {len(seen)} records, expected {COMMANDS}")


workdir = t.tempfile.mkdtemp(prefix="rmfarm.")
for kernel in ("tasks", "noop"):
    for scenario in ("worker", "leader", "two"):
        run(kernel, scenario, workdir)
t.finish("test_farm_faults")
