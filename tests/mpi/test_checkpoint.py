"""Checkpoints and resume (issue 6), with wordcount checked against a count made here:
(a) 4 ranks with --checkpoint-dir; once the reduce stage runs (slowed by a test-only fault),
    every rank gets SIGTERM, as a batch system sends it: the job writes a last checkpoint and
    exits with status 4; the files are there and h5dump reads them;
(b) --resume with 2 ranks: the output is right, and the map tasks are reused, not run again;
(b2) resumed under the same output name: the reduce tasks that had finished are reused too;
(c) SIGUSR1 to mpirun (which forwards it to the ranks) stops a job the same way;
(d) a damaged checkpoint: one rank file with flipped bytes, one cut short, one missing: each is
    named on stderr, its tasks run again, and the output is still right (3 ranks);
(e) a damaged job file: named, every task runs again, the output is right;
(f) a checkpoint of another job (other --split-size; then a changed input file) is refused
    with exit 2 and one line; --resume without a checkpoint, too;
(g) the task farm stopped mid-way and resumed: finished commands are not run again."""
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import rmtest as t

ringmaster = sys.argv[1]
gen = os.path.join(os.path.dirname(os.path.abspath(ringmaster)), "gen_corpus")
work = t.tempfile.mkdtemp(prefix="rmck.")
corpus = os.path.join(work, "corpus.txt")
subprocess.run([gen, "--bytes", "24M", "--seed", "5", "--out", corpus], check=True, timeout=60)
counts = collections.Counter()
with open(corpus, "rb") as f:
    for w in re.findall(rb"[A-Za-z]+", f.read()):
        counts[w.lower()] += 1
expected = b"".join(w + b"\t" + str(n).encode() + b"\n" for w, n in sorted(counts.items()))
ck = os.path.join(work, "ck")
os.makedirs(ck)
BASE = ["run", "wordcount", "--input", corpus, "--split-size", "512K", "--partitions", "8"]
SLOW = {"RINGMASTER_FAULT_SLOW_STAGE": "1:1500"}
REUSED = re.compile(r"resume: (\d+) tasks reused from the checkpoint, (\d+) of the (\d+)")


def check_output(name, out):
    t.check(os.path.exists(out), f"{name}: no output")
    if os.path.exists(out):
        t.check(open(out, "rb").read() == expected, f"{name}: the output differs")


def stop_mid_job(name, ckdir, how, delay=0.5, out=None):
    """Runs 4 ranks until the reduce stage has run `delay` seconds, stops them with `how`;
    returns the job's stderr."""
    out = out or os.path.join(work, f"{name}.tsv")
    job = t.Job(4, [ringmaster] + BASE + ["--output", out, "--checkpoint-dir", ckdir],
                recovery=False, extra_env=SLOW)
    ranks = job.ranks(4)
    until = time.time() + 30
    while time.time() < until and "stage 0 done" not in job.stderr():
        time.sleep(0.02)
    time.sleep(delay)
    if how == "term":
        for pid in ranks.values():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    else:
        os.kill(job.proc.pid, signal.SIGUSR1)
    rc = job.wait(timeout=120)
    err = job.stderr()
    t.check(rc == 4, f"{name}: exit status {rc}, expected 4 (stopped after a checkpoint)")
    t.check("stopped after a last checkpoint" in err, f"{name}: no stop message")
    t.check(not os.path.exists(out), f"{name}: an output was written by a stopped job")
    if t.failures:
        print(err[-3000:])
    return err


def resume(name, ckdir, np_, extra=()):
    out = os.path.join(work, f"{name}.tsv")
    job = t.Job(np_, [ringmaster] + BASE + ["--output", out, "--checkpoint-dir", ckdir,
                                            "--resume"] + list(extra))
    rc = job.wait(timeout=120)
    t.check(rc is not None, f"{name}: the job did not end")
    check_output(name, out)
    m = REUSED.search(job.stdout())
    t.check(m is not None, f"{name}: no resume summary:\n{job.stdout()}")
    if t.failures:
        print(job.stderr()[-3000:])
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0), job.stderr()


