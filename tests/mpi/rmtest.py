"""Helpers for the MPI tests: launch ringmaster under mpirun with a timeout, find the rank
processes, signal them by pid, and read the timestamped log lines.

Every launch is bounded by a timeout; on exit only the processes this module started are
killed, by pid."""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_btl_tcp_if_include": "lo",
    "OMPI_MCA_oob_tcp_if_include": "lo",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
}

failures = []


def check(cond, msg):
    """Records a failed expectation (the test goes on, so one run shows every problem)."""
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, flush=True)
    return cond


def finish(name):
    """Prints the closing line and exits non-zero when anything failed."""
    if failures:
        print(f"{name}: 0 passed, {len(failures)} failed")
        sys.exit(1)
    print(f"{name}: 1 passed, 0 failed")
    sys.exit(0)


def env(extra=None):
    e = dict(os.environ)
    e.update(ENV)
    if extra:
        e.update(extra)
    return e


class Job:
    """One mpirun launch whose stdout and stderr go to files."""

    def __init__(self, np, args, recovery=True, extra_env=None, mpirun_args=()):
        self.dir = tempfile.mkdtemp(prefix="rmtest.")
        self.out = open(os.path.join(self.dir, "stdout"), "w+")
        self.err = open(os.path.join(self.dir, "stderr"), "w+")
        cmd = ["mpirun", "--oversubscribe", "-np", str(np)]
        if recovery:
            cmd.append("--enable-recovery")
        cmd += list(mpirun_args) + list(args)
        self.started = time.time()
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=self.err,
                                     stdin=subprocess.DEVNULL, env=env(extra_env),
                                     start_new_session=True)

    def ranks(self, want, timeout=20.0):
        """Waits until `want` rank processes exist; returns {rank: pid}."""
        until = time.time() + timeout
        found = {}
        while time.time() < until and len(found) < want:
            found = rank_pids(self.proc.pid)
            time.sleep(0.05)
        return found

    def wait(self, timeout):
        """Waits for mpirun; on timeout kills the whole launch (by process group) and
        returns None."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # For the failure report: which ranks were still running, and where each one was.
            self.alive_at_timeout = rank_pids(self.proc.pid)
            self.stacks_at_timeout = {r: wchan(pid) for r, pid in self.alive_at_timeout.items()}
            self.kill()
            return None

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def stdout(self):
        self.out.flush()
        with open(self.out.name) as f:
            return f.read()

    def stderr(self):
        self.err.flush()
        with open(self.err.name) as f:
            return f.read()


def wchan(pid):
    """What a process is waiting in, and its state, for failure reports."""
    try:
        with open(f"/proc/{pid}/wchan") as f:
            w = f.read().strip()
        with open(f"/proc/{pid}/stat") as f:
            st = f.read().rsplit(")", 1)[1].split()[0]
        return f"state {st}, waiting in {w or '-'}"
    except OSError:
        return "gone"


def children(pid):
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            kids.append(int(d))
    return kids


def rank_pids(mpirun_pid):
    """Maps MPI rank to pid for the rank processes started by this mpirun."""
    ranks = {}
    for pid in children(mpirun_pid):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env_ = f.read().split(b"\0")
        except OSError:
            continue
        for kv in env_:
            if kv.startswith(b"OMPI_COMM_WORLD_RANK="):
                ranks[int(kv.split(b"=", 1)[1])] = pid
    return ranks


def kill_worker_at_stage(job, ranks, stage, delay=0.0, timeout=30.0, leader=False):
    """Waits until the log says stage `stage` started (and `delay` seconds more), then
    SIGKILLs a worker that is not the leader (rank 4, or 3 if 4 leads), or with leader=True the
    first elected leader. Records a failure if it was already gone. Returns the rank killed."""
    until = time.time() + timeout
    mark = f"stage {stage - 1} done; stage {stage} starts"
    while time.time() < until and mark not in job.stderr():
        time.sleep(0.02)
    time.sleep(delay)
    lead = re.search(r"elected leader: rank (\d+)", job.stderr())
    victim = 4 if not lead or lead.group(1) != "4" else 3
    if leader:
        check(lead is not None, "no leader was elected")
        victim = int(lead.group(1)) if lead else victim
    try:
        os.kill(ranks[victim], signal.SIGKILL)
    except (KeyError, ProcessLookupError):
        check(False, f"rank {victim} was gone before it could be killed")
    return victim


def shm_segments():
    """Ringmaster's shared-memory objects in /dev/shm (each is unlinked at start-up, once
    every rank of the node has mapped it, so none should ever outlive a job)."""
    try:
        return {n for n in os.listdir("/dev/shm") if n.startswith("ringmaster-")}
    except FileNotFoundError:
        return set()


LOG = re.compile(r"^\[(\d\d):(\d\d):(\d\d)\.(\d\d\d) rank (-?\d+)\] (\w+): (.*)$")


def log_lines(text):
    """Yields (seconds since local midnight, rank, level, message) for each log line."""
    for line in text.splitlines():
        m = LOG.match(line)
        if m:
            h, mi, s, ms, rank, level, msg = m.groups()
            t = int(h) * 3600 + int(mi) * 60 + int(s) + int(ms) / 1000.0
            yield t, int(rank), level, msg


def local_midnight_seconds(wall):
    lt = time.localtime(wall)
    return lt.tm_hour * 3600 + lt.tm_min * 60 + lt.tm_sec + (wall % 1)
