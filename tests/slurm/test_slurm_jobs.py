"""The job scripts of jobs/slurm against a real Slurm on this node (slurmtest.py), 4 ranks on
the 2 cores (sbatch -N1 -n4 --overcommit):

(a) wordcount.sbatch, launched by mpirun inside the allocation: the job completes (scontrol
    and `sacct -c`), its log is %x-%j.out and shows where each rank is pinned and the leader,
    and the counts equal ref_wordcount's;
(b) kmeans.sbatch launched by `srun --mpi=pmix`: the output equals ref_kmeans's, byte for byte;
(c) tasks.sbatch (mpirun): every command ran once, with its output;
(d) a rank SIGKILLed under mpirun: the launch goes on without it, the job completes in that one
    launch, the counts are right;
(e) a rank SIGKILLed under srun: Slurm's PMIx plugin kills the whole step (its error handler,
    whatever --kill-on-bad-exit and --no-kill say); the script launches again with --resume
    from the last checkpoint, in the same allocation, reusing the map outputs checkpointed
    before the kill, and the counts are right."""
import os
import re
import signal
import subprocess
import sys
import time

import slurmtest as st

t = st.rmtest
ringmaster = os.path.abspath(sys.argv[1])
bindir = os.path.dirname(ringmaster)
SB = ["-N1", "-n4", "--overcommit"]  # 4 ranks on this 2-core node
QUIET = "--suspect-ms 2000"  # the machine is shared: no false suspicions under load


def ref(tool, args, out):
    subprocess.run([os.path.join(bindir, tool)] + args, check=True, timeout=120,
                   stdout=open(out, "wb"))
    return open(out, "rb").read()


def same_file(name, path, want):
    ok = t.check(os.path.exists(path), f"{name}: no output {path}")
    if ok:
        t.check(open(path, "rb").read() == want, f"{name}: {path} differs from the reference")


def run_job(s, name, script, env, timeout=180, sbatch=SB):
    """Submits jobs/slurm/<script>, waits; returns (job id, fields, log)."""
    t0 = time.time()
    job = s.sbatch(sbatch, os.path.join(st.JOBS, "slurm", script), env=env, cwd=work)
    info = s.wait(job, timeout)
    log = st.job_log(work, f"rm-{script.split('.')[0]}", job)
    print(f"({name}) job {job}: {info.get('JobState')} exit {info.get('ExitCode')} in "
          f"{time.time() - t0:.1f} s", flush=True)
    return job, info, log


def completed(name, info, log):
    ok = t.check(info.get("JobState") == "COMPLETED" and info.get("ExitCode") == "0:0",
                 f"{name}: job {info.get('JobState')}, exit {info.get('ExitCode')}")
    if not ok:
        print(log[-4000:])
    return ok


def kill_a_worker(chain_dir, job, ready, timeout=60):
    """Waits until the job's status file satisfies ready(status), then SIGKILLs one rank that
    is not the leader (checked to be a ringmaster process). Returns (rank, pid) or None."""
    end = time.time() + timeout
    while time.time() < end:
        stat = st.status(chain_dir, job)
        if stat and stat.get("state") == "running" and ready(stat):
            for r in stat["ranks"]:
                if r["role"] in ("voter", "worker") and st.is_ringmaster(r["pid"]):
                    os.kill(r["pid"], signal.SIGKILL)
                    print(f"killed rank {r['rank']} (pid {r['pid']}, {r['role']}) with "
                          f"{stat['tasks']['done']} tasks done", flush=True)
                    return r["rank"], r["pid"]
        time.sleep(0.1)
    t.check(False, f"job {job}: never reached the state to kill a rank in: {stat}")
    return None