# (a) SIGTERM to every rank mid-way; (b) resume with 2 ranks.
stop_mid_job("term", ck, "term")
files = sorted(os.listdir(ck))
t.check("job.h5" in files and len([f for f in files if f.startswith("rank-")]) == 4,
        f"(a) checkpoint files: {files}")
dump = subprocess.run(["h5dump", "-H", os.path.join(ck, "rank-00001.h5")], capture_output=True,
                      text=True, timeout=60)
t.check(dump.returncode == 0 and all(f'DATASET "{n}"' in dump.stdout
                                     for n in ("index", "sizes", "data")),
        f"(a) h5dump of a rank file:\n{dump.stdout[:500]}{dump.stderr[:500]}")
(reused, again), _ = resume("resumed", ck, 2)
t.check(reused >= 48, f"(b) only {reused} tasks reused: the 48 map tasks (24 MB in 512K splits) "
        "should all be")

# (c) SIGUSR1 to mpirun; resumed on a single rank.
ck_usr = os.path.join(work, "ck-usr1")
os.makedirs(ck_usr)
stop_mid_job("usr1", ck_usr, "usr1")
(reused, again), _ = resume("one-rank", ck_usr, 1)
t.check(reused >= 48, f"(c) one rank: only {reused} tasks reused")

# (c2) --checkpoint-interval: checkpoints during a long map stage too.
out = os.path.join(work, "interval.tsv")
ck_int = os.path.join(work, "ck-interval")
os.makedirs(ck_int)
job = t.Job(3, [ringmaster] + BASE + ["--output", out, "--checkpoint-dir", ck_int,
                                      "--checkpoint-interval", "1"],
            extra_env={"RINGMASTER_FAULT_SLOW_STAGE": "0:150"})
rc = job.wait(timeout=120)
check_output("interval", out)
rounds = re.findall(r"checkpoint (\d+) written", job.stderr())
t.check(len(rounds) >= 3, f"(c2) {len(rounds)} checkpoints written, expected one a second in a "
        "map stage of about 3.6 s, and one at its end")

