"""Draws the benchmark plots from bench/results/*.json with svgplot.py (no other dependency).

Usage: plot.py [--results DIR] [--out DIR]     (both bench/results by default)

Writes, each with its source's commit, date and machine in the footer:
  wordcount_workers.svg  throughput against the number of workers, serial wordcount as reference
                         (sweep_workers.json; else the 1- and 2-worker runs of wordcount.json)
  batch_size.svg         throughput against --batch-size (sweep_batch.json)
  compression.svg        throughput against --compression (sweep_compression.json)
  failover.svg           leader failover time distribution (leader_failover.json samples_ms)
  detection.svg          failure-detection latency distribution (detection_latency.json)
  task_overhead.svg      µs per task, ringmaster against a plain MPI master-worker at batch 1
                         and 64 (scheduler.json)
A missing or unreadable result gives a plot that says "no data yet" and how to make it, so the
set of files is always complete. Exit status 0, or 1 if a plot could not be written.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import svgplot  # noqa: E402
from svgplot import fmt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MBS = "throughput (MB/s)"


def load(results, name):
    """The wrapped result bench/run.sh saved as NAME.json, or None if missing or unreadable."""
    path = os.path.join(results, name + ".json")
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        print(f"plot: {path}: {e}", file=sys.stderr)
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("result"), dict) else None


def footer(doc, source):
    if doc is None:
        return f"no result yet\nfrom {source}, drawn by bench/plot.py"
    return (f"commit {doc.get('commit', '?')} · {doc.get('date', '?')} · "
            f"{doc.get('machine', '?')}\nfrom {source}, drawn by bench/plot.py")


def warning(doc):
    return "QUICK MODE: tiny sizes, not a measurement" if doc and doc.get("quick") else ""


def size_of(nbytes):
    if nbytes >= 1 << 30 and nbytes % (1 << 30) == 0:
        return f"{nbytes >> 30} GiB"
    return f"{nbytes / (1 << 20):.0f} MiB"


def spread(d):
    """(median, min, max) of a summary dict, or Nones."""
    if not isinstance(d, dict) or "median" not in d:
        return None, None, None
    return d["median"], d.get("min", d["median"]), d.get("max", d["median"])


def runs(n, what="run"):
    return f"{n} {what}" + ("" if n == 1 else "s")


def placeholder(p, how):
    p.hide_y_ticks = True  # there is no y data to scale
    p.message("no data yet")
    p.message(how)
    return p


# ---- throughput against a setting --------------------------------------------------------------

def workers_plot(results):
    doc = load(results, "sweep_workers")
    src = "bench/bench_sweeps.py workers"
    if doc is None:
        return workers_from_wordcount(results)
    r = doc["result"]
    pts = [p for p in r.get("points", [])]
    cores = r.get("cores", "?")
    over = [str(p["workers"]) for p in pts if p.get("oversubscribed")]
    note = (f"ranks = workers + 1 (the leader) on {cores} cores: "
            + (f"{' and '.join(over)} worker(s) oversubscribed" if over else "none oversubscribed"))
    p = svgplot.Plot("Wordcount throughput against the number of workers",
                     "workers (each run also has the leader rank)", MBS, footer(doc, src),
                     subtitle=f"{size_of(r['corpus_bytes'])} corpus, end to end through mpirun; "
                     f"median of {runs(r.get('reps', '?'))} per point, bars min–max\n{note}",
                     warning=warning(doc))
    p.categories([f"{q['workers']}\n{q['ranks']} ranks" +
                  ("\noversubscribed" if q.get("oversubscribed") else "") for q in pts])
    add_points(p, pts, "ringmaster run wordcount")
    ref = r.get("reference")
    if ref:
        m, lo, hi = spread(ref.get("mb_s"))
        p.hline(m, f"serial wordcount (wc_serial, no MPI): {fmt(m)} MB/s", lo, hi)
    if not any("mb_s" in q for q in pts):
        placeholder(p, f"every run failed: see failed_runs in {results}/sweep_workers.json")
    return p


def workers_from_wordcount(results):
    """Before the sweep has run: the 1- and 2-worker runs of bench_wordcount.py."""
    doc = load(results, "wordcount")
    src = "bench/bench_wordcount.py (the worker sweep has not run yet)"
    p = svgplot.Plot("Wordcount throughput against the number of workers",
                     "workers (each run also has the leader rank)", MBS, footer(doc, src),
                     warning=warning(doc))
    if doc is None:
        p.categories(["1", "2", "3"])
        return placeholder(p, "run make bench (bench/bench_sweeps.py workers)")
    r = doc["result"]
    v = r.get("variants", {})
    pts = [{"workers": w, "mb_s": v[k]["mb_s"]} for w, k in
           ((1, "ringmaster_1_worker"), (2, "ringmaster_2_workers")) if k in v]
    p.subtitle = (f"{size_of(r['corpus_bytes'])} corpus, end to end through mpirun; median of "
                  f"{runs(r.get('reps', '?'))}, bars min–max; from bench_wordcount.py (no 3-worker "
                  "run)\nranks = workers + 1 (the leader) on 2 cores: 2 workers are oversubscribed")
    p.categories([f"{q['workers']}\n{q['workers'] + 1} ranks" +
                  ("\noversubscribed" if q["workers"] + 1 > 2 else "") for q in pts])
    add_points(p, pts, "ringmaster run wordcount")
    if "serial" in v:
        m, lo, hi = spread(v["serial"]["mb_s"])
        p.hline(m, f"serial wordcount (wc_serial, no MPI): {fmt(m)} MB/s", lo, hi)
    if not pts:
        placeholder(p, "run make bench (bench/bench_sweeps.py workers)")
    return p


def add_points(p, pts, label):
    xs, med, lo, hi = [], [], [], []
    for i, q in enumerate(pts):
        m, a, b = spread(q.get("mb_s"))
        xs.append(i)
        med.append(m)
        lo.append(a)
        hi.append(b)
    p.points(xs, med, lo, hi, label)


def setting_plot(results, name, title, default_label):
    doc = load(results, name)
    sweep = name.split("_", 1)[1]
    src = f"bench/bench_sweeps.py {sweep}"
    r = doc["result"] if doc else {}
    xlabel = r.get("xlabel") or {"batch": "--batch-size (tasks per dispatch message)",
                                 "compression": "--compression (zstd level of shuffled data; "
                                                "0 off)"}[sweep]
    p = svgplot.Plot(title, xlabel, MBS, footer(doc, src), warning=warning(doc))
    if doc is None:
        values = {"batch": ["1", "4", "16", "64", "256", f"auto\n({default_label})"],
                  "compression": ["0", f"1\n({default_label})", "3", "6", "9", "19"]}[sweep]
        p.categories(values)
        return placeholder(p, f"run make bench ({src})")
    pts = r.get("points", [])
    ranks = pts[0]["ranks"] if pts else "?"
    over = " (oversubscribed)" if any(q.get("oversubscribed") for q in pts) else ""
    split = f", --split-size {r['split_size']}" if r.get("split_size") else ""
    p.subtitle = (f"{size_of(r['corpus_bytes'])} corpus{split}, {r.get('workers', '?')} workers "
                  f"+ leader = {ranks} ranks on {r.get('cores', '?')} cores{over}\n"
                  f"end to end through mpirun; median of {runs(r.get('reps', '?'))} per point, "
                  "bars min–max")
    p.categories([q["label"] + (f"\n({default_label})" if str(r.get("default")) == q["label"]
                                else "") for q in pts])
    add_points(p, pts, "ringmaster run wordcount")
    if not any("mb_s" in q for q in pts):
        placeholder(p, f"every run failed: see failed_runs in {name}.json")
    return p


# ---- distributions -----------------------------------------------------------------------------

def distribution_plot(results, name, title, xlabel, ylabel, describe, src):
    doc = load(results, name)
    p = svgplot.Plot(title, xlabel, ylabel, footer(doc, src), warning=warning(doc))
    if doc is None:
        p.hide_y_ticks = True
        return placeholder(p, f"run make bench ({src})")
    r = doc["result"]
    samples = r.get("samples_ms") or []
    p.subtitle = describe(r)
    med, p95 = r.get("median"), r.get("p95")
    if samples:
        p.histogram(samples, label=f"{len(samples)} samples")
    else:
        p.hide_y_ticks = True
        p.message("no samples saved in this result (it predates samples_ms):")
        p.message(f"min {fmt(r['min'])}, max {fmt(r['max'])} ms; rerun make bench"
                  if "min" in r else "rerun make bench")
        p.vline(r["min"], f"min {fmt(r['min'])} ms", color="#777777", dash="2,3")
        p.vline(r["max"], f"max {fmt(r['max'])} ms", color="#777777", dash="2,3")
    if med is not None:
        p.vline(med, f"median {fmt(med)} ms", color="#1f5fa8")
    if p95 is not None:
        p.vline(p95, f"p95 {fmt(p95)} ms", color="#d9541e")
    return p


def failover_plot(results):
    def describe(r):
        d = r.get("defaults", {})
        return (f"SIGKILL of the Raft leader, 5 ranks, 3 voters, {r.get('n', '?')} of "
                f"{r.get('trials', '?')} trials measured\nelection timeout "
                f"{d.get('election_timeout_ms', '?')} ms, Raft heartbeat "
                f"{d.get('raft_heartbeat_ms', '?')} ms (the defaults)")
    return distribution_plot(results, "leader_failover", "Leader failover time",
                             "time from SIGKILL of the leader to the new leader's first commit "
                             "(ms)", "trials", describe, "bench/bench_runtime.py failover")


def detection_plot(results):
    def describe(r):
        d = r.get("defaults", {})
        return (f"SIGKILL of a worker, 4 ranks, {r.get('kills', '?')} kills; one sample per "
                f"survivor that reported the death ({r.get('n', '?')})\nheartbeat "
                f"{d.get('heartbeat_ms', '?')} ms, suspicion after {d.get('suspect_ms', '?')} ms "
                "(the defaults)")
    return distribution_plot(results, "detection_latency", "Failure-detection latency",
                             "time from SIGKILL to a survivor's \"declared dead\" (ms)",
                             "survivor reports", describe, "bench/bench_runtime.py detect")


# ---- task overhead -----------------------------------------------------------------------------

def us_per_task(v):
    """(median, min, max) µs per task of one scheduler.json variant, old format or new."""
    u = v.get("us_per_task")
    if isinstance(u, dict):
        return spread(u)
    m, lo, hi = spread(v.get("tasks_per_s"))
    if not m:
        return None, None, None
    return 1e6 / m, 1e6 / hi, 1e6 / lo  # the fastest run is the lowest time per task


def overhead_plot(results):
    doc = load(results, "scheduler")
    src = "bench/bench_scheduler.py, bench/bench_masterworker.c"
    p = svgplot.Plot("Task overhead against a plain MPI master-worker",
                     "scheduler (empty tasks)", "time per task (µs, log scale)",
                     footer(doc, src), ylog=True, warning=warning(doc))
    labels = ["ringmaster run noop\n(automatic batch,\nRaft-replicated table)",
              "MPI master-worker\nbatch 1", "MPI master-worker\nbatch 64"]
    p.categories(labels)
    if doc is None:
        return placeholder(p, f"run make bench ({src})")
    r = doc["result"]
    p.subtitle = (f"{r.get('tasks', 0):,} empty tasks, {r.get('ranks', '?')} ranks "
                  f"({r.get('workers', '?')} workers) on {r.get('cores', '?')} cores; each "
                  "program's own timer (no MPI start-up)\nmedian of "
                  f"{runs(r.get('reps', '?'))}, bars min–max; master-worker: no fault tolerance")
    xs, med, lo, hi = [], [], [], []
    for i, k in enumerate(("ringmaster", "masterworker_b1", "masterworker")):
        v = r.get(k)
        if isinstance(v, dict):
            m, a, b = us_per_task(v)
            xs.append(i)
            med.append(m)
            lo.append(a)
            hi.append(b)
    p.points(xs, med, lo, hi, "µs per task", line=False)
    if not xs:
        placeholder(p, f"every run failed: see failed_runs in {results}/scheduler.json")
    return p


PLOTS = {
    "wordcount_workers": workers_plot,
    "batch_size": lambda d: setting_plot(d, "sweep_batch", "Wordcount throughput against "
                                         "--batch-size", "default"),
    "compression": lambda d: setting_plot(d, "sweep_compression", "Wordcount throughput "
                                          "against --compression", "default"),
    "failover": failover_plot,
    "detection": detection_plot,
    "task_overhead": overhead_plot,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--out", help="folder for the SVG files [--results]")
    a = ap.parse_args()
    out = a.out or a.results
    os.makedirs(out, exist_ok=True)
    status = 0
    for name, make in PLOTS.items():
        path = os.path.join(out, name + ".svg")
        try:
            make(a.results).save(path)
            print(f"plot: {path}", file=sys.stderr)
        except Exception as e:  # one bad result must not cost the other plots
            print(f"plot: {name}: {type(e).__name__}: {e}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
