"""--report FILE and --trace FILE:
(a) wordcount on 5 ranks whose first leader is SIGKILLed once the reduce stage has started:
    the job still finishes right; the report names every option (the command and the options
    object), the version, start and end, both stages with ordered times, the tasks, the failure
    (which rank, found by a heartbeat timeout, by whom, how long it had been silent), both
    leaders with their terms, a reschedule, bytes read/shuffled/replicated, and the peak memory
    of every rank that lived (the dead one is marked as not reporting); the trace is valid
    Chrome trace-event JSON with a named track per rank, task spans of both stages that never
    overlap on one rank, shuffle and replica spans, and the failure and election instants;
    `ringmaster timeline` draws it with a row per rank and the death marked;
(b) noop with --report alone: no spans are kept, the report still counts every task;
(c) a report or trace in a missing directory is a usage error: exit 2, one line, no job."""
import json
import os
import re
import subprocess
import sys

import rmtest as t

ringmaster = sys.argv[1]
work = t.tempfile.mkdtemp(prefix="rmreport.")
corpus = os.path.join(work, "corpus.txt")
words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
with open(corpus, "w") as f:
    for i in range(120000):
        f.write(" ".join(words[(i * 7 + j) % 8] for j in range(i % 11)) + "\n")
size = os.path.getsize(corpus)
report, trace, out = (os.path.join(work, n) for n in ("report.json", "trace.json", "out.tsv"))

# (a) the leader dies during the reduce stage
job = t.Job(5, [ringmaster, "run", "wordcount", "--input", corpus, "--output", out,
                "--split-size", "64K", "--report", report, "--trace", trace],
            extra_env={"RINGMASTER_FAULT_SLOW_STAGE": "1:120"})
ranks = job.ranks(5)
killed = t.kill_worker_at_stage(job, ranks, 1, delay=0.2, leader=True)
rc = job.wait(timeout=120)
t.check(rc is not None, "the job with a killed leader hung")
t.check("output: " + out in job.stdout(), "no output line: " + job.stdout()[-400:])
want = {}
with open(corpus) as f:
    for w in re.findall(r"[a-z]+", f.read()):
        want[w] = want.get(w, 0) + 1
with open(out) as f:
    got = {w: int(c) for w, c in (l.split("\t") for l in f.read().splitlines())}
t.check(got == want, "wrong counts after the leader died")

rep = json.load(open(report))
t.check(rep["result"] == "done" and rep["status"] == 0, f"result {rep['result']}")
t.check(re.match(r"^\d+\.\d+\.\d+", rep["ringmaster_version"]) is not None, "no version")
t.check(rep["command"][:3] == ["ringmaster", "run", "wordcount"] and "--trace" in rep["command"],
        f"command {rep['command']}")
opts = rep["options"]
t.check(opts["split_size"] == 65536 and opts["replicas"] == 2 and opts["partitions"] == 16 and
        opts["input"] == [corpus] and opts["output"] == out and opts["heartbeat_ms"] == 100,
        f"options {opts}")
t.check(rep["start"] < rep["end"] and rep["seconds"] > 0, "start/end")
st = rep["stages"]
t.check([s["name"] for s in st] == ["map", "reduce"], f"stages {st}")
t.check(all(s["done"] == s["tasks"] for s in st), "a stage is not done")
t.check(st[0]["start_s"] <= st[0]["end_s"] <= st[1]["end_s"] and st[1]["start_s"] <= st[1]["end_s"],
        f"stage times out of order {st}")
t.check(st[1]["seconds"] >= 16 * 0.12 / 4 * 0.9, f"reduce stage too short for its slowed tasks {st}")
tasks = rep["tasks"]
t.check(tasks["done"] == tasks["total"] == st[0]["tasks"] + st[1]["tasks"], f"tasks {tasks}")
fails = rep["failures"]
t.check(len(fails) == 1 and fails[0]["rank"] == killed, f"failures {fails} (killed {killed})")
if fails:
    f0 = fails[0]
    t.check(f0["how"] == "heartbeat timeout" and f0["detected_by"] != killed, f"failure {f0}")
    t.check(300 <= f0["silence_ms"] <= 3000, f"silence {f0['silence_ms']} ms for a 400 ms timeout")
lc = rep["leader_changes"]
t.check(len(lc) >= 2 and lc[0]["leader"] == killed and lc[-1]["leader"] != killed and
        lc[-1]["term"] > lc[0]["term"], f"leader changes {lc}")
t.check(fails and lc and lc[-1]["at_s"] >= fails[0]["at_s"] - 0.5, "the new leader came first")
t.check(len(rep["reschedules"]) == 1 and rep["reschedules"][0]["dead_rank"] == killed,
        f"reschedules {rep['reschedules']}")
rows = rep["ranks"]
t.check(len(rows) == 5 and rows[killed]["dead"] and not rows[killed]["reported"], f"ranks {rows}")
live = [r for r in rows if r["rank"] != killed]
t.check(all(r["reported"] and 1 << 20 < r["peak_rss_bytes"] < 1 << 31 for r in live),
        "a live rank has no peak memory")
