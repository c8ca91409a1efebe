"""The job scripts without a scheduler:

(a) every script in jobs/ parses (`bash -n`; and shellcheck, when installed), and carries the
    directives the README promises (Slurm: %x-%j.out, --signal=B:USR1@N, --no-kill,
    --exclusive; PBS: walltime, joined output);
(b) the PBS scripts, which cannot be tested against a real PBS server here, run under a
    stand-in PBS environment: a node file listing this host 4 times, PBS_JOBID and
    PBS_O_WORKDIR, and stand-ins for qstat (which reports a 20 s walltime) and qsub (which
    records what it is asked). pbs/wordcount.pbs, with map tasks slowed by a test-only fault,
    is told by its own timer to checkpoint and stop 12 s before the walltime; it exits 4 and
    asks qsub for its continuation (-W depend=afterany:JOB, RM_RESUME=1); that continuation,
    run the way PBS would, resumes, reuses every checkpointed map output and writes the counts
    of ref_wordcount. This runs the same jobs/lib/ringmaster-job.sh as the Slurm scripts, on
    its PBS paths (mpirun --hostfile $PBS_NODEFILE, the walltime timer, qsub);
(c) how the library reads a launch's end from the ranks' exit statuses and the status file:
    done, stopped, usage error, failed, and ranks lost (killed, or no status at all)."""
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "mpi"))
import rmtest as t  # noqa: E402

ringmaster = os.path.abspath(sys.argv[1])
bindir = os.path.dirname(ringmaster)
JOBS = os.path.abspath(os.path.join(HERE, "..", "..", "jobs"))
work = tempfile.mkdtemp(prefix="rmjobs.")

# (a) syntax and directives.
scripts = sorted(glob.glob(os.path.join(JOBS, "slurm", "*.sbatch")) +
                 glob.glob(os.path.join(JOBS, "pbs", "*.pbs")) +
                 glob.glob(os.path.join(JOBS, "lib", "*.sh")))
t.check(len(scripts) == 7, f"expected 3 Slurm scripts, 3 PBS scripts and the library: {scripts}")
for path in scripts:
    p = subprocess.run(["bash", "-n", path], capture_output=True, text=True, timeout=30)
    t.check(p.returncode == 0, f"bash -n {path}: {p.stderr}")
    text = open(path).read()
    if path.endswith(".sbatch"):
        for d in ("--output=%x-%j.out", "--signal=B:USR1@", "--no-kill", "--exclusive",
                  "--time=", "--ntasks="):
            t.check(f"#SBATCH {d}" in text, f"{path}: no #SBATCH {d}")
    if path.endswith(".pbs"):
        for d in ("-l walltime=", "-l select=", "-j oe"):
            t.check(f"#PBS {d}" in text, f"{path}: no #PBS {d}")
    if not path.endswith(".sh"):
        t.check("lib/ringmaster-job.sh" in text and re.search(r"^rm_job \w+", text, re.M),
                f"{path}: does not run rm_job from jobs/lib/ringmaster-job.sh")
if shutil.which("shellcheck"):
    p = subprocess.run(["shellcheck", "-x"] + scripts, capture_output=True, text=True,
                       timeout=120, cwd=os.path.join(JOBS, "slurm"))
    t.check(p.returncode == 0, f"shellcheck:\n{p.stdout}{p.stderr}")
else:
    print("shellcheck is not installed: only bash -n was run")

# (b) pbs/wordcount.pbs under a stand-in PBS.
fake = os.path.join(work, "bin")
os.makedirs(fake)
with open(os.path.join(fake, "qsub"), "w") as f:
    f.write('#!/bin/sh\n# stand-in qsub: records its arguments and environment\n'
            'printf "%s\\n" "$@" > "$FAKE_PBS/qsub.args"\n'
            'env -0 > "$FAKE_PBS/qsub.env"\necho 101.fake\n')
with open(os.path.join(fake, "qstat"), "w") as f:
    f.write('#!/bin/sh\n# stand-in qstat -f JOB\necho "Job Id: $2"\n'
            'echo "    Resource_List.walltime = 00:00:20"\n')
for n in ("qsub", "qstat"):
    os.chmod(os.path.join(fake, n), 0o755)
nodes = os.path.join(work, "nodes")
with open(nodes, "w") as f:
    f.write((os.uname().nodename.split(".")[0] + "\n") * 4)
corpus = os.path.join(work, "corpus.txt")
subprocess.run([os.path.join(bindir, "gen_corpus"), "--bytes", "4M", "--seed", "13", "--out",
                corpus], check=True, timeout=60)
want = subprocess.run([os.path.join(bindir, "ref_wordcount"), corpus], capture_output=True,
                      timeout=120, check=True).stdout
slow = os.path.join(work, "ringmaster-slow")
with open(slow, "w") as f:
    f.write('#!/bin/sh\n# test wrapper: slow down a first run, not a resumed one\n'
            'case " $* " in *" --resume "*) ;; *) export RINGMASTER_FAULT_SLOW_STAGE=0:1000 ;;'
            f' esac\nexec {ringmaster} "$@"\n')
