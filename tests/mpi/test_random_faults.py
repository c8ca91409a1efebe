"""Random faults at random moments. Each trial runs 6 ranks (3 voters) and, from a seed,
runs noop (even seeds) or wordcount with replicated map outputs (odd seeds: its output must
match a count made here), and
picks one or two victims (any rank, the leader included), how to hit each (SIGKILL, or SIGSTOP
then SIGCONT after 3x the suspicion timeout) and when (0.3-2.5 s in). Every trial must end on
its own, and either finish with every task done exactly once, or fail clearly: with the
"majority ... lost" error only when two Raft voters were lost, or with the start-up error only
when a rank was killed within the first second (MPI start-up is collective). A failing trial prints the command
that replays it.

Usage: test_random_faults.py RINGMASTER [--trials N] [--seed S]"""
import argparse
import collections
import os
import random
import re
import subprocess
import time

import rmtest as t

ap = argparse.ArgumentParser()
ap.add_argument("ringmaster")
ap.add_argument("--trials", type=int, default=4)
ap.add_argument("--seed", type=int, default=None)
a = ap.parse_args()
TASKS = 600
ELECTED = re.compile(r"elected leader: rank (\d+) \(pid \d+\), term (\d+)")


def wordcount_input():
    """A 4 MB corpus (made once) and its expected wordcount output."""
    if not hasattr(wordcount_input, "cached"):
        work = t.tempfile.mkdtemp(prefix="rmrf.")
        corpus = os.path.join(work, "corpus.txt")
        gen = os.path.join(os.path.dirname(os.path.abspath(a.ringmaster)), "gen_corpus")
        subprocess.run([gen, "--bytes", "4M", "--seed", "9", "--out", corpus], check=True,
                       timeout=60)
        counts = collections.Counter(w.lower() for w in
                                     re.findall(rb"[A-Za-z]+", open(corpus, "rb").read()))
        expected = b"".join(w + b"\t" + str(n).encode() + b"\n" for w, n in sorted(counts.items()))
        wordcount_input.cached = (work, corpus, expected)
    return wordcount_input.cached


def plan(seed):
    rng = random.Random(seed)
    n = rng.choice([1, 1, 2])
    victims = rng.sample(range(6), n)
    return [(v, rng.choice(["kill", "kill", "stop"]), rng.uniform(0.3, 2.5)) for v in victims]


def leader_now(err):
    found = [int(m.group(1)) for _, _, _, msg in t.log_lines(err) for m in [ELECTED.search(msg)]
             if m]
    return found[-1] if found else 0


def trial(seed):
    steps = sorted(plan(seed), key=lambda s: s[2])
    common = ["--voters", "3", "--startup-timeout", "15"]
    if seed % 2:  # wordcount: 64 map tasks slowed to 120 ms, 6 reduce tasks to 300 ms
        work, corpus, expected = wordcount_input()
        wc_out = os.path.join(work, f"out-{seed}.tsv")
        job = t.Job(6, [a.ringmaster, "run", "wordcount", "--input", corpus, "--output", wc_out,
                        "--split-size", "64K", "--partitions", "6"] + common,
                    extra_env={"RINGMASTER_FAULT_SLOW_STAGE": "0:120"})
    else:
        job = t.Job(6, [a.ringmaster, "run", "noop", "--tasks", str(TASKS), "--task-ms", "25",
                        "--batch-size", "2"] + common)
    ranks = job.ranks(6)
    start, hit = time.time(), []
    for victim, how, at in steps:
        time.sleep(max(0.0, start + at - time.time()))
        if victim == 0 and len(steps) == 1:
            victim = leader_now(job.stderr())  # make sure leaders get hit too
        pid = ranks.get(victim)
        if pid is None or job.proc.poll() is not None:
            continue
        try:
            t.os.kill(pid, t.signal.SIGKILL if how == "kill" else t.signal.SIGSTOP)
            hit.append((victim, how, round(at, 2)))
            if how == "stop":
                time.sleep(1.2)
                t.os.kill(pid, t.signal.SIGCONT)
        except ProcessLookupError:
            pass
    rc = job.wait(timeout=120)
    out, err = job.stdout(), job.stderr()
    voters_hit = len([v for v, _, _ in hit if v < 3])
    if seed % 2:
        finished = "wordcount: " in out and os.path.exists(wc_out)
        if finished:
            t.check(open(wc_out, "rb").read() == expected,
                    f"wordcount output differs from the reference: seed {seed} (faults {hit})")
    else:
        finished = f"noop: {TASKS} tasks done" in out
    majority_lost = "a majority of the Raft group is lost" in err
    # MPI start-up is collective: a rank killed during it cannot be survived, only reported.
    startup_failed = "MPI start-up did not finish" in err and hit and min(h[2] for h in hit) < 1.0
    where = f"seed {seed} (faults {hit}); replay: python3 {__file__} {a.ringmaster} --seed {seed} --trials 1"
    if not t.check(rc is not None, f"job did not end on its own: {where}"):
        print(f"ranks still running at the time limit: {getattr(job, 'stacks_at_timeout', {})}")
        print(f"stdout:\n{out}\nstderr (end):\n{err[-6000:]}", flush=True)
        return
    if not finished and startup_failed:
        print(f"seed {seed}: faults {hit} -> killed during MPI start-up, failed clearly", flush=True)
        return
    if not finished:
        t.check(majority_lost and voters_hit >= 2,
                f"job failed without losing a Raft majority: {where}\n{out}\n{err[-3000:]}")
    terms = {}
    for _, _, _, msg in t.log_lines(err):
        m = ELECTED.search(msg)
        if m:
            t.check(terms.setdefault(int(m.group(2)), int(m.group(1))) == int(m.group(1)),
                    f"two leaders in term {m.group(2)}: {where}")
    print(f"seed {seed}: faults {hit} -> {'done' if finished else 'majority lost'}", flush=True)


# Seeds that once failed, replayed on every default run. 5022: two of three voters killed
# 90 ms apart; the surviving voter stepped down and nobody ended the job. 7006: the leader
# killed 0.31 s in, sometimes inside MPI start-up, where the others waited forever.
REGRESSIONS = [5022, 7006]
base = a.seed if a.seed is not None else 1  # make soak passes random seeds
for seed in (REGRESSIONS if a.seed is None else []) + [base + i for i in range(a.trials)]:
    trial(seed)
t.finish("test_random_faults")
