"""wordcount end to end, checked against an independent count made here in Python:
(a) 4 ranks, a file and a directory as input, no faults;
(b) 6 ranks, workers that hold map outputs are killed once the reduce stage has started:
    with --replicas 1 the outputs one held are recomputed; with the default 2 copies its
    outputs are taken over by their replicas and no map task runs again; with 2 copies and two
    workers killed at once, the outputs both held copies of are recomputed (about 240 map
    tasks: that some task has both copies on the two is all but certain); with 2 copies and the
    second worker killed 1.5 s after the first, nothing is recomputed, since the outputs the
    first held were copied again in between; the answer is right every time;
(c) 6 ranks, the leader is killed during the map stage;
(d) HDF5 output (/words, /counts), read back with h5dump;
and bad input: a missing file gives exit 2 and one line, and leaves no output behind."""
import collections
import os
import random
import re
import struct
import subprocess
import sys
import time

import rmtest as t

ringmaster = sys.argv[1]
work = t.tempfile.mkdtemp(prefix="rmwc.")
rng = random.Random(7)
vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 9)))
         for _ in range(3000)]
vocab += [w.capitalize() for w in vocab[:300]] + ["don't", "e-mail", "x86", "na\u00efve"]


def write_corpus(path, lines):
    with open(path, "w") as f:
        for _ in range(lines):
            f.write(" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 14))) + ".\n")


corpus = os.path.join(work, "corpus.txt")
write_corpus(corpus, 40000)
sub = os.path.join(work, "more")
os.makedirs(os.path.join(sub, "deeper"))
write_corpus(os.path.join(sub, "b.txt"), 3000)
write_corpus(os.path.join(sub, "deeper", "a.txt"), 3000)
open(os.path.join(sub, "empty.txt"), "w").close()

counts = collections.Counter()
for p in (corpus, os.path.join(sub, "b.txt"), os.path.join(sub, "deeper", "a.txt")):
    with open(p, "rb") as f:
        for w in re.findall(rb"[A-Za-z]+", f.read()):
            counts[w.lower()] += 1
expected = b"".join(w + b"\t" + str(n).encode() + b"\n" for w, n in sorted(counts.items()))
FAST = ["--heartbeat-ms", "100", "--suspect-ms", "400"]
STAGE = re.compile(r"stage 0 done; stage 1 starts")
LEADER = re.compile(r"elected leader: rank (\d+)")


def check_output(name, out, so):
    t.check(os.path.exists(out), f"{name}: no output")
    t.check(not os.path.exists(out + ".parts"), f"{name}: parts directory left behind")
    if os.path.exists(out):
        got = open(out, "rb").read()
        t.check(got == expected, f"{name}: output differs from the reference "
                f"({len(got)} bytes vs {len(expected)})")
    t.check(re.search(r"wordcount: \d+ words, \d+ distinct", so) is not None,
            f"{name}: no summary:\n{so}")


def wait_for(job, pattern, timeout=30.0):
    until = time.time() + timeout
    while time.time() < until:
        m = pattern.search(job.stderr())
        if m:
            return m
        time.sleep(0.02)
    return None


# (a) no faults.
out = os.path.join(work, "a.tsv")
job = t.Job(4, [ringmaster, "run", "wordcount", "--input", corpus, sub, "--output", out,
                "--split-size", "64K", "--partitions", "5"])
rc = job.wait(timeout=120)
t.check(rc is not None, "plain: the job did not end")
check_output("plain", out, job.stdout())

# (b) workers holding map outputs die after the reduce stage started (reduce tasks are slowed
# by a test-only fault so that the deaths land while they run).
KEPT = re.compile(r"(\d+) outputs kept by a replica when their holder died, (\d+) recomputed, "
                  r"(\d+) copied again")


def holders_die(name, replicas, kills, split, gap=0.0, slow=150):
    out = os.path.join(work, f"b-{name}.tsv")
    job = t.Job(6, [ringmaster, "run", "wordcount", "--input", corpus, sub, "--output", out,
                    "--split-size", split, "--partitions", "12", "--replicas", str(replicas)] +
                FAST, extra_env={"RINGMASTER_FAULT_SLOW_STAGE": f"1:{slow}"})
    ranks = job.ranks(6)
    m = wait_for(job, STAGE)
    t.check(m is not None, f"{name}: the reduce stage never started")
    lead = LEADER.search(job.stderr())
    victims = [r for r in (5, 4, 3) if not lead or r != int(lead.group(1))][:kills]
    for i, v in enumerate(victims):
        if i and gap:
            time.sleep(gap)
        if m and v in ranks:
            t.os.kill(ranks[v], t.signal.SIGKILL)
    rc = job.wait(timeout=120)
    so, se = job.stdout(), job.stderr()
    t.check(rc is not None, f"{name}: the job did not end")
    check_output(name, out, so)
    k = KEPT.search(so)
    t.check(k is not None, f"{name}: no replica summary:\n{so}")
    if t.failures:
        print(se[-5000:])
    return (int(k.group(1)), int(k.group(2)), int(k.group(3))) if k else (None, None, None)


kept, redone, _ = holders_die("one-copy", 1, 1, "64K")
t.check(redone is not None and redone > 0 and kept == 0,
        f"one copy: expected outputs recomputed and none kept, got {kept} kept, {redone} redone")
kept, redone, _ = holders_die("replicas", 2, 1, "64K")
t.check(kept is not None and kept > 0 and redone == 0,
        f"replicas: expected outputs kept and none recomputed, got {kept} kept, {redone} redone")
kept, redone, _ = holders_die("both-copies", 2, 2, "8K")
t.check(kept is not None and kept > 0 and redone > 0,
        f"both copies: expected some outputs kept and some recomputed, got {kept} kept, "
        f"{redone} redone")
kept, redone, again = holders_die("copied-again", 2, 2, "8K", gap=1.5, slow=600)
t.check(kept is not None and kept > 0 and redone == 0 and again > 0,
        f"copied again: expected outputs kept, none recomputed and copies made again, got "
        f"{kept} kept, {redone} redone, {again} copied again")

# (c) the leader dies during the map stage (map tasks slowed down).
out = os.path.join(work, "c.tsv")
job = t.Job(6, [ringmaster, "run", "wordcount", "--input", corpus, sub, "--output", out,
                "--split-size", "32K"] + FAST,
            extra_env={"RINGMASTER_FAULT_SLOW_STAGE": "0:60"})
ranks = job.ranks(6)
lead = wait_for(job, LEADER)
time.sleep(0.8)
if lead and int(lead.group(1)) in ranks:
    t.os.kill(ranks[int(lead.group(1))], t.signal.SIGKILL)
rc = job.wait(timeout=120)
so, se = job.stdout(), job.stderr()
t.check(rc is not None, "leader: the job did not end")
check_output("leader", out, so)
if t.failures:
    print(se[-5000:])

# (d) HDF5 output: /words and /counts, read back with h5dump.
out = os.path.join(work, "d.h5")
job = t.Job(3, [ringmaster, "run", "wordcount", "--input", corpus, sub, "--output", out,
                "--split-size", "128K"])
rc = job.wait(timeout=120)
t.check(rc is not None and os.path.exists(out), "hdf5: no output")
if os.path.exists(out):
    raw = os.path.join(work, "counts.bin")
    subprocess.run(["h5dump", "-d", "/counts", "-b", "LE", "-o", raw, out], check=True,
                   capture_output=True, timeout=60)
    blob = open(raw, "rb").read()
    got_counts = list(struct.unpack(f"<{len(blob) // 8}Q", blob))
    text = subprocess.run(["h5dump", "-y", "-d", "/words", out], check=True,
                          capture_output=True, timeout=60).stdout.decode()
    got_words = re.findall(r'"([A-Za-z]*)"', text.split("DATA", 1)[1])
    want = sorted(counts.items())
    t.check(got_words == [w.decode() for w, _ in want], "hdf5: /words differs")
    t.check(got_counts == [n for _, n in want], "hdf5: /counts differs")

# Bad input: exit 2, one line, nothing written.
out = os.path.join(work, "bad.tsv")
p = subprocess.run([ringmaster, "run", "wordcount", "--input", corpus, "/nonexistent/x",
                    "--output", out], capture_output=True, text=True, timeout=30)
t.check(p.returncode == 2 and "cannot read --input /nonexistent/x" in p.stderr,
        f"missing input: exit {p.returncode}, stderr {p.stderr!r}")
t.check(not os.path.exists(out) and not os.path.exists(out + ".parts"),
        "missing input: something was written")
t.finish("test_wordcount")