os.chmod(slow, 0o755)
out = os.path.join(work, "counts.tsv")
script = os.path.join(JOBS, "pbs", "wordcount.pbs")
env = {k: v for k, v in t.env().items()
       if not k.startswith(("SLURM_", "PBS_", "RM_")) and k != "OMPI_MCA_rmaps_base_oversubscribe"}
env.update({"PATH": fake + ":" + env.get("PATH", ""), "FAKE_PBS": work, "PBS_JOBID": "100.fake",
            "PBS_O_WORKDIR": work, "PBS_NODEFILE": nodes, "RM_JOBS": JOBS,
            "RINGMASTER": slow, "RM_INPUT": corpus, "RM_OUTPUT": out, "RM_SPLIT_SIZE": "112K",
            "RM_STOP_LEAD": "12", "RM_ARGS": "--suspect-ms 2000"})


def run_job(name, env_):
    t0 = time.time()
    with open(os.path.join(work, f"{name}.out"), "w") as log:
        # A session of its own: on timeout the script, mpirun and the ranks go together.
        p = subprocess.Popen(["bash", script], stdout=log, stderr=subprocess.STDOUT, env=env_,
                             cwd=os.environ.get("HOME", "/"), stdin=subprocess.DEVNULL,
                             start_new_session=True)
        try:
            rc = p.wait(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            rc = None
    text = open(os.path.join(work, f"{name}.out")).read()
    print(f"({name}) exit {rc} in {time.time() - t0:.1f} s", flush=True)
    return rc, text


rc, log = run_job("first", env)
t.check(rc == 4, f"(b) first job: exit {rc}, expected 4 (stopped before the walltime)")
t.check("rm-job: the ranks will be told to checkpoint and stop after 8 s" in log,
        "(b) first job: no stop timer from the walltime")
t.check("--hostfile " + nodes in log, "(b) first job: mpirun not given PBS_NODEFILE")
t.check("stopped after a last checkpoint" in log, "(b) first job: the ranks did not stop")
t.check(not os.path.exists(out), "(b) first job: an output was written by a stopped job")
qargs = open(os.path.join(work, "qsub.args")).read().splitlines() \
    if os.path.exists(os.path.join(work, "qsub.args")) else []
chain = os.path.join(work, "ringmaster-100")
t.check(qargs[:3] == ["-W", "depend=afterany:100.fake", "-V"] and qargs[3:4] == ["-v"]
        and qargs[-1] == script,
        f"(b) qsub was asked: {qargs}")
t.check(qargs[4:5] == [f"RM_RESUME=1,RM_CHAIN=1,RM_CHAIN_DIR={chain}"],
        f"(b) the continuation's variables: {qargs[4:5]}")
if t.failures:
    print(log[-4000:])
elif os.path.exists(os.path.join(work, "qsub.env")):
    # The continuation, as PBS would start it: qsub's environment (-V), the -v variables, a
    # new job id.
    env2 = dict(kv.split("=", 1) for kv in
                open(os.path.join(work, "qsub.env")).read().split("\0") if "=" in kv)
    env2.update(kv.split("=", 1) for kv in qargs[4].split(","))
    env2["PBS_JOBID"] = "101.fake"
    rc, log = run_job("second", env2)
    t.check(rc == 0, f"(b) continuation: exit {rc}")
    m = re.search(r"^resume: (\d+) tasks reused from the checkpoint, (\d+) of the (\d+) it",
                  log, re.M)
    t.check(m and int(m.group(1)) > 0 and m.group(2) == "0" and m.group(1) == m.group(3),
            f"(b) continuation: {m.group(0) if m else 'no resume line'}")
    t.check(os.path.exists(out) and open(out, "rb").read() == want,
            "(b) continuation: the counts differ from ref_wordcount's")
    if t.failures:
        print(log[-4000:])

# (c) the job's status from 4 ranks' exit statuses ("-" for a rank that wrote none) and the
# status file's state.
CASES = [("0 0 0 0", "done", 0), ("0 0 0 -", "done", 0), ("3 0 0 0", "done", 0),
         ("4 4 4 4", "failed", 4), ("4 4 4 137", "failed", 4), ("4 - - -", "running", 4),
         ("2 2 2 2", "failed", 2), ("3 3 3 3", "failed", 3), ("0 0 0 0", "", 0),
         ("0 0 0 137", "running", 5), ("3 - - -", "running", 5), ("- - - -", "", 5),
         ("3 3 3 137", "failed", 5)]
for codes, state, want in CASES:
    d = tempfile.mkdtemp(dir=work)
    for rank, c in enumerate(codes.split()):
        if c != "-":
            open(os.path.join(d, f"rc.{rank}"), "w").write(c + "\n")
    stat = os.path.join(d, "status.json")
    if state:
        open(stat, "w").write('{\n  "state": "%s",\n  "leader": 0\n}\n' % state)
    p = subprocess.run(["bash", "-c", f'. "{JOBS}/lib/ringmaster-job.sh"; RM_NP=4 '
                        f'rm__step_status "{d}" "{stat}"'], capture_output=True, text=True,
                       timeout=30)
    t.check(p.stdout.strip() == str(want),
            f"(c) ranks {codes}, state {state or 'none'}: status {p.stdout.strip()}{p.stderr}, "
            f"expected {want}")

if not t.failures:
    shutil.rmtree(work, ignore_errors=True)
t.finish("test_job_scripts")