with st.Slurm(budget=540) as s:
    work = s.path("work")
    os.makedirs(work)
    corpus = os.path.join(work, "corpus.txt")
    subprocess.run([os.path.join(bindir, "gen_corpus"), "--bytes", "4M", "--seed", "11",
                    "--out", corpus], check=True, timeout=60)
    counts = ref("ref_wordcount", [corpus], os.path.join(work, "ref.tsv"))
    base = {"RINGMASTER": ringmaster, "RM_ARGS": QUIET}

    # (a) wordcount by mpirun.
    out = os.path.join(work, "a.tsv")
    job, info, log = run_job(s, "a", "wordcount.sbatch",
                             dict(base, RM_INPUT=corpus, RM_OUTPUT=out, RM_SPLIT_SIZE="256K"))
    completed("(a)", info, log)
    t.check(info.get("StdOut") == os.path.join(work, f"rm-wordcount-{job}.out"),
            f"(a) the log is {info.get('StdOut')}, not %x-%j.out")
    state, code = s.sacct(job)
    t.check((state, code) == ("COMPLETED", "0:0"), f"(a) sacct -c says {state} {code}")
    same_file("(a)", out, counts)
    pins = re.findall(r"^(\d+)\s+\S+\s+\d+\s+(\S+)\s+\S+\s+(\w+)$", log, re.M)
    t.check(len(pins) == 4 and all(src == "ours" for _, _, src in pins)
            and {c for _, c, _ in pins} == {"0", "1"},
            f"(a) the log does not show 4 ranks pinned over cores 0 and 1: {pins}")
    t.check(re.search(r"^leader: rank \d+ \(pid \d+ on \S+\), term \d+", log, re.M),
            "(a) the log does not name the leader")
    t.check("by mpirun" in log and "mpirun --enable-recovery" in log,
            "(a) not launched by mpirun --enable-recovery")

    # (b) kmeans by srun --mpi=pmix.
    points = os.path.join(work, "points.h5")
    subprocess.run([os.path.join(bindir, "gen_points"), "--rows", "30000", "--seed", "4",
                    "--clusters", "5", "--out", points], check=True, timeout=60)
    km = ["--dataset", "/points", "--k", "5", "--iterations", "4", "--seed", "9",
          "--split-size", "64K"]
    want = ref("ref_kmeans", km + ["--input", points], os.path.join(work, "ref_km.tsv"))
    out = os.path.join(work, "b.tsv")
    job, info, log = run_job(s, "b", "kmeans.sbatch", dict(
        base, RM_LAUNCHER="srun", RM_INPUT=points, RM_OUTPUT=out, RM_K="5", RM_ITERATIONS="4",
        RM_SEED="9", RM_SPLIT_SIZE="64K"))
    completed("(b)", info, log)
    t.check("srun --mpi=pmix" in log, "(b) not launched by srun --mpi=pmix")
    same_file("(b)", out, want)

    # (c) the task farm.
    cmds = os.path.join(work, "commands.txt")
    with open(cmds, "w") as f:
        for i in range(12):
            f.write(f"echo line {i}; echo to-stderr >&2\n")
    out = os.path.join(work, "c.out")
    job, info, log = run_job(s, "c", "tasks.sbatch", dict(base, RM_INPUT=cmds, RM_OUTPUT=out))
    completed("(c)", info, log)
    if t.check(os.path.exists(out), "(c) no output"):
        heads = re.findall(rb"^#ringmaster-task line=(\d+) status=(\d+) .*attempts=(\d+) "
                           rb"command=(.*)\n", open(out, "rb").read(), re.M)
        t.check([int(h[0]) for h in heads] == list(range(1, 13))
                and all(h[1] == b"0" and h[2] == b"1" for h in heads),
                f"(c) the commands did not each run once, successfully: {heads}")
        body = open(out, "rb").read()
        t.check(all(f"line {i}\n".encode() in body for i in range(12)), "(c) outputs missing")

    # (d) a rank killed under mpirun: the launch survives it.
    slow = st.slow_wrapper(work, ringmaster, "0:300")
    out = os.path.join(work, "d.tsv")
    chain = os.path.join(work, "chain-d")
    job = s.sbatch(SB, os.path.join(st.JOBS, "slurm", "wordcount.sbatch"), cwd=work, env=dict(
        base, RINGMASTER=slow, RM_INPUT=corpus, RM_OUTPUT=out, RM_SPLIT_SIZE="160K",
        RM_CHAIN_DIR=chain, RM_INFO="0"))
    t0 = time.time()
    killed = kill_a_worker(chain, job, lambda stat: stat["tasks"]["done"] >= 4)
    info = s.wait(job, 120)
    log = st.job_log(work, "rm-wordcount", job)
    print(f"(d) job {job}: {info.get('JobState')} in {time.time() - t0:.1f} s", flush=True)
    completed("(d)", info, log)
    same_file("(d)", out, counts)
    if killed:
        t.check(re.search(rf"rank {killed[0]} is dead", log), "(d) no death reported")
    t.check(len(re.findall(r"^rm-job: launch \d+:", log, re.M)) == 1,
            "(d) the job was launched more than once")

    # (e) a rank killed under srun: the step dies; the script launches again, resuming.
    slow = st.slow_wrapper(work, ringmaster, "0:500")
    out = os.path.join(work, "e.tsv")
    chain = os.path.join(work, "chain-e")
    job = s.sbatch(SB, os.path.join(st.JOBS, "slurm", "wordcount.sbatch"), cwd=work, env=dict(
        base, RINGMASTER=slow, RM_LAUNCHER="srun", RM_INPUT=corpus, RM_OUTPUT=out,
        RM_SPLIT_SIZE="160K", RM_CHAIN_DIR=chain, RM_CKPT_INTERVAL="1", RM_INFO="0"))
    t0 = time.time()
    killed = kill_a_worker(chain, job, lambda stat: stat["tasks"]["done"] >= 6 and
                           os.path.exists(os.path.join(chain, "ckpt", "job.h5")))
    info = s.wait(job, 120)
    log = st.job_log(work, "rm-wordcount", job)
    print(f"(e) job {job}: {info.get('JobState')} in {time.time() - t0:.1f} s", flush=True)
    completed("(e)", info, log)
    same_file("(e)", out, counts)
    t.check("Error handler invoked" in log and re.search(r"STEP \d+\.\d+ ON \S+ CANCELLED", log),
            "(e) the log does not show Slurm's PMIx error handler cancelling the step")
    launches = re.findall(r"^rm-job: launch \d+: .*", log, re.M)
    t.check(len(launches) == 2 and "--resume" in launches[1] and "--resume" not in launches[0],
            f"(e) expected a first launch and one with --resume: {launches}")
    m = re.search(r"^resume: (\d+) tasks reused from the checkpoint, (\d+) of the (\d+) it",
                  log, re.M)
    t.check(m and int(m.group(1)) > 0 and m.group(2) == "0" and m.group(1) == m.group(3),
            f"(e) the relaunch did not reuse every checkpointed map output: "
            f"{m.group(0) if m else 'no resume line'}")
    if t.failures:
        print(log[-5000:])

t.finish("test_slurm_jobs")
