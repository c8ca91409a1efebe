"""grep against GNU grep -nE as the reference: 5 ranks, several files (one in a directory, one
without a final newline), small splits so that line numbers must be carried across splits, and
a worker killed mid-job; then bad patterns and missing inputs give exit 2 and one line."""
import os
import random
import subprocess
import sys
import time

import rmtest as t

ringmaster = sys.argv[1]
work = t.tempfile.mkdtemp(prefix="rmgrep.")
rng = random.Random(11)
words = ["alpha", "beta", "gamma", "delta", "error", "warn", "ok", "fox", "The", "x1"]
files = [os.path.join(work, "one.log"), os.path.join(work, "dir", "two.log"),
         os.path.join(work, "dir", "three.log")]
os.makedirs(os.path.join(work, "dir"))
for i, path in enumerate(files):
    with open(path, "w") as f:
        for n in range(6000 + 1000 * i):
            f.write(" ".join(rng.choice(words) for _ in range(rng.randint(0, 8))))
            if not (i == 2 and n == 6000 + 1000 * i - 1):  # the last file ends without \n
                f.write("\n")
PATTERN = r"error [a-z]+|^The (fox|ok)|x1$"
# Inputs in command-line order; a directory's files in sorted path order.
order = [files[0], files[2], files[1]]
ref = b""
for path in order:
    p = subprocess.run(["grep", "-nE", PATTERN, path], capture_output=True, timeout=30)
    ref += b"".join(path.encode() + b":" + line + b"\n" for line in p.stdout.splitlines())

out = os.path.join(work, "matches.txt")
job = t.Job(5, [ringmaster, "run", "grep", "--pattern", PATTERN, "--input", files[0],
                os.path.join(work, "dir"), "--output", out, "--split-size", "8K",
                "--heartbeat-ms", "100", "--suspect-ms", "400"],
            extra_env={"RINGMASTER_FAULT_SLOW_STAGE": "0:120"})
ranks = job.ranks(5)
time.sleep(1.2)
try:
    t.os.kill(ranks[4], t.signal.SIGKILL)
except (KeyError, ProcessLookupError):
    t.check(False, "rank 4 was gone before it could be killed")
rc = job.wait(timeout=120)
so, se = job.stdout(), job.stderr()
t.check(rc is not None, "the job did not end on its own")
t.check("rank 4 is dead" in se, "the death of rank 4 was not committed")
got = open(out, "rb").read() if os.path.exists(out) else b""
t.check(got == ref, f"output differs from grep -nE: {len(got)} bytes vs {len(ref)}")
t.check(ref.count(b"\n") > 100, "the reference has too few matches to mean anything")
t.check(not os.path.exists(out + ".parts"), "parts directory left behind")
if t.failures:
    print(se[-4000:])

for args, expect in (
        (["--pattern", "(", "--input", files[0]], "--pattern '(': "),
        (["--input", files[0]], "grep needs --pattern ERE"),
        (["--pattern", "x", "--input", os.path.join(work, "nope")],
         f"cannot read --input {work}/nope: No such file or directory")):
    bad = os.path.join(work, "bad.txt")
    p = subprocess.run([ringmaster, "run", "grep"] + args + ["--output", bad],
                       capture_output=True, text=True, timeout=30)
    t.check(p.returncode == 2 and expect in p.stderr and p.stderr.count("\n") == 1,
            f"{args}: exit {p.returncode}, stderr {p.stderr!r}")
    t.check(not os.path.exists(bad) and not os.path.exists(bad + ".parts"),
            f"{args}: something was written")
t.finish("test_grep")
