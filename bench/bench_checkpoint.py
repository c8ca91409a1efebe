"""The cost of HDF5 checkpoints (issue 6): `ringmaster run wordcount` on the generated 1 GiB
corpus with 3 ranks, without and with --checkpoint-dir (one checkpoint at the end of the map
stage: every rank writes the map outputs it holds, replicas included), alternating in rotated
order; and the checkpoint's write throughput (the bytes each rank wrote over the time it took,
from the job's own log lines, summed over the ranks writing at once) against `dd` writing the
same number of bytes to the same folder with conv=fsync, in the same run. Prints one JSON
object; the overhead target is at most 1.05.

Usage: bench_checkpoint.py BUILD_DIR [--mb N] [--reps R] [--timeout S]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

from bench_wordcount import JOB_TIME, corpus_of, run, summary

TARGET = 1.05
WROTE = re.compile(r"rank (\d+)\] info: checkpoint \d+: \d+ outputs, ([0-9.]+) MB written in "
                   r"([0-9.]+) s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--mb", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=900)
    a = ap.parse_args()
    corpus, data = corpus_of(a.build, a.mb, a.timeout)
    rm = os.path.join(a.build, "bin", "ringmaster")
    ck = os.path.join(data, "ckpt")
    walls = {False: [], True: []}
    jobs = {False: [], True: []}
    rates, dd_rates, failed = [], [], []
    for rep in range(a.reps):
        for on in ((False, True) if rep % 2 == 0 else (True, False)):
            out = os.path.join(data, "ckpt-wc.tsv")
            shutil.rmtree(ck, ignore_errors=True)
            os.makedirs(ck)
            cmd = ["mpirun", "--oversubscribe", "--enable-recovery", "-np", "3", rm, "run",
                   "wordcount", "--input", corpus, "--output", out]
            if on:
                cmd += ["--checkpoint-dir", ck]
            log = out + ".log"
            with open(log, "w") as f:
                rc, wall, _, err = run(cmd, a.timeout, stdout=f)
            m = JOB_TIME.search(open(log).read())
            if rc != 0 or not m:
                failed.append({"checkpoints": on, "rep": rep, "rc": rc, "stderr": err[-500:]})
                continue
            walls[on].append(wall)
            jobs[on].append(float(m.group(1)))
            if on:
                wrote = WROTE.findall(err)
                mb = sum(float(x[1]) for x in wrote)
                secs = max((float(x[2]) for x in wrote), default=0)
                if mb and secs:
                    rates.append(mb / secs)
                    target = os.path.join(ck, "dd.bin")
                    t0 = time.monotonic()
                    subprocess.run(["dd", "if=/dev/zero", f"of={target}", "bs=1M",
                                    f"count={max(1, int(mb))}", "conv=fsync"], check=True,
                                   capture_output=True, timeout=a.timeout)
                    dd_rates.append(max(1, int(mb)) * 1.048576 / (time.monotonic() - t0))
                    os.unlink(target)
            print(f"bench_checkpoint: rep {rep} checkpoints {'on' if on else 'off'}: "
                  f"{wall:.2f} s wall, {jobs[on][-1]:.2f} s job", file=sys.stderr)
    shutil.rmtree(ck, ignore_errors=True)
    res = {"corpus_bytes": a.mb << 20, "ranks": 3, "failed_runs": failed, "target": TARGET}
    for on in (False, True):
        if walls[on]:
            res["on" if on else "off"] = {"seconds": summary(walls[on]),
                                          "job_seconds": summary(jobs[on])}
    pairs = [b / a_ for a_, b in zip(walls[False], walls[True])]
    if pairs:
        jpairs = [b / a_ for a_, b in zip(jobs[False], jobs[True])]
        res["ratio_wall"] = statistics.median(pairs)
        res["ratio_job"] = statistics.median(jpairs)
        res["ratio_wall_spread"] = summary(pairs)  # the per-repetition ratios
        res["ratio_job_spread"] = summary(jpairs)
        res["met"] = res["ratio_wall"] <= TARGET
    if rates:
        res["checkpoint_write_mb_s"] = summary(rates)
        res["dd_write_mb_s"] = summary(dd_rates)
        res["checkpoint_over_dd"] = statistics.median(rates) / statistics.median(dd_rates)
    print(json.dumps(res))
    return 0 if walls[False] and walls[True] else 1


if __name__ == "__main__":
    sys.exit(main())
