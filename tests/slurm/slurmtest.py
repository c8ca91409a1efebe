"""A private Slurm on this one node, for the batch-job tests: munged, slurmctld and slurmd from
Debian's packages, started without systemd, everything under one temporary folder:

- a private munge key and socket (the socket's folder, and every folder above it, mode 0711:
  munged refuses a socket that other users could not reach);
- a slurm.conf generated for this machine (`slurmd -C`), one partition, no accounting
  database (job completions go to a text file, so `sacct -c` works), ports picked free on
  127.0.0.1, and every daemon bound to the loopback address only (NoInAddrAny,
  NoCtldInAddrAny; checked after start-up);
- the daemons run in the foreground as children of this process, with a parent-death signal,
  so that they die with it even if it is killed; `stop()` cancels the jobs, kills whatever
  job processes remain (found by their SLURM_CONF, which is this instance's) and stops the
  daemons, all by pid.

Needs root (slurmd starts jobs as their user). Usage:

    with slurmtest.Slurm() as s:
        job = s.sbatch(["-N1", "-n4", "-O"], script, env={...})
        info = s.wait(job, timeout=120)      # scontrol's fields: JobState, ExitCode, ...
"""
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "mpi"))
import rmtest  # noqa: E402  (check, finish, the MPI environment)

JOBS = os.path.abspath(os.path.join(HERE, "..", "..", "jobs"))
SKIP = 77  # ctest's SKIP_RETURN_CODE for these tests
FINAL = ("COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "NODE_FAIL", "OUT_OF_MEMORY",
         "BOOT_FAIL", "DEADLINE", "PREEMPTED")
DAEMONS = ("munged", "slurmctld", "slurmd")