t.check(rep["ranks_reporting"] == 4 and rep["complete"], "not every live rank reported")
b = rep["bytes"]
t.check(0 < b["read"] <= 2 * size and b["shuffled"] > 0 and b["replicated"] > 0, f"bytes {b}")
t.check(b["read"] == sum(r["bytes"]["read"] for r in live), "bytes are not the ranks' sum")

tr = json.load(open(trace))
ev = tr["traceEvents"]
t.check(tr.get("displayTimeUnit") == "ms" and tr["otherData"]["kernel"] == "wordcount", "header")
names = {e["tid"]: e["args"]["name"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
t.check(sorted(names) == list(range(5)) and "dead" in names.get(killed, ""), f"tracks {names}")
for e in ev:
    if e["ph"] == "X":
        ok = all(k in e for k in ("name", "cat", "ts", "dur", "pid", "tid")) and e["ts"] >= 0 \
            and e["dur"] >= 0
        if not t.check(ok, f"bad span {e}"):
            break
spans = [e for e in ev if e["ph"] == "X" and e["cat"] == "task"]
t.check({e["args"]["stage_name"] for e in spans} == {"map", "reduce"}, "task spans of both stages")
for tid in names:
    mine = sorted((e["ts"], e["ts"] + e["dur"]) for e in spans if e["tid"] == tid)
    t.check(all(a[1] <= b[0] + 1 for a, b in zip(mine, mine[1:])),
            f"rank {tid}'s task spans overlap")
t.check(any(e.get("cat") == "shuffle" for e in ev) and any(e.get("cat") == "replicate" for e in ev),
        "no shuffle or replicate spans")
fi = [e for e in ev if e["ph"] == "i" and e["cat"] == "failure"]
t.check(len(fi) == 1 and fi[0]["args"]["rank"] == killed and fi[0]["s"] == "g", f"failures {fi}")
el = [e for e in ev if e["ph"] == "i" and e["cat"] == "election"]
t.check(len({e["args"]["term"] for e in el}) >= 2, f"elections {el}")
t.check(any(e["cat"] == "reschedule" for e in ev if e["ph"] == "i"), "no reschedule instant")

# The trace drawn by 'ringmaster timeline': one row per rank, spans of both stages, the death
svg_path = os.path.join(work, "trace.svg")
p = subprocess.run([ringmaster, "timeline", trace, "--svg", svg_path], capture_output=True,
                   text=True, timeout=60, stdin=subprocess.DEVNULL)
t.check(p.returncode == 0 and os.path.exists(svg_path), f"timeline: {p.returncode} {p.stderr}")
if os.path.exists(svg_path):
    import xml.etree.ElementTree as ET
    NS = "{http://www.w3.org/2000/svg}"
    svg = ET.parse(svg_path).getroot()
    cls = lambda e: (e.get("class") or "").split()
    t.check(len(svg.findall(f".//{NS}g[@class='rank']")) == 5, "timeline: not 5 rows")
    rects = [e for e in svg.iter(f"{NS}rect") if "span" in cls(e)]
    t.check(any("stage-0" in cls(e) for e in rects) and any("stage-1" in cls(e) for e in rects),
            "timeline: no spans of both stages")
    died = [g for g in svg.iter(f"{NS}g") if cls(g)[:2] == ["marker", "failure"]]
    t.check([g.get("data-rank") for g in died] == [str(killed)], "timeline: the death marker")

# (b) --report alone on noop: every task counted, no spans kept
report2 = os.path.join(work, "noop.json")
job = t.Job(3, [ringmaster, "run", "noop", "--tasks", "3000", "--report", report2])
rc = job.wait(timeout=60)
t.check(rc is not None and os.path.exists(report2), "noop report missing")
if os.path.exists(report2):
    r2 = json.load(open(report2))
    t.check(r2["tasks"]["done"] == 3000 and r2["stages"][0]["attempts_run"] >= 3000 and
            r2["stages"][0]["name"] == "stage 0" and r2["failures"] == [] and
            r2["trace_events_dropped"] == 0, f"noop report {r2['tasks']} {r2['stages']}")
    t.check(sum(r["tasks_run"] for r in r2["ranks"]) == r2["stages"][0]["attempts_run"],
            "tasks run per rank do not add up")
t.check(not any(n.startswith("noop.json.tmp") for n in os.listdir(work)), "a temporary file stayed")

# (c) usage errors
for flag in ("--report", "--trace"):
    p = subprocess.run([ringmaster, "run", "noop", flag, "/nonexistent/dir/x.json"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    lines = [l for l in p.stderr.splitlines() if l.startswith("ringmaster: error:")]
    t.check(p.returncode == 2 and len(lines) == 1 and flag in lines[0] and "missing" in lines[0],
            f"{flag} in a missing directory: exit {p.returncode}, {p.stderr!r}")
t.finish("test_report")