# (d) damaged rank files.
bad = os.path.join(work, "ck-bad")
shutil.copytree(ck, bad)
with open(os.path.join(bad, "rank-00001.h5"), "r+b") as f:
    size = os.path.getsize(f.name)
    for off in (size // 3, size // 2):
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0xFF]))
with open(os.path.join(bad, "rank-00002.h5"), "r+b") as f:
    f.truncate(os.path.getsize(f.name) // 2)
os.unlink(os.path.join(bad, "rank-00003.h5"))
(reused, again), err = resume("damaged", bad, 3)
for what in ("rank-00002.h5 is damaged", "rank-00003.h5 is missing", "rank-00001.h5"):
    t.check(what in err, f"(d) stderr does not name {what}:\n{err[-2000:]}")
t.check(reused > 0 and again > 0, f"(d) expected some reused, some run again: {reused}, {again}")

# (e) a damaged job file.
badjob = os.path.join(work, "ck-badjob")
shutil.copytree(ck, badjob)
with open(os.path.join(badjob, "job.h5"), "r+b") as f:
    f.truncate(os.path.getsize(f.name) - 100)
(reused, again), err = resume("badjob", badjob, 2)
t.check("job.h5 is damaged" in err and reused == 0, f"(e) reused {reused}:\n{err[-2000:]}")

# (b2) resumed under the stopped job's own output name: the reduce tasks done before the stop
# left whole part files, which are reused too. Stopped once 2 of the 8 slowed reduce tasks
# have had time to finish.
ck_same = os.path.join(work, "ck-same")
os.makedirs(ck_same)
out_same = os.path.join(work, "same.tsv")
stop_mid_job("same", ck_same, "term", delay=2.2, out=out_same)
parts = [n for n in os.listdir(out_same + ".parts") if n.isdigit()]
job = t.Job(2, [ringmaster] + BASE + ["--output", out_same, "--checkpoint-dir", ck_same,
                                      "--resume"])
t.check(job.wait(timeout=120) is not None, "(b2) the resumed job did not end")
check_output("same-output", out_same)
m = REUSED.search(job.stdout())
t.check(m is not None and len(parts) >= 2 and int(m.group(1)) >= 48 + len(parts) - 3,
        f"(b2) {m.group(0) if m else job.stdout()}: {len(parts)} reduce parts were whole")
t.check(not os.path.exists(out_same + ".parts"), "(b2) the parts folder stayed")

# (g) the task farm, stopped and resumed: the commands that the last checkpoint had done are
# reused (their part files are whole), not run again.
cmds, runs = os.path.join(work, "cmds.txt"), os.path.join(work, "runs.log")
with open(cmds, "w") as f:
    for i in range(24):
        f.write(f"echo {i} >> {runs}; sleep 0.3; echo out {i}\n")
out_tasks, ck_tasks = os.path.join(work, "tasks.out"), os.path.join(work, "ck-tasks")
os.makedirs(ck_tasks)
TASKS = [ringmaster, "run", "tasks", "--input", cmds, "--output", out_tasks,
         "--checkpoint-dir", ck_tasks]
job = t.Job(4, TASKS, recovery=False)
ranks = job.ranks(4)
until = time.time() + 30
while time.time() < until and (not os.path.exists(runs) or len(open(runs).read().split()) < 9):
    time.sleep(0.05)
for pid in ranks.values():
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
t.check(job.wait(timeout=60) == 4, "(g) the task farm did not stop with status 4")
before = len(open(runs).read().split())
job = t.Job(3, TASKS + ["--resume"])
t.check(job.wait(timeout=60) is not None, "(g) the resumed task farm did not end")
m = REUSED.search(job.stdout())
ran = collections.Counter(open(runs).read().split())
twice = [c for c, n in ran.items() if n > 1]
t.check(sorted(ran, key=int) == [str(i) for i in range(24)], f"(g) commands run: {ran}")
# every command the checkpoint had done is reused, none of them runs again; only those that
# were running at the stop, or started after this rank's last checkpoint file, run twice
t.check(m is not None and int(m.group(1)) > 0 and int(m.group(2)) == 0 and
        int(m.group(1)) == int(m.group(3)) and len(twice) <= before - int(m.group(1)),
        f"(g) {m.group(0) if m else job.stdout()}; {before} had started before the stop; run "
        f"twice: {twice}")
if os.path.exists(out_tasks):
    body = open(out_tasks).read()
    t.check(all(f"out {i}\n" in body for i in range(24)), "(g) the output misses a command")
else:
    t.check(False, "(g) no output")

# (f) another job, a changed input, no checkpoint.
for name, args, ckdir, expect in (
        ("other", ["--split-size", "1M"], ck, "the checkpoint is of another job"),
        ("none", [], os.path.join(work), "no checkpoint in")):
    p = subprocess.run([ringmaster] + BASE + args + ["--output", os.path.join(work, "x.tsv"),
                       "--checkpoint-dir", ckdir, "--resume"], capture_output=True, text=True,
                       timeout=60, env=t.env())
    t.check(p.returncode == 2 and expect in p.stderr and len(p.stderr.strip().splitlines()) == 1,
            f"(f) {name}: exit {p.returncode}, {p.stderr!r}")
with open(corpus, "ab") as f:
    f.write(b"one more line\n")
p = subprocess.run([ringmaster] + BASE + ["--output", os.path.join(work, "x.tsv"),
                   "--checkpoint-dir", ck, "--resume"], capture_output=True, text=True,
                   timeout=60, env=t.env())
t.check(p.returncode == 2 and "another job" in p.stderr,
        f"(f) changed input: exit {p.returncode}, {p.stderr!r}")
t.finish("test_checkpoint")
