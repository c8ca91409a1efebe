"""Bad options and unknown kernels give exit status 2 and one clear line, not one per rank:
run alone, under mpirun, and under mpirun --enable-recovery (whose own exit status is always 0
in Open MPI 4.1, so each rank's status is read through a wrapper)."""
import os
import subprocess
import sys

import rmtest as t

ringmaster = sys.argv[1]
CASES = [
    (["run", "wordcountx"], "unknown kernel 'wordcountx'"),
    (["run", "noop", "--tasks", "many"], "option --tasks: 'many' is not a whole number"),
    (["run", "noop", "--frobnicate"], "unknown option '--frobnicate'"),
    (["run", "noop", "--bind", "socket"], "option --bind takes 'core' or 'none'"),
    (["run"], "'run' needs a kernel name"),
    (["launch"], "unknown command 'launch'"),
    (["info", "--tasks", "3"], "unknown option '--tasks' for info"),
    (["run", "tasks", "--output", "/tmp/rm-out"], "tasks needs exactly one --input FILE"),
    (["run", "tasks", "--input", "/nonexistent/cmds", "--output", "/tmp/rm-out"],
     "cannot read --input /nonexistent/cmds: No such file or directory"),
    (["run", "tasks", "--input", "/etc/hostname"], "tasks needs --output FILE"),
    (["run", "tasks", "--input", "/etc/hostname", "--output", "/nonexistent/dir/out"],
     "--output /nonexistent/dir/out: directory /nonexistent/dir is missing or not writable"),
    (["run", "tasks", "--input", "/etc/hostname", "--output", "/tmp"],
     "--output /tmp is a directory"),
    (["run", "noop", "--max-attempts", "0"], "option --max-attempts: '0' is not a whole number"),
]


def errors(text):
    return [l for l in text.splitlines() if l.startswith("ringmaster: error:")]


for args, expect in CASES:
    p = subprocess.run([ringmaster] + args, capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    t.check(p.returncode == 2, f"{args}: alone: exit {p.returncode}, expected 2")
    t.check(len(errors(p.stderr)) == 1 and expect in p.stderr,
            f"{args}: alone: expected one line with {expect!r}, got {p.stderr!r}")

# Under mpirun: the first three, and a missing input (checked on every rank, reported once).
for args, expect in CASES[:3] + CASES[8:9]:
    job = t.Job(4, [ringmaster] + args, recovery=False)
    rc = job.wait(timeout=60)
    t.check(rc == 2, f"{args}: mpirun: exit {rc}, expected 2")
    errs = errors(job.stderr())
    t.check(len(errs) == 1 and expect in errs[0], f"{args}: mpirun: stderr lines {errs}")

    job = t.Job(4, [ringmaster] + args, recovery=True)
    job.wait(timeout=60)
    errs = errors(job.stderr())
    t.check(len(errs) == 1, f"{args}: mpirun --enable-recovery: stderr lines {errs}")

# One rank per status file: every rank of a recovery-mode launch exits 2.
rcdir = t.tempfile.mkdtemp(prefix="rmrc.")
wrap = '"$@"; echo $? > "$RC_DIR/$OMPI_COMM_WORLD_RANK"'
job = t.Job(4, ["sh", "-c", wrap, "sh", ringmaster, "run", "nosuchkernel"],
            extra_env={"RC_DIR": rcdir})
job.wait(timeout=60)
codes = sorted(open(os.path.join(rcdir, f)).read().strip() for f in os.listdir(rcdir))
t.check(codes == ["2", "2", "2", "2"], f"per-rank exit codes under --enable-recovery: {codes}")
t.finish("test_bad_usage")
