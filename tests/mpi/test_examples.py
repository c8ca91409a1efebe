"""The example programs of examples/, built against ringmaster.h only, run under mpirun:
wordcount (checked against the ref_wordcount tool) and loglevels (checked against a Python
computation of the same report), the latter with a worker killed during the reduce stage.
Bad usage of a user job gives exit 2 and one line."""
import collections
import os
import random
import re
import subprocess
import sys
import time

import rmtest as t

ringmaster = sys.argv[1]
build = os.path.dirname(os.path.dirname(os.path.abspath(ringmaster)))
examples = os.path.join(build, "examples")
work = t.tempfile.mkdtemp(prefix="rmex.")

# wordcount: a generated corpus, the reference tool's answer.
corpus = os.path.join(work, "corpus.txt")
subprocess.run([os.path.join(build, "bin", "gen_corpus"), "--bytes", "3M", "--seed", "5",
                "--out", corpus], check=True, timeout=60)
ref = subprocess.run([os.path.join(build, "bin", "ref_wordcount"), corpus], check=True,
                     capture_output=True, timeout=60).stdout
out = os.path.join(work, "wc.tsv")
job = t.Job(4, [os.path.join(examples, "wordcount"), "--input", corpus, "--output", out,
                "--split-size", "256K", "--partitions", "6"])
rc = job.wait(timeout=120)
t.check(rc is not None, "wordcount example: did not end")
got = open(out, "rb").read() if os.path.exists(out) else b""
t.check(got == ref, f"wordcount example: output differs from ref_wordcount ({len(got)} vs "
        f"{len(ref)} bytes)")

# loglevels: generated logs, with some junk lines, in a directory.
rng = random.Random(3)
logs = os.path.join(work, "logs")
os.makedirs(logs)
agg = collections.defaultdict(lambda: [0, 0, 0, 0])
levels = collections.Counter()
for n in range(4):
    with open(os.path.join(logs, f"server{n}.log"), "w") as f:
        for i in range(20000):
            if rng.random() < 0.02:
                f.write("garbage\n")
                continue
            level = rng.choice(["INFO", "INFO", "INFO", "WARN", "ERROR", "DEBUG"])
            levels[level] += 1
            if rng.random() < 0.1:
                f.write(f"2026-11-26T10:{i % 60:02d}:00Z {level} starting up\n")
                continue
            svc = rng.choice(["api", "auth", "search", "billing"])
            status = rng.choice([200, 200, 200, 404, 500, 503])
            lat = rng.randint(1, 900)
            fields = [f"service={svc}", f"status={status}", f"latency_ms={lat}", "path=/v1/x"]
            rng.shuffle(fields)
            f.write(f"2026-11-26T10:{i % 60:02d}:00Z {level} {' '.join(fields)}\n")
            a = agg[svc]
            a[0] += 1
            a[1] += status >= 500
            a[2] += lat
            a[3] = max(a[3], lat)
lines = [f"level:{lv}\t{c}" for lv, c in levels.items()]
lines += [f"service:{s}\t{a[0]} {a[1]} {a[2] / a[0]:.1f} {a[3]}" for s, a in agg.items()]
expected = "".join(sorted(l + "\n" for l in lines)).encode()

out = os.path.join(work, "report.tsv")
job = t.Job(5, [os.path.join(examples, "loglevels"), "--input", logs, "--output", out,
                "--split-size", "64K", "--partitions", "4", "--heartbeat-ms", "100",
                "--suspect-ms", "400"],
            extra_env={"RINGMASTER_FAULT_SLOW_STAGE": "1:500"})
ranks = job.ranks(5)
until = time.time() + 30
while time.time() < until and not re.search(r"stage 0 done; stage 1 starts", job.stderr()):
    time.sleep(0.02)
lead = re.search(r"elected leader: rank (\d+)", job.stderr())
victim = 4 if not lead or lead.group(1) != "4" else 3
try:
    t.os.kill(ranks[victim], t.signal.SIGKILL)
except (KeyError, ProcessLookupError):
    t.check(False, f"loglevels: rank {victim} was gone before it could be killed")
rc = job.wait(timeout=120)
so, se = job.stdout(), job.stderr()
t.check(rc is not None, "loglevels: did not end")
got = open(out, "rb").read() if os.path.exists(out) else b""
t.check(got == expected, f"loglevels: report differs:\n{got.decode()}\nexpected:\n"
        f"{expected.decode()}")
t.check(re.search(r"loglevels: \d+ output lines", so) is not None, f"loglevels: no summary:\n{so}")
if t.failures:
    print(se[-4000:])

# Bad usage: one line, exit 2.
p = subprocess.run([os.path.join(examples, "loglevels"), "--input", logs],
                   capture_output=True, text=True, timeout=30)
t.check(p.returncode == 2 and "needs --output FILE" in p.stderr and
        p.stderr.count("\n") == 1, f"missing --output: exit {p.returncode}, {p.stderr!r}")
p = subprocess.run([os.path.join(examples, "loglevels"), "--help"], capture_output=True,
                   text=True, timeout=30)
t.check(p.returncode == 0 and "--split-size" in p.stdout, f"--help: {p.returncode} {p.stdout!r}")
t.finish("test_examples")
