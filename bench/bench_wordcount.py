"""Wordcount end to end (issue 5): a generated text corpus (1 GiB by default) counted by
`ringmaster run wordcount` through mpirun with 1 worker (2 ranks) and with 2 workers plus the
leader (3 ranks), against, in the same run, the project's serial wordcount (tools/wc_serial:
the same tokenizer and table, one process, no MPI) and the shell pipeline
`LC_ALL=C tr -cs A-Za-z '\\n' | tr A-Z a-z | sort | uniq -c` (LC_ALL=C for the whole pipeline,
so sort compares bytes: its fastest setting). Prints one JSON object.

Usage: bench_wordcount.py BUILD_DIR [--mb N] [--reps R] [--pipeline-reps P] [--timeout S]

Every rate is the corpus size over the wall time of the whole command (for ringmaster: mpirun
start-up, the job and the output file included), in MB/s (10^6 bytes). The variants run in an
order rotated from one repetition to the next, so that machine noise hits all alike, after one
read of the corpus that puts it in the page cache; medians,
minimums and maximums are reported, and the ratios are medians of per-repetition ratios (whose
spread is in ratio_spread). The
serial tokenizer's own rate is the map phase of wc_serial --bench. ringmaster's job time (its
summary line: from the first leader taking office to the output written, without MPI start-up
and shutdown, which Open MPI alone takes about 0.35 s for here) is reported too, with its ratio.
The 2-worker run is also made with `--mca pml ob1`: Open MPI's default PML selection probes
UCX first, which takes about 0.2 s of that start-up on a machine without UCX hardware, where
ob1 is what it ends up using anyway. Peak memory is the largest
resident set of any process of the command (wait4's ru_maxrss, which covers the descendants
the command waited for, so every rank under mpirun). Each output is checked against the
serial one, byte for byte; a wrong answer fails the benchmark. Runs are bounded by a timeout,
and only the process group this script started is killed.
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_btl_tcp_if_include": "lo",
    "OMPI_MCA_oob_tcp_if_include": "lo",
    "LC_ALL": "C",
}
TARGETS = {"two_workers_over_serial": 1.6, "two_workers_over_pipeline": 10.0,
           "serial_map_mb_s": 400.0, "peak_rss_mib": 512.0}
MAP_RATE = re.compile(r"map [0-9.]+ s \(([0-9.]+) MB/s\)")
JOB_TIME = re.compile(r"wordcount: .* in ([0-9.]+) s \(")


def run(cmd, timeout, stdout=subprocess.DEVNULL, shell=False):
    """Runs cmd in its own session. Returns (rc or None on timeout, wall s, peak RSS MiB,
    stderr text)."""
    env = dict(os.environ)
    env.update(ENV)
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         env=env, text=True, shell=shell, start_new_session=True)
    timed_out = threading.Event()

    def expire():
        timed_out.set()
        try:
            os.killpg(p.pid, signal.SIGKILL)  # the group of the command we started, only it
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout, expire)
    timer.start()
    err = p.stderr.read()
    p.stderr.close()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    timer.cancel()
    p.returncode = os.waitstatus_to_exitcode(status)  # keeps Popen from waiting again
    rc = None if timed_out.is_set() else p.returncode
    return rc, wall, usage.ru_maxrss / 1024.0, err


def warm(path):
    """Reads path once, so that every variant finds it in the page cache (the first run would
    otherwise pay for the disk alone)."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def corpus_of(build, mb, timeout):
    """The generated corpus of mb MiB in BUILD/bench-data (made once, seed 1), read once into the
    page cache; returns (its path, the data folder)."""
    data = os.path.join(build, "bench-data")
    os.makedirs(data, exist_ok=True)
    corpus = os.path.join(data, f"corpus-{mb}M.txt")
    if not os.path.exists(corpus) or os.path.getsize(corpus) != mb << 20:
        print(f"bench: generating {corpus}", file=sys.stderr)
        subprocess.run([os.path.join(build, "bin", "gen_corpus"), "--bytes", f"{mb}M", "--seed",
                        "1", "--out", corpus + ".tmp"], check=True, timeout=timeout)
        os.replace(corpus + ".tmp", corpus)
    warm(corpus)
    return corpus, data