def require_root_and_slurm():
    """Exits with SKIP unless this runs as root; fails if the packages are missing (scripts/
    deps.sh installs them)."""
    if os.geteuid() != 0:
        print("skipped: the Slurm tests start slurmd, which needs root")
        sys.exit(SKIP)
    missing = [d for d in DAEMONS + ("mungekey", "sbatch", "srun", "scontrol", "sacct")
               if not shutil.which(d, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")]
    if missing:
        print(f"FAIL: not installed: {' '.join(missing)} (run scripts/deps.sh)")
        sys.exit(1)


def _die_with_parent():
    """In the child before exec: SIGKILL when the test process dies, and a session of its
    own (no terminal signals)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    os.setsid()


def _free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def _which(name):
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


class Slurm:
    def __init__(self, budget=None):
        require_root_and_slurm()
        self.dir = tempfile.mkdtemp(prefix="rmslurm.")
        os.chmod(self.dir, 0o711)
        self.conf = os.path.join(self.dir, "slurm.conf")
        self.procs = {}
        self.node = socket.gethostname().split(".")[0]
        # Orphans of the daemons (slurmstepd, slurmscriptd, job processes) become this
        # process's children, so that stop() can reap them instead of leaving zombies.
        ctypes.CDLL(None).prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
        if budget:  # an overall deadline, below ctest's timeout, so that stop() still runs
            signal.signal(signal.SIGALRM, self._out_of_time)
            signal.alarm(int(budget))
        signal.signal(signal.SIGTERM, self._out_of_time)

    def _out_of_time(self, signum, frame):
        raise TimeoutError(f"test stopped by signal {signum} (over its time budget)")

    # ---- start-up ---------------------------------------------------------------------------

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def env(self, extra=None):
        """The environment for clients and jobs: this instance's SLURM_CONF, Open MPI on
        loopback and allowed as root."""
        e = rmtest.env()
        e["SLURM_CONF"] = self.conf
        for k in list(e):  # a job inheriting another Slurm's variables would be confused
            if (k.startswith("SLURM_") or k.startswith("SBATCH_")) and k != "SLURM_CONF":
                del e[k]
        e.pop("OMPI_MCA_rmaps_base_oversubscribe", None)  # jobs get their slots from Slurm
        if extra:
            e.update(extra)
        return e

    def _spawn(self, name, cmd):
        log = open(self.path("log", f"{name}.out"), "w")
        self.procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=self.env(),
                                            preexec_fn=_die_with_parent)

    def _until(self, what, cond, timeout):
        end = time.time() + timeout
        while time.time() < end:
            if cond():
                return
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited with {p.returncode} while waiting for "
                                       f"{what}:\n{self.logs()}")
            time.sleep(0.2)
        raise RuntimeError(f"timed out waiting for {what}:\n{self.logs()}")

    def _start_munge(self):
        os.makedirs(self.path("munge"), mode=0o711)
        os.chmod(self.path("munge"), 0o711)
        self.socket = self.path("munge", "munge.socket")
        subprocess.run([_which("mungekey"), "--create", "--keyfile", self.path("munge", "key")],
                       check=True, timeout=30, capture_output=True)
        self._spawn("munged", [_which("munged"), "--foreground", "--key-file",
                               self.path("munge", "key"), "--socket", self.socket,
                               "--pid-file", self.path("munge", "munged.pid"),
                               "--seed-file", self.path("munge", "seed"),
                               "--log-file", self.path("log", "munged.log")])
        self._until("the munge socket", lambda: os.path.exists(self.socket), 30)

    def _node_line(self):
        out = subprocess.run([_which("slurmd"), "-C"], capture_output=True, text=True,
                             timeout=30).stdout
        f = dict(re.findall(r"(\w+)=(\S+)", out.splitlines()[0]))
        return (f"NodeName={self.node} NodeAddr=127.0.0.1 NodeHostname={self.node} "
                f"CPUs={f['CPUs']} Boards={f.get('Boards', 1)} "
                f"SocketsPerBoard={f['SocketsPerBoard']} CoresPerSocket={f['CoresPerSocket']} "
                f"ThreadsPerCore={f['ThreadsPerCore']} RealMemory=1000 State=UNKNOWN")

    def _write_conf(self):
        ctld_port, slurmd_port = _free_ports(2)
        self.ports = (ctld_port, slurmd_port)
        for d in ("state", "spool", "tmp"):
            os.makedirs(self.path(d), mode=0o755)
        open(self.path("plugstack.conf"), "w").close()
        lines = [
            "ClusterName=rmtest",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            f"SlurmctldPort={ctld_port}",
            f"SlurmdPort={slurmd_port}",
            "CommunicationParameters=NoInAddrAny,NoCtldInAddrAny",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.socket}",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"StateSaveLocation={self.path('state')}",
            f"SlurmdSpoolDir={self.path('spool')}",
            f"TmpFS={self.path('tmp')}",
            f"SlurmctldPidFile={self.path('slurmctld.pid')}",
            f"SlurmdPidFile={self.path('slurmd.pid')}",
            f"SlurmctldLogFile={self.path('log', 'slurmctld.log')}",
            f"SlurmdLogFile={self.path('log', 'slurmd.log')}",
            f"PlugStackConfig={self.path('plugstack.conf')}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/affinity",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "SchedulerType=sched/builtin",
            "MpiDefault=none",
            "ReturnToService=2",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={self.path('log', 'jobcomp.txt')}",
            "MailProg=/bin/true",
            "MinJobAge=3600",
            "MessageTimeout=30",
            "SlurmdTimeout=600",
            "InactiveLimit=0",
            self._node_line(),
            f"PartitionName=rm Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
        ]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def _listening(self, pid):
        """The local addresses of the TCP sockets that pid listens on."""
        inodes = set()
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            return []
        addrs = []
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                rows = open(table).read().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                f = row.split()
                if f[3] == "0A" and f[9] in inodes:  # LISTEN
                    addrs.append(f[1])
        return addrs

    def start(self):
        """Starts munged, slurmctld and slurmd, and waits until the node is idle (about 5 s)."""
        os.makedirs(self.path("log"))
        t0 = time.time()
        self._start_munge()
        self._write_conf()
        self._spawn("slurmctld", [_which("slurmctld"), "-D", "-f", self.conf])
        self._until("slurmctld", lambda: self.run(["scontrol", "ping"], check=False)
                    .stdout.count("UP") >= 1, 60)
        self._spawn("slurmd", [_which("slurmd"), "-D", "-f", self.conf, "-N", self.node])
        self._until("the node to be idle", lambda: self.run(
            ["sinfo", "-h", "-n", self.node, "-o", "%T"], check=False).stdout.strip() == "idle",
            60)
        for name in ("slurmctld", "slurmd"):
            addrs = self._listening(self.procs[name].pid)
            bad = [a for a in addrs if not a.startswith("0100007F:")]
            if not addrs or bad:
                raise RuntimeError(f"{name} listens on {addrs}, expected 127.0.0.1 only")
        print(f"slurm: up in {time.time() - t0:.1f} s in {self.dir} (node {self.node}, ports "
              f"{self.ports[0]}/{self.ports[1]})", flush=True)
        return self

    # ---- clients ----------------------------------------------------------------------------

    def run(self, cmd, check=True, timeout=60, env=None, cwd=None):
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=self.env(env), check=check, stdin=subprocess.DEVNULL,
                              cwd=cwd)

    def sbatch(self, args, script, env=None, cwd=None):
        """Submits script with sbatch args; returns the job id."""
        p = self.run(["sbatch"] + list(args) + [script], env=env, cwd=cwd or self.dir,
                     check=False)
        m = re.search(r"Submitted batch job (\d+)", p.stdout)
        if not m:
            raise RuntimeError(f"sbatch failed ({p.returncode}): {p.stdout}{p.stderr}")
        return int(m.group(1))

    def job(self, job):
        """scontrol's fields of a job, as a dict (empty if unknown)."""
        p = self.run(["scontrol", "-o", "show", "job", str(job)], check=False)
        return dict(re.findall(r"(\S+?)=(\S*)", p.stdout)) if p.returncode == 0 else {}

    def wait(self, job, timeout):
        """Waits until the job has ended; returns its fields (JobState is FINAL) or the last
        seen ones (with JobState as it was) on timeout."""
        end = time.time() + timeout
        info = {}
        while time.time() < end:
            info = self.job(job)
            if info.get("JobState") in FINAL:
                return info
            time.sleep(0.5)
        return info

    def jobs(self):
        """Ids of the jobs Slurm knows, in order."""
        p = self.run(["squeue", "-h", "-t", "all", "-o", "%i"], check=False)
        return sorted(int(x) for x in p.stdout.split() if x.isdigit())

    def sacct(self, job):
        """(state, exit code) from the job-completion log (`sacct -c`: no accounting
        database here)."""
        p = self.run(["sacct", "-c", "-n", "-P", "-j", str(job), "-o", "JobID,State,ExitCode"],
                     check=False)
        for line in p.stdout.splitlines():
            f = line.split("|")
            if f[0] == str(job):
                return f[1], f[2]
        return None, None

    def logs(self, lines=30):
        out = []
        for name in ("slurmctld.log", "slurmd.log", "munged.log", "slurmctld.out",
                     "slurmd.out", "munged.out"):
            p = self.path("log", name)
            if os.path.exists(p):
                tail = open(p, errors="replace").read().splitlines()[-lines:]
                out.append(f"--- {name}\n" + "\n".join(tail))
        return "\n".join(out)

    # ---- shutdown ---------------------------------------------------------------------------

    def _ours(self):
        """Pids of the processes that carry this instance's SLURM_CONF: the daemons and
        everything they started (slurmscriptd, slurmstepd, job scripts, ranks)."""
        mark = f"SLURM_CONF={self.conf}".encode()
        pids = []
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == os.getpid():
                continue
            try:
                with open(f"/proc/{d}/environ", "rb") as f:
                    if mark in f.read().split(b"\0"):
                        pids.append(int(d))
            except OSError:
                pass
        return pids

    def stop(self):
        """Cancels every job, stops the daemons, then kills whatever still carries this
        instance's SLURM_CONF (job processes, slurmstepd), all by pid."""
        signal.alarm(0)
        try:
            self.run(["scancel", "--user=root", "--full", "--signal=KILL"], check=False,
                     timeout=20)
            self.run(["scancel", "--user=root"], check=False, timeout=20)
            end = time.time() + 15
            while time.time() < end and self.run(["squeue", "-h"], check=False,
                                                 timeout=20).stdout.strip():
                time.sleep(0.3)
        except (subprocess.SubprocessError, OSError):
            pass
        for name in ("slurmd", "slurmctld", "munged"):
            p = self.procs.get(name)
            if not p or p.poll() is not None:
                continue
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for pid in self._ours():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._reap(5)

    def _reap(self, timeout):
        """Waits for the orphans handed to this process (it is their subreaper)."""
        end = time.time() + timeout
        while time.time() < end:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                time.sleep(0.1)

    def __enter__(self):
        return self.start()

    def __exit__(self, kind, value, tb):
        if kind is not None:
            print(f"slurm: stopping after {kind.__name__}: {value}\n{self.logs()}", flush=True)
        self.stop()
        if kind is None and not rmtest.failures:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"slurm: kept {self.dir} for inspection", flush=True)
        return False


# ---- helpers shared by the tests -------------------------------------------------------------

def job_log(workdir, name, job):
    """The job's log: SBATCH --output=%x-%j.out in its working directory."""
    p = os.path.join(workdir, f"{name}-{job}.out")
    return open(p, errors="replace").read() if os.path.exists(p) else ""


def status(chain_dir, job):
    """The job's ringmaster status file (written by jobs/lib/ringmaster-job.sh), or None."""
    import json
    try:
        with open(os.path.join(chain_dir, f"{job}.status.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def is_ringmaster(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"ringmaster" in f.read()
    except OSError:
        return False


def slow_wrapper(work, ringmaster, fault):
    """Writes a ringmaster wrapper that sets the test-only fault RINGMASTER_FAULT_SLOW_STAGE
    to `fault` for a first run, and not for a run with --resume (so a continuation is quick);
    `exec`, so the rank's pid is ringmaster's. Returns its path."""
    path = os.path.join(work, f"ringmaster-slow-{fault.replace(':', '-')}")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n"
                "# test wrapper: slow down a first run, not a resumed one\n"
                f"case \" $* \" in *\" --resume \"*) ;; *) "
                f"export RINGMASTER_FAULT_SLOW_STAGE={fault} ;; esac\n"
                f"exec {ringmaster} \"$@\"\n")
    os.chmod(path, 0o755)
    return path
