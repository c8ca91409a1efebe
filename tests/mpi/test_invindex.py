"""invindex against an index built here in Python: 5 ranks, files given directly and through a
directory, a worker killed during the reduce stage."""
import collections
import os
import random
import re
import sys

import rmtest as t

ringmaster = sys.argv[1]
work = t.tempfile.mkdtemp(prefix="rmii.")
rng = random.Random(5)
vocab = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(1, 6))) for _ in range(800)]
paths = [os.path.join(work, "a.txt"), os.path.join(work, "docs", "b.txt"),
         os.path.join(work, "docs", "c", "d.txt")]
os.makedirs(os.path.join(work, "docs", "c"))
index = collections.defaultdict(collections.Counter)
for p in paths:
    with open(p, "w") as f:
        for _ in range(8000):
            f.write(" ".join(rng.choice(vocab).capitalize() if rng.random() < 0.1 else
                             rng.choice(vocab) for _ in range(rng.randint(0, 9))) + ",\n")
    for w in re.findall(rb"[A-Za-z]+", open(p, "rb").read()):
        index[w.lower()][p.encode()] += 1
expected = b"".join(w + b"\t" + b"\t".join(f + b"\t" + str(c).encode()
                                            for f, c in sorted(d.items())) + b"\n"
                    for w, d in sorted(index.items()))

out = os.path.join(work, "index.tsv")
job = t.Job(5, [ringmaster, "run", "invindex", "--input", paths[0], os.path.join(work, "docs"),
                "--output", out, "--split-size", "32K", "--partitions", "6",
                "--heartbeat-ms", "100", "--suspect-ms", "400"],
            extra_env={"RINGMASTER_FAULT_SLOW_STAGE": "1:400"})
ranks = job.ranks(5)
victim = t.kill_worker_at_stage(job, ranks, 1)
rc = job.wait(timeout=120)
t.check(rc is not None, "the job did not end")
got = open(out, "rb").read() if os.path.exists(out) else b""
t.check(got == expected, f"index differs from the reference ({len(got)} vs {len(expected)} bytes)")
t.check(f"rank {victim} is dead" in job.stderr(), "the death was not committed")
if t.failures:
    print(job.stderr()[-4000:])
t.finish("test_invindex")