def reference_of(data, mb):
    """The serial wordcount's output for the mb MiB corpus: what every run is checked against
    (one per corpus size, so that runs of another size never compare against it)."""
    return os.path.join(data, f"serial-{mb}M.tsv")


def reference_counts(build, corpus, data, mb, timeout):
    """Returns the path of the serial counts of the corpus, made with wc_serial if missing."""
    ref = reference_of(data, mb)
    if not os.path.exists(ref):
        with open(ref + ".tmp", "w") as f:
            subprocess.run([os.path.join(build, "bin", "wc_serial"), corpus], stdout=f,
                           check=True, timeout=timeout, env=dict(os.environ, **ENV))
        os.replace(ref + ".tmp", ref)
    return ref


def same_file(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--mb", type=int, default=1024, help="corpus size in MiB [1024]")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--pipeline-reps", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=900)
    a = ap.parse_args()
    bindir = os.path.join(a.build, "bin")
    corpus, data = corpus_of(a.build, a.mb, a.timeout)
    size = os.path.getsize(corpus)
    mb = size / 1e6
    ref = reference_of(data, a.mb)
    rm = os.path.join(bindir, "ringmaster")
    variants = {
        "serial": lambda out: ([os.path.join(bindir, "wc_serial"), "--bench", corpus], out),
        "ringmaster_1_worker": lambda out: (
            ["mpirun", "--oversubscribe", "--enable-recovery", "-np", "2", rm, "run",
             "wordcount", "--input", corpus, "--output", out, "--quiet"], out + ".log"),
        "ringmaster_2_workers": lambda out: (
            ["mpirun", "--oversubscribe", "--enable-recovery", "-np", "3", rm, "run",
             "wordcount", "--input", corpus, "--output", out, "--quiet"], out + ".log"),
        "ringmaster_2_workers_pml_ob1": lambda out: (
            ["mpirun", "--oversubscribe", "--enable-recovery", "--mca", "pml", "ob1", "-np",
             "3", rm, "run", "wordcount", "--input", corpus, "--output", out, "--quiet"],
            out + ".log"),
    }
    walls = {k: [] for k in variants}
    jobs = {k: [] for k in variants}
    rss = {k: [] for k in variants}
    map_rates, failed = [], []
    names = list(variants)
    for rep in range(a.reps):
        order = names[rep % len(names):] + names[:rep % len(names)]
        for name in order:
            out = os.path.join(data, f"{name}.tsv")
            if os.path.exists(out):
                os.unlink(out)
            cmd, to_stdout = variants[name](out)
            with open(to_stdout, "w") as f:
                rc, wall, peak, err = run(cmd, a.timeout, stdout=f)
            if to_stdout != out:
                m = JOB_TIME.search(open(to_stdout).read())
                if rc == 0 and m:
                    jobs[name].append((wall, float(m.group(1))))
            if rc != 0:
                failed.append({"variant": name, "rep": rep, "rc": rc, "stderr": err[-500:]})
                continue
            if name == "serial":
                m = MAP_RATE.search(err)
                if m:
                    map_rates.append(float(m.group(1)))
                if not os.path.exists(ref):
                    os.replace(out, ref)
                    out = ref
            if out != ref and not same_file(out, ref):
                failed.append({"variant": name, "rep": rep, "rc": rc,
                               "stderr": "output differs from the serial wordcount"})
                continue
            walls[name].append(wall)
            rss[name].append(peak)
            print(f"bench_wordcount: rep {rep} {name}: {wall:.2f} s, {mb / wall:.0f} MB/s, "
                  f"peak {peak:.0f} MiB", file=sys.stderr)
    pipe_walls = []
    for rep in range(a.pipeline_reps):
        out = os.path.join(data, "pipeline.txt")
        cmd = (f"LC_ALL=C tr -cs A-Za-z '\\n' < '{corpus}' | tr A-Z a-z | sort | uniq -c "
               f"> '{out}'")
        rc, wall, _, err = run(cmd, a.timeout, shell=True)
        if rc != 0:
            failed.append({"variant": "pipeline", "rep": rep, "rc": rc, "stderr": err[-500:]})
            continue
        pipe_walls.append(wall)
        print(f"bench_wordcount: pipeline: {wall:.2f} s, {mb / wall:.1f} MB/s", file=sys.stderr)
    res = {"corpus_bytes": size, "reps": a.reps, "variants": {}, "failed_runs": failed}
    for name in names:
        if walls[name]:
            res["variants"][name] = {"seconds": summary(walls[name]),
                                     "mb_s": summary([mb / w for w in walls[name]]),
                                     "peak_rss_mib": summary(rss[name])}
        if jobs[name]:
            res["variants"][name]["job_seconds"] = summary([j for _, j in jobs[name]])
    if pipe_walls:
        res["variants"]["pipeline"] = {"seconds": summary(pipe_walls),
                                       "mb_s": summary([mb / w for w in pipe_walls])}
    if map_rates:
        res["serial_map_mb_s"] = summary(map_rates)
    per_rep = [s / r for s, r in zip(walls["serial"], walls["ringmaster_2_workers"])]
    ratios, spread = {}, {}
    if per_rep:
        ratios["two_workers_over_serial"] = statistics.median(per_rep)
        spread["two_workers_over_serial"] = summary(per_rep)
    if pipe_walls and walls["ringmaster_2_workers"]:
        ratios["two_workers_over_pipeline"] = (statistics.median(pipe_walls) /
                                               statistics.median(walls["ringmaster_2_workers"]))
    if walls["serial"] and jobs["ringmaster_2_workers"]:
        ratios["two_workers_over_serial_job_time"] = (
            statistics.median(walls["serial"]) /
            statistics.median([j for _, j in jobs["ringmaster_2_workers"]]))
    per_rep_ob1 = [s / r for s, r in zip(walls["serial"], walls["ringmaster_2_workers_pml_ob1"])]
    if per_rep_ob1:
        ratios["two_workers_pml_ob1_over_serial"] = statistics.median(per_rep_ob1)
        spread["two_workers_pml_ob1_over_serial"] = summary(per_rep_ob1)
    per_rep1 = [s / r for s, r in zip(walls["serial"], walls["ringmaster_1_worker"])]
    if per_rep1:
        ratios["one_worker_over_serial"] = statistics.median(per_rep1)
        spread["one_worker_over_serial"] = summary(per_rep1)
    res["ratios"] = ratios
    res["ratio_spread"] = spread  # the per-repetition ratios behind the medians above
    peak = max((max(v) for v in rss.values() if v), default=0.0)
    res["targets"] = TARGETS
    res["met"] = {
        "two_workers_over_serial": ratios.get("two_workers_over_serial", 0) >=
        TARGETS["two_workers_over_serial"],
        "two_workers_pml_ob1_over_serial": ratios.get("two_workers_pml_ob1_over_serial", 0) >=
        TARGETS["two_workers_over_serial"],
        "two_workers_over_pipeline": ratios.get("two_workers_over_pipeline", 0) >=
        TARGETS["two_workers_over_pipeline"],
        "serial_map_mb_s": bool(map_rates) and statistics.median(map_rates) >=
        TARGETS["serial_map_mb_s"],
        "peak_rss_mib": 0 < peak < TARGETS["peak_rss_mib"],
    }
    print(json.dumps(res))
    return 0 if all(walls.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
