"""A job that overruns its time limit, under a real Slurm (slurmtest.py): wordcount.sbatch with a
1-minute limit (Slurm's minimum) and map tasks slowed by a test-only fault to 6 s each, about
80 s of work for 3 workers. `--signal=B:USR1@40` warns the batch shell when 40 s are left
(Slurm checks every 30 s, so 20-50 s into the job); the script forwards the signal to the
ranks, which write a last checkpoint and stop, and the job ends before its limit with status 4
(not TIMEOUT). It has submitted its continuation (sbatch --dependency=afterany:JOB, RM_RESUME
=1), which starts once it ended, runs with --resume, reuses every map output the checkpoint
holds without running any again, and writes counts identical to a run without faults (an
mpirun outside Slurm) and to ref_wordcount's."""
import os
import re
import subprocess
import sys
import time

import slurmtest as st

t = st.rmtest
ringmaster = os.path.abspath(sys.argv[1])
bindir = os.path.dirname(ringmaster)
LIMIT = ["-N1", "-n4", "--overcommit", "--time=1", "--signal=B:USR1@40"]

with st.Slurm(budget=540) as s:
    work = s.path("work")
    os.makedirs(work)
    corpus = os.path.join(work, "corpus.txt")
    subprocess.run([os.path.join(bindir, "gen_corpus"), "--bytes", "4M", "--seed", "12",
                    "--out", corpus], check=True, timeout=60)
    args = ["run", "wordcount", "--input", corpus, "--split-size", "112K", "--partitions", "16"]

    # The same job without faults, outside Slurm, for comparison.
    plain = os.path.join(work, "plain.tsv")
    job = t.Job(4, [ringmaster] + args + ["--output", plain])
    t.check(job.wait(timeout=120) is not None and os.path.exists(plain),
            f"the run without faults failed:\n{job.stderr()[-2000:]}")
    want = open(plain, "rb").read() if os.path.exists(plain) else b""
    ref = subprocess.run([os.path.join(bindir, "ref_wordcount"), corpus], capture_output=True,
                         timeout=120, check=True).stdout
    t.check(want == ref, "the run without faults differs from ref_wordcount")

    out = os.path.join(work, "counts.tsv")
    chain = os.path.join(work, "chain")
    env = {"RINGMASTER": st.slow_wrapper(work, ringmaster, "0:6000"), "RM_INPUT": corpus,
           "RM_OUTPUT": out, "RM_SPLIT_SIZE": "112K", "RM_PARTITIONS": "16",
           "RM_CHAIN_DIR": chain, "RM_ARGS": "--suspect-ms 2000",
           "RM_SUBMIT_ARGS": " ".join(LIMIT)}
    t0 = time.time()
    first = s.sbatch(LIMIT, os.path.join(st.JOBS, "slurm", "wordcount.sbatch"), env=env,
                     cwd=work)
    info = s.wait(first, 150)
    log = st.job_log(work, "rm-wordcount", first)
    print(f"first job {first}: {info.get('JobState')} exit {info.get('ExitCode')} after "
          f"{info.get('RunTime')} (limit {info.get('TimeLimit')}); {time.time() - t0:.1f} s",
          flush=True)
    t.check(info.get("JobState") == "FAILED" and info.get("ExitCode") == "4:0",
            f"first job: {info.get('JobState')} {info.get('ExitCode')}, expected to stop with "
            "status 4 before its limit")
    t.check(s.sacct(first) == ("FAILED", "4:0"), f"first job: sacct -c says {s.sacct(first)}")
    run = info.get("RunTime", "99:99:99").split(":")
    t.check(len(run) == 3 and int(run[1]) == 0, f"first job ran {info.get('RunTime')}")
    t.check("rm-job: SIGUSR1 received" in log, "first job: no SIGUSR1 reached the batch shell")
    t.check("stopped after a last checkpoint" in log, "first job: the ranks did not stop")
    t.check(not os.path.exists(out), "first job: an output was written by a stopped job")
    t.check(os.path.exists(os.path.join(chain, "ckpt", "job.h5")), "first job: no checkpoint")
    m = re.search(r"rm-job: continuation 1 of \S+: Submitted batch job (\d+)", log)
    t.check(m is not None, "first job: no continuation submitted")
    if t.failures:
        print(log[-5000:])
    if m:
        second = int(m.group(1))
        info2 = s.wait(second, 150)
        log2 = st.job_log(work, "rm-wordcount", second)
        print(f"continuation {second}: {info2.get('JobState')} exit {info2.get('ExitCode')} "
              f"after {info2.get('RunTime')}; {time.time() - t0:.1f} s in all", flush=True)
        t.check(info2.get("JobState") == "COMPLETED" and info2.get("ExitCode") == "0:0",
                f"continuation: {info2.get('JobState')} {info2.get('ExitCode')}")
        t.check(info2.get("StartTime", "") >= info.get("EndTime", "~"),
                f"continuation started {info2.get('StartTime')}, before the first job ended "
                f"{info.get('EndTime')}")
        t.check(info2.get("TimeLimit") == "00:01:00", "continuation: RM_SUBMIT_ARGS not applied")
        launch = re.findall(r"^rm-job: launch \d+: .*", log2, re.M)
        t.check(len(launch) == 1 and "--resume" in launch[0],
                f"continuation: expected one launch with --resume: {launch}")
        r = re.search(r"^resume: (\d+) tasks reused from the checkpoint, (\d+) of the (\d+) it",
                      log2, re.M)
        t.check(r and int(r.group(1)) >= 3 and r.group(2) == "0" and r.group(1) == r.group(3),
                f"continuation: map outputs redone or not reused: "
                f"{r.group(0) if r else 'no resume line'}")
        if r:
            print(f"continuation reused {r.group(1)} map outputs", flush=True)
        ok = t.check(os.path.exists(out), "continuation: no output")
        if ok:
            t.check(open(out, "rb").read() == want, "the counts differ from the run without "
                    "faults")
        if t.failures:
            print(log2[-5000:])

t.finish("test_slurm_timelimit")
