"""Writes the table of the latest benchmark results into README.md, between the marker comments
<!-- bench:begin --> and <!-- bench:end -->, and nothing else of the file.

Usage: report.py [--results DIR] [--readme FILE] [--output FILE]
  --results  the wrapped results bench/run.sh saves ([bench/results])
  --readme   the file to read ([README.md at the top of the repository])
  --output   where to write the result ([--readme]); the plots are linked relative to it

The table has one row per figure: what is measured, its median, min-max and n, the target and
whether it is met, and the commit of the build that measured it. Figures whose result file is
missing are left out and named under the table; an unreadable file is named too. The
batch-size and compression plots (plot.py) are embedded below the table. Exit status: 0; 2 if
the markers are missing, repeated or out of order (the file is then left alone).
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from plot import us_per_task  # noqa: E402  (the plot's conversion, old results included)
from svgplot import fmt  # noqa: E402  (short numbers for the figures' descriptions)

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


# ---- values --------------------------------------------------------------------------------

def num(v):
    """A number for the table: 3 significant digits, thousands separated."""
    if v is None:
        return "—"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def ratio(v):
    """A ratio: 3 decimals below 10, so that one just over a target does not print as equal."""
    return f"{v:.3f}" if v is not None and abs(v) < 10 else num(v)


def stat(d, scale=1.0, n=None):
    """(median, min, max, n) of a summary dict {median, min, max, n}, scaled; n as given when
    the dict has none (results from before n was saved)."""
    if not isinstance(d, dict) or d.get("median") is None:
        return None
    m = d["median"] * scale
    return (m, d.get("min", d["median"]) * scale, d.get("max", d["median"]) * scale,
            d.get("n", n))


def exact(v, n=None):
    """A figure that is not a sample of runs: a count, or a ratio of medians."""
    return None if v is None else (v, None, None, n)


def dig(r, *path):
    for k in path:
        if not isinstance(r, dict) or k not in r:
            return None
        r = r[k]
    return r


def row(figure, value, unit, target="", met=None):
    """One table row; value is (median, min, max, n) or None (then the row is left out)."""
    return None if value is None else {"figure": figure, "value": value, "unit": unit,
                                       "target": target, "met": met}


def at_most(value, limit):
    return None if value is None else value[0] <= limit


def at_least(value, limit):
    return None if value is None else value[0] >= limit


# ---- rows per result file -------------------------------------------------------------------

def rows_detection(r):
    v = stat(r)
    out = [row(f"failure detection: SIGKILL of a worker to each survivor's \"declared dead\", "
               f"default settings (p95 {num(r.get('p95'))} ms)", v, "ms", "median ≤ 500 ms",
               at_most(v, 500))]
    early = r.get("declared_dead_before_the_kill")
    if isinstance(early, list):
        out.append(row(f"the same: survivors' reports that came before the kill (false "
                       f"suspicions), of {r.get('kills')} kills", exact(len(early)), "", "0",
                       len(early) == 0))
    return out


def rows_failover(r):
    v = stat(r)
    return [row("leader failover: SIGKILL of the leader to the new leader's first commit "
                f"(p95 {num(r.get('p95'))} ms)", v, "ms", "median ≤ 300 ms", at_most(v, 300))]


def rows_false_positives(r):
    done = "all done" if r.get("completed") else "NOT all done"
    secs = r.get("planned_seconds", 0)
    length = f"{fmt(secs / 60)} min" if secs >= 60 else f"{fmt(secs)} s"
    v = exact(r.get("false_suspicions"), 1)
    return [row(f"false suspicions: {r.get('ranks')} ranks on {r.get('cores')} cores, CPU-bound "
                f"tasks, {length} ({r.get('tasks', 0):,} "
                f"tasks of {fmt(r.get('task_ms', 0) / 1000)} s, {done})", v, "", "0",
                None if v is None else v[0] == 0 and bool(r.get("completed")))]


def rows_idle(r):
    v = stat(r.get("idle_percent"))
    if v is None and "idle_median" in r:  # results from before idle_percent
        idle = [u for k, u in r.get("per_rank", {}).items() if k != str(r.get("busy_rank"))]
        v = (r["idle_median"], min(idle, default=None), r["idle_max"], len(idle) or None)
    return [row("CPU per idle rank, idle 4-rank job on 2 cores (% of a core)", v, "%",
                "max < 5 %", None if v is None else v[2] < 5)]


def rows_raft(r):
    out = []
    for k, what in (("batched", "batched (256 per append)"), ("unbatched", "one per append")):
        d = r.get(k, {})
        rate = stat(d.get("entries_per_s")) or exact(d.get("entries_per_s"))
        lat = stat(d.get("latency_us")) or exact(d.get("latency_us_median"))
        out.append(row(f"Raft commits, 3 voters, 64-byte entries, {what}: entries/s", rate,
                       "/s"))
        out.append(row("the same, commit latency of one entry (µs)", lat, "µs"))
    return out


def rows_transport(r, where):
    out = []
    lat, rate = r.get("latency_us", {}), r.get("rate_msgs_per_s", {})
    n = r.get("reps")
    out.append(row(f"message layer, 8 B ping-pong one way, {where}: ringmaster (µs)",
                   stat(lat.get("ringmaster"), n=n), "µs"))
    out.append(row("the same, plain MPI (µs)", stat(lat.get("plain_mpi"), n=n), "µs"))
    path = "same-node rings" if lat.get("shm_rings") else "MPI"
    v = exact(lat.get("ratio"))
    out.append(row(f"the same, ringmaster ({path}) over plain MPI (ratio of medians)", v, "×",
                   "≤ 1.2×", at_most(v, 1.2)))
    if lat.get("ringmaster_mpi_only"):
        out.append(row("the same, ringmaster with RINGMASTER_SHM=0, over MPI alone (µs)",
                       stat(lat.get("ringmaster_mpi_only"), n=n), "µs"))
        v = exact(lat.get("ratio_mpi_only"))
        out.append(row("the same, over plain MPI (ratio of medians; no target: the rings are "
                       "the same-node path)", v, "×"))
    v = exact(rate.get("ratio"))
    out.append(row(f"batched message rate over plain MPI (64-message window), {where}", v, "×",
                   "≥ 1×", at_least(v, 1.0)))
    return out


def rows_scheduler(r):
    out = []
    rm = r.get("ringmaster") or {}
    v = stat(rm.get("tasks_per_s"))
    out.append(row(f"task farm: committed noop tasks per second, {r.get('ranks')} ranks on "
                   f"{r.get('cores')} cores, {r.get('tasks', 0):,} tasks", v, "/s",
                   "≥ 100,000/s", at_least(v, 100000)))
    for k, what in (("ringmaster", "ringmaster (automatic batch, Raft-replicated table)"),
                    ("masterworker_b1", "plain MPI master-worker, batch 1"),
                    ("masterworker", "plain MPI master-worker, batch 64")):
        d = r.get(k)
        if isinstance(d, dict):
            m, lo, hi = us_per_task(d)
            n = dig(d, "tasks_per_s", "n")
            out.append(row(f"time per task: {what} (µs)", None if m is None else
                           (m, lo, hi, n), "µs"))
    return out


def rows_ring(r):
    out = []
    n = r.get("runs")
    v = stat(r.get("ring_batch_ns"), n=n)
    out.append(row(f"ring owner lookup, {r.get('ranks', 0):,} ranks × {r.get('vnodes', 0):,} "
                   "vnodes, pre-hashed keys, batched (how the coordinator places tasks) (ns)",
                   v, "ns", "≤ 20 ns", at_most(v, 20)))
    out.append(row("the same, one at a time (ns)", stat(r.get("ring_ns"), n=n), "ns"))
    out.append(row("the same, jump hashing for comparison (ns)", stat(r.get("jump_ns"), n=n), "ns"))
    v = exact(dig(r, "peak_to_mean", "ring_keys"))
    out.append(row(f"ring balance: peak-to-mean keys per rank ({r.get('balance_keys', 0):,} "
                   "keys; exact)", v, "", "≤ 1.10", at_most(v, 1.10)))
    moved, ideal = dig(r, "moved_fraction_remove_one", "ring"), dig(
        r, "moved_fraction_remove_one", "ideal")
    v = exact(moved / ideal if moved is not None and ideal else None)
    out.append(row("keys moved when one rank leaves, over the ideal 1/N (exact)", v, "×",
                   "≤ 1.1×", at_most(v, 1.1)))
    return out


def rows_wordcount(r):
    out = []
    size = r.get("corpus_bytes", 0) / (1 << 30)
    var, ratios, sp = r.get("variants", {}), r.get("ratios", {}), r.get("ratio_spread", {})
    met, tg = r.get("met", {}), r.get("targets", {})

    def ratio(key):
        return stat(sp.get(key)) or exact(ratios.get(key))
    out.append(row(f"wordcount, {fmt(size)} GiB corpus, 2 workers + leader, end to end through "
                   "mpirun (MB/s)", stat(dig(var, "ringmaster_2_workers", "mb_s")), "MB/s"))
    out.append(row("the same, 1 worker + leader (MB/s)",
                   stat(dig(var, "ringmaster_1_worker", "mb_s")), "MB/s"))
    out.append(row("serial wordcount (wc_serial: same tokenizer, no MPI), same run (MB/s)",
                   stat(dig(var, "serial", "mb_s")), "MB/s"))
    out.append(row("2 workers over serial, end to end (per-run ratios)",
                   ratio("two_workers_over_serial"), "×",
                   f"≥ {tg.get('two_workers_over_serial', 1.6)}×",
                   met.get("two_workers_over_serial")))
    out.append(row("the same on the job's own time, without MPI start-up (ratio of medians)",
                   exact(ratios.get("two_workers_over_serial_job_time")), "×"))
    out.append(row("the same with --mca pml ob1 (per-run ratios)",
                   ratio("two_workers_pml_ob1_over_serial"), "×"))
    out.append(row("1 worker over serial (per-run ratios)", ratio("one_worker_over_serial"),
                   "×"))
    out.append(row("2 workers over `LC_ALL=C tr -cs A-Za-z '\\n' | tr A-Z a-z | sort | uniq -c` "
                   "(ratio of medians)", exact(ratios.get("two_workers_over_pipeline")), "×",
                   f"≥ {fmt(tg.get('two_workers_over_pipeline', 10))}×",
                   met.get("two_workers_over_pipeline")))
    out.append(row("serial tokenizer and counter, one core (wc_serial --bench, map phase) "
                   "(MB/s)", stat(r.get("serial_map_mb_s")), "MB/s",
                   f"≥ {fmt(tg.get('serial_map_mb_s', 400))} MB/s", met.get("serial_map_mb_s")))
    out.append(row("peak memory of any process, the 2-worker runs (MiB)",
                   stat(dig(var, "ringmaster_2_workers", "peak_rss_mib")), "MiB",
                   f"< {fmt(tg.get('peak_rss_mib', 512))} MiB (every run)",
                   met.get("peak_rss_mib")))
    return out


def rows_checkpoint(r):
    v = stat(r.get("ratio_wall_spread")) or exact(r.get("ratio_wall"))
    out = [row("HDF5 checkpoints on over off (one after the map stage), the same wordcount, "
               "3 ranks (per-run ratios of wall time)", v, "×", f"≤ {r.get('target', 1.05)}×",
               r.get("met"))]
    out.append(row("checkpoint write throughput, all ranks writing at once (MB/s)",
                   stat(r.get("checkpoint_write_mb_s")), "MB/s"))
    out.append(row("`dd conv=fsync` of the same bytes to the same folder, same run (MB/s)",
                   stat(r.get("dd_write_mb_s")), "MB/s"))
    return out


def rows_replicas(r):
    v = stat(r.get("ratio_wall_spread")) or exact(r.get("ratio_wall"))
    return [row("`--replicas 2` over `--replicas 1`, the same wordcount, 3 ranks (per-run "
                "ratios of wall time)", v, "×", f"≤ {r.get('target', 1.05)}×", r.get("met"))]


def rows_iterative(r):
    s = r.get("seconds_per_iteration", {})
    return [row("one k-means iteration, 1 M points × 4, k 8, 3 ranks (ms)",
                stat(s.get("kmeans_ringmaster"), 1000), "ms"),
            row("the same, serial reference (ref_kmeans) (ms)",
                stat(s.get("kmeans_serial"), 1000), "ms"),
            row("one PageRank iteration, 100 k vertices, 1 M edges, 3 ranks (ms)",
                stat(s.get("pagerank_ringmaster"), 1000), "ms"),
            row("the same, serial reference (ref_pagerank) (ms)",
                stat(s.get("pagerank_serial"), 1000), "ms")]


def rows_trace(r):
    ratio = r.get("rate_vs_plain") or {}
    out = [row(f"noop tasks per second with `{v}` and without it, {r.get('ranks')} ranks, "
               f"{r.get('tasks', 0):,} tasks (ratio of medians)", exact(ratio.get(k)), "×",
               "≥ 0.95×", None if ratio.get(k) is None else ratio[k] >= 0.95)
           for k, v in (("report", "--report"), ("trace", "--trace"))]
    return out


def rows_sweep(r, what):
    pts = [p for p in r.get("points", []) if "mb_s" in p]
    if not pts:
        return []
    best = max(pts, key=lambda p: p["mb_s"]["median"])
    out = []
    if what == "workers":
        for p in pts:
            w = p["workers"]
            workers = f"{w} worker{'s' if w != 1 else ''}"
            out.append(row(f"worker sweep: wordcount with {workers} + leader "
                           f"({'oversubscribed' if p.get('oversubscribed') else 'one per core'})"
                           " (MB/s)", stat(p["mb_s"]), "MB/s"))
        return out
    flag = r.get("parameter", what)
    default = [p for p in pts if p["label"] == str(r.get("default"))]
    for p in default:
        out.append(row(f"{what} sweep: wordcount at the default {flag} ({p['label']}) (MB/s)",
                       stat(p["mb_s"]), "MB/s"))
    if not default or best is not default[0]:
        out.append(row(f"{what} sweep: the fastest {flag} ({best['label']}) (MB/s)",
                       stat(best["mb_s"]), "MB/s"))
    return out


SOURCES = [  # (result file, rows, what it is)
    ("detection_latency", rows_detection, "failure detection"),
    ("leader_failover", rows_failover, "leader failover"),
    ("false_positives", rows_false_positives, "false suspicions"),
    ("idle_cpu", rows_idle, "idle CPU"),
    ("raft_commit", rows_raft, "Raft commits"),
    ("transport_tcp", lambda r: rows_transport(r, "TCP transport (as between nodes)"),
     "message layer over TCP"),
    ("transport", lambda r: rows_transport(r, "shared memory (same node)"),
     "message layer over shared memory"),
    ("scheduler", rows_scheduler, "task farm"),
    ("trace_overhead", rows_trace, "the cost of --report and --trace"),
    ("ring", rows_ring, "consistent-hash ring"),
    ("wordcount", rows_wordcount, "wordcount"),
    ("sweep_workers", lambda r: rows_sweep(r, "workers"), "worker sweep"),
    ("sweep_batch", lambda r: rows_sweep(r, "batch-size"), "batch-size sweep"),
    ("sweep_compression", lambda r: rows_sweep(r, "compression"), "compression sweep"),
    ("checkpoint", rows_checkpoint, "checkpoints"),
    ("replicas", rows_replicas, "replicas"),
    ("iterative", rows_iterative, "iterative kernels"),
]


# ---- the section ----------------------------------------------------------------------------

def load_all(results):
    """Returns ({name: wrapped doc}, [names missing], [(name, error) unreadable])."""
    docs, missing, bad = {}, [], []
    for name, _, _ in SOURCES:
        path = os.path.join(results, name + ".json")
        try:
            with open(path) as f:
                doc = json.load(f)
            if not isinstance(doc, dict) or not isinstance(doc.get("result"), dict):
                raise ValueError("not a wrapped result (no \"result\" object)")
            docs[name] = doc
        except FileNotFoundError:
            missing.append(name)
        except (OSError, ValueError) as e:
            bad.append((name, str(e)))
    return docs, missing, bad


def cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(docs, bad):
    lines = ["| figure | median | min–max | n | target | met? | commit |",
             "|---|---|---|---|---|---|---|"]
    for name, make, _ in SOURCES:
        doc = docs.get(name)
        if doc is None:
            continue
        try:
            rows = [x for x in make(doc["result"]) if x]
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
            bad.append((name, f"{type(e).__name__}: {e}"))
            continue
        commit = doc.get("commit", "?") + (" (quick)" if doc.get("quick") else "")
        for x in rows:
            m, lo, hi, n = x["value"]
            unit = x["unit"] if x["unit"][:1] in ("", "×", "%", "/") else " " + x["unit"]
            show = ratio if x["unit"] == "×" else num
            rng = "—" if lo is None else f"{show(lo)}–{show(hi)}{unit}"
            met = {True: "✓", False: "✗", None: ""}[x["met"] if x["target"] else None]
            lines.append(f"| {cell(x['figure'])} | {show(m)}{unit} | {rng} | "
                         f"{'—' if n is None else n} | {cell(x['target'])} | {met} | "
                         f"`{cell(commit)}` |")
    return lines


def link(path, output):
    rel = os.path.relpath(path, os.path.dirname(os.path.abspath(output)))
    return rel.replace(os.sep, "/")


def section(results, output):
    docs, missing, bad = load_all(results)
    top = os.path.dirname(HERE)  # the repository
    where = os.path.abspath(results)
    if where.startswith(top + os.sep):
        where = os.path.relpath(where, top)
    machines = sorted({d.get("machine", "?") for d in docs.values()})
    dates = sorted(d.get("date", "") for d in docs.values() if d.get("date"))
    out = ["", f"<!-- Generated by bench/report.py from {where}/*.json: edit outside the "
           "bench markers only; `make bench` rewrites this part. -->", ""]
    if any(d.get("quick") for d in docs.values()):
        out += ["**Quick mode (`BENCH_QUICK=1`): tiny sizes that check the pipeline, not "
                "measurements.**", ""]
    if docs:
        out.append(f"Latest results: {len(docs)} result files, measured "
                   f"{dates[0][:10] if dates else '?'} to {dates[-1][:10] if dates else '?'} on "
                   f"{'; '.join(machines)}. The median is over n runs (or samples), with their "
                   "minimum and maximum; a ratio is the median of the per-run ratios when n is "
                   "given, else the ratio of the medians; “exact” figures are counts, not samples. "
                   "Each row names the commit that measured it.")
        out.append("")
        out += table(docs, bad)
    else:
        out.append("No results yet: run `make bench`.")
    if missing:
        out += ["", "Not measured yet: " + ", ".join(
            f"{what} (`{name}.json`)" for name, _, what in SOURCES if name in missing) + "."]
    if bad:
        out += ["", "Unreadable results, left out: " + "; ".join(
            f"`{n}.json` ({cell(e)})" for n, e in bad) + "."]
    plots = lambda names: [(n, os.path.join(results, n + ".svg")) for n in names]  # noqa: E731
    out += ["", "Throughput against the knobs users tune first (wordcount, 2 workers + leader; "
            "median of the runs, bars min–max):", ""]
    for name, path in plots(["batch_size", "compression"]):
        out.append(f"![wordcount throughput against --{name.replace('_', '-')}]"
                   f"({link(path, output)})")
        out.append("")
    others = [f"[{n.replace('_', ' ')}]({link(p, output)})" for n, p in
              plots(["wordcount_workers", "failover", "detection", "task_overhead"])]
    out.append("More plots: " + ", ".join(others) + ".")
    out.append("")
    return "\n".join(out)


def rewrite(text, body):
    """Returns text with everything between the markers replaced by body; ValueError if the
    markers are not each present once, begin first."""
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise ValueError(f"want exactly one {BEGIN} and one {END}")
    i, j = text.index(BEGIN) + len(BEGIN), text.index(END)
    if j < i:
        raise ValueError(f"{END} comes before {BEGIN}")
    return text[:i] + "\n" + body.strip("\n") + "\n" + text[j:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--readme", default=os.path.join(os.path.dirname(HERE), "README.md"))
    ap.add_argument("--output")
    a = ap.parse_args()
    output = a.output or a.readme
    with open(a.readme, encoding="utf-8") as f:
        text = f.read()
    try:
        new = rewrite(text, section(a.results, output))
    except ValueError as e:
        print(f"report: {a.readme}: {e}; nothing written", file=sys.stderr)
        return 2
    tmp = output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(new)
    os.replace(tmp, output)
    print(f"report: {output} ({time.strftime('%Y-%m-%d %H:%M')})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
