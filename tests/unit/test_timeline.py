"""`ringmaster timeline TRACE --svg OUT`: fixture traces (written here) are drawn, the SVG is
parsed as XML and its rows, spans, markers, legend, title and axis are checked; bad input and
unwritable outputs give exit 2, one line, and no output file.

Usage: python3 test_timeline.py PATH/TO/ringmaster"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

RM = sys.argv[1]
NS = "{http://www.w3.org/2000/svg}"
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, flush=True)


def run(*args, timeout=120):
    return subprocess.run([RM, "timeline", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def classes(el):
    return (el.get("class") or "").split()


def text_of(el):
    return "".join(el.itertext())


# ---- the fixture ------------------------------------------------------------------------------

STAGES = {0: "map", 1: "combine", 2: "reduce", 3: "polish"}  # "polish": an unknown name
RANKS = 5  # rank 4 has a thread_name but no spans
MS = 1000.0  # microseconds


def fixture():
    """A trace with 4 stages on ranks 0-3, shuffle/checkpoint/replicate spans, an unknown
    category, unknown phases and fields, two failures, two elections and a reschedule. Returns
    the document and {(rank, stage): task span count}."""
    ev = [{"name": "process_name", "ph": "M", "pid": 1, "tid": 0,
           "args": {"name": "ringmaster wordcount"}}]
    for r in range(RANKS):
        # fields in another order, and an unknown one
        ev.append({"args": {"name": f"rank {r}"}, "tid": r, "pid": 1, "ph": "M",
                   "name": "thread_name", "extra": [1, {"x": None}]})
    counts = {}
    t = [0.0] * 4
    task = 0
    for stage, name in STAGES.items():
        for r in range(4):
            n = 3 + r + stage  # a different count per rank and stage
            if r == 2 and stage >= 2:
                continue  # rank 2 dies before reduce
            for _ in range(n):
                dur = 5678.0 if task == 17 else 4 * MS + (task % 5) * 700
                ev.append({"name": f"{name} {task}", "cat": "task", "ph": "X", "ts": t[r],
                           "dur": dur, "pid": 1, "tid": r,
                           "args": {"stage": stage, "stage_name": name, "task": task,
                                    "attempt": 2 if task == 23 else 1}})
                counts[(r, stage)] = counts.get((r, stage), 0) + 1
                t[r] += dur + 200
                task += 1
            ev.append({"name": "shuffle", "cat": "shuffle", "ph": "X", "ts": t[r],
                       "dur": 2 * MS, "pid": 1, "tid": r, "args": {"bytes": 123}})
            t[r] += 2 * MS + 100
        ev.append({"name": "checkpoint", "cat": "checkpoint", "ph": "X", "ts": t[0],
                   "dur": 3 * MS, "pid": 1, "tid": 0, "args": {"seq": stage, "bytes": 456}})
        ev.append({"name": "replicate", "cat": "replicate", "ph": "X", "ts": t[1],
                   "dur": 1.5 * MS, "pid": 1, "tid": 1, "args": {}})
    ev.append({"name": "gc <&> \u00e9\u0001", "cat": "runtime", "ph": "X", "ts": 1 * MS,
               "dur": 6 * MS, "pid": 1, "tid": 3})
    ev.append({"name": "begin", "ph": "B", "ts": 5, "pid": 1, "tid": 0})
    ev.append({"name": "end", "ph": "E", "ts": 9, "pid": 1, "tid": 0})
    ev.append({"name": "counter", "ph": "C", "ts": 9, "pid": 1, "args": {"v": 3}})
    ev.append({"name": "note", "cat": "debug", "ph": "i", "ts": 7, "pid": 1, "tid": 0})
    ev.append({"name": "election", "cat": "election", "ph": "i", "s": "g", "ts": 10,
               "pid": 1, "tid": 0, "args": {"leader": 0, "term": 1}})
    ev.append({"name": "failure", "cat": "failure", "ph": "i", "s": "g", "ts": 60 * MS,
               "pid": 1, "tid": 2, "args": {"rank": 2, "detected_by": 1, "latency_ms": 312.5}})
    ev.append({"name": "election", "cat": "election", "ph": "i", "s": "g", "ts": 61 * MS,
               "pid": 1, "tid": 1, "args": {"leader": 1, "term": 3}})
    ev.append({"name": "reschedule", "cat": "reschedule", "ph": "i", "s": "g", "ts": 61.5 * MS,
               "pid": 1, "tid": 1, "args": {"tasks": 12, "from": 2}})
    ev.append({"name": "failure", "cat": "failure", "ph": "i", "s": "g", "ts": 90 * MS,
               "pid": 1, "tid": 3, "args": {"rank": 3, "detected_by": 0, "latency_ms": 250}})
    doc = {"traceEvents": ev, "displayTimeUnit": "ms",
           "otherData": {"ringmaster_version": "0.1.0", "kernel": "wordcount",
                         "ranks": RANKS, "start": "2026-11-26T15:00:00Z"}}
    return doc, counts


def render(tmp, doc, name="trace.json", raw=None, extra=()):
    path = os.path.join(tmp, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(raw if raw is not None else json.dumps(doc))
    out = os.path.join(tmp, name + ".svg")
    return run(path, "--svg", out, *extra), path, out


def leftovers(d):
    return [f for f in os.listdir(d) if ".tmp." in f]


# ---- the picture of the fixture ---------------------------------------------------------------

def check_rows(svg, counts):
    rows = svg.findall(f".//{NS}g[@class='rank']")
    ranks = [int(g.get("data-rank")) for g in rows]
    check(ranks == list(range(RANKS)), f"one row per rank, in order: {ranks}")
    for g in rows:
        r = int(g.get("data-rank"))
        label = [text_of(t) for t in g.iter(f"{NS}text") if "row-label" in classes(t)]
        check(label == [f"rank {r}"], f"rank {r}: row label {label}")
        for stage in STAGES:
            rects = [e for e in g.iter(f"{NS}rect") if f"stage-{stage}" in classes(e)]
            check(all("span" in classes(e) for e in rects), f"rank {r}: span class")
            want = counts.get((r, stage), 0)
            check(len(rects) == want,
                  f"rank {r} stage {stage}: {len(rects)} span rects, expected {want}")
    empty = [e for e in rows[4].iter(f"{NS}rect") if "span" in classes(e)]
    check(rows[4].get("data-rank") == "4" and not empty, "rank 4: a row without spans")


def check_spans(svg):
    spans = [e for e in svg.iter(f"{NS}rect") if "span" in classes(e)]
    titles = {text_of(e.find(f"{NS}title")) for e in spans}
    check("map 17: 5.7 ms" in titles, "tooltip 'map 17: 5.7 ms'")
    check(any(re.fullmatch(r"combine 23 \(attempt 2\): [0-9.]+ ms", t) for t in titles),
          "a retried task's tooltip names its attempt")
    check("gc <&> \u00e9?: 6.0 ms" in titles, f"escaped name of the other span: {titles}")
    kinds = {k: [e for e in spans if k in classes(e)]
             for k in ("shuffle", "checkpoint", "replicate", "other")}
    check(len(kinds["shuffle"]) == 4 + 4 + 3 + 3, f"shuffle rects {len(kinds['shuffle'])}")
    check(len(kinds["checkpoint"]) == 4 and len(kinds["replicate"]) == 4,
          "checkpoint and replicate rects")
    check(len(kinds["other"]) == 1, "one generic span")
    task_h = {float(e.get("height")) for e in spans if "stage-0" in classes(e)}
    for k in ("shuffle", "checkpoint", "replicate"):
        h = {float(e.get("height")) for e in kinds[k]}
        check(max(h) < min(task_h), f"{k} bars ({h}) thinner than task bars ({task_h})")
    fills = {k: {e.get("fill") for e in v} for k, v in kinds.items()}
    check(fills["checkpoint"] == {"url(#hatch-checkpoint)"}, f"checkpoint fill {fills}")
    check(svg.find(f".//{NS}pattern[@id='hatch-checkpoint']") is not None, "hatch pattern")
    stage_fill = [{e.get("fill") for e in spans if f"stage-{s}" in classes(e)} for s in STAGES]
    check(all(len(f) == 1 for f in stage_fill) and len(set.union(*stage_fill)) == len(STAGES),
          f"one distinct colour per stage: {stage_fill}")
    merged = [e for e in spans if "merged" in classes(e)]
    check(not merged, "nothing merged in a small trace")


def check_markers(svg):
    marks = svg.findall(f".//{NS}g[@class]")
    fail = [g for g in marks if classes(g)[:2] == ["marker", "failure"]]
    elect = [g for g in marks if classes(g)[:2] == ["marker", "election"]]
    resched = [g for g in marks if classes(g)[:2] == ["marker", "reschedule"]]

    def labels(gs):
        return [text_of(t) for g in gs for t in g.iter(f"{NS}text")]

    check(sorted(g.get("data-rank") for g in fail) == ["2", "3"], "a marker per failure")
    check(labels(fail) == ["rank 2 died", "rank 3 died"], f"failure labels {labels(fail)}")
    check(labels(elect) == ["rank 0 leads (term 1)", "rank 1 leads (term 3)"],
          f"election labels {labels(elect)}")
    check(all(g.find(f"{NS}line") is not None for g in fail + elect), "marker lines")
    tip = text_of(fail[0].find(f"{NS}title"))
    check("detected by rank 1 after 312.5 ms" in tip and "0.060 s" in tip, f"tooltip {tip}")
    check(len(resched) == 1 and "12 tasks of rank 2" in text_of(resched[0].find(f"{NS}title")),
          "a reschedule marker")
    xs = [float(g.find(f"{NS}line").get("x1")) for g in fail]
    check(xs[0] < xs[1], "markers placed by time")


def check_legend_title_axis(svg):
    legend = svg.find(f".//{NS}g[@class='legend']")
    check(legend is not None, "a legend")
    items = {classes(g)[1]: text_of(g) for g in legend.findall(f"{NS}g")}
    for s, name in STAGES.items():
        check(name in items.get(f"stage-{s}", ""), f"legend names stage {s} ({items})")
    for k in ("shuffle", "checkpoint", "replicate", "other", "failure", "election",
              "reschedule"):
        check(k in items, f"legend item {k}")
    title = text_of(svg.find(f".//{NS}text[@class='title']"))
    check(re.fullmatch(r"Kernel wordcount \S job length [0-9.]+ ms", title) is not None,
          f"title {title!r}")
    ticks = [text_of(t) for t in svg.iter(f"{NS}text") if "tick-label" in classes(t)]
    check(len(ticks) >= 4 and all(t.endswith(" s") for t in ticks), f"ticks {ticks}")
    vals = [float(t[:-2]) for t in ticks]
    check(vals == sorted(vals) and vals[0] == 0, f"ticks increase from 0: {vals}")


def test_fixture(tmp):
    doc, counts = fixture()
    p, _, out = render(tmp, doc)
    check(p.returncode == 0 and p.stderr == "", f"fixture: exit {p.returncode}, {p.stderr!r}")
    check(not leftovers(tmp), f"temporary files left: {leftovers(tmp)}")
    try:
        svg = ET.parse(out).getroot()
    except (ET.ParseError, OSError) as e:
        check(False, f"fixture: the SVG is not well-formed XML: {e}")
        return
    check(svg.tag == f"{NS}svg", "root element is svg")
    check_rows(svg, counts)
    check_spans(svg)
    check_markers(svg)
    check_legend_title_axis(svg)

    # The bare-array form, without otherData: the same rows and spans.
    p, _, out = render(tmp, doc["traceEvents"], name="bare.json")
    check(p.returncode == 0, f"bare array: exit {p.returncode}, {p.stderr!r}")
    if p.returncode == 0:
        svg = ET.parse(out).getroot()
        check_rows(svg, counts)
        title = text_of(svg.find(f".//{NS}text[@class='title']"))
        check("ringmaster wordcount" in title, f"bare array: kernel from process_name: {title}")

    # Escapes, odd spacing and key order still give the same picture.
    raw = json.dumps(doc, indent=3, ensure_ascii=True).replace('"ph"', '"\\u0070h"')
    p, _, out = render(tmp, None, name="escaped.json", raw=raw)
    check(p.returncode == 0, f"escaped keys: exit {p.returncode}, {p.stderr!r}")
    if p.returncode == 0:
        check_rows(ET.parse(out).getroot(), counts)


# ---- a large trace ----------------------------------------------------------------------------

def test_large(tmp):
    n, ranks = 200_000, 8
    path = os.path.join(tmp, "large.json")
    per = [0.0] * ranks
    with open(path, "w") as f:
        f.write('{"traceEvents":[\n')
        for i in range(n):
            r, stage = i % ranks, (0 if i < n * 0.6 else 1 if i < n * 0.8 else 2)
            name = STAGES[stage]
            dur = 150.0 + (i * 7919) % 200
            f.write(f'{{"name":"{name} {i}","cat":"task","ph":"X","ts":{per[r]:.1f},'
                    f'"dur":{dur:.1f},"pid":1,"tid":{r},"args":{{"stage":{stage},'
                    f'"stage_name":"{name}","task":{i},"attempt":1}}}},\n')
            per[r] += dur + 20
        f.write('{"name":"failure","cat":"failure","ph":"i","s":"g","ts":1000,"pid":1,'
                '"tid":3,"args":{"rank":3}}],"otherData":{"kernel":"noop","ranks":8}}\n')
    out = os.path.join(tmp, "large.svg")
    start = time.monotonic()
    p = run(path, "--svg", out, timeout=300)
    secs = time.monotonic() - start
    check(p.returncode == 0, f"large: exit {p.returncode}, {p.stderr!r}")
    if p.returncode != 0:
        return
    size = os.path.getsize(out)
    print(f"large: {n} spans in {secs:.1f} s, SVG {size} bytes")
    check(secs < 60, f"large: took {secs:.1f} s")
    check(size < 1_000_000, f"large: SVG of {size} bytes")
    svg = ET.parse(out).getroot()
    spans = [e for e in svg.iter(f"{NS}rect") if "span" in classes(e)]
    drawn = sum(int(e.get("data-count", "1")) for e in spans)
    check(drawn == n, f"large: rects stand for {drawn} spans, expected {n}")
    check(len(spans) < n // 20, f"large: {len(spans)} rects for {n} spans")
    check(any("merged" in classes(e) for e in spans), "large: spans were merged")
    for e in spans:
        if "merged" in classes(e):
            check(re.fullmatch(r"(map|combine|reduce): \d+ spans from .* busy",
                               text_of(e.find(f"{NS}title"))) is not None, "merged tooltip")
            break


# ---- errors -----------------------------------------------------------------------------------

def expect_error(tmp, args, words, out=None, what=""):
    p = run(*args)
    lines = p.stderr.splitlines()
    check(p.returncode == 2, f"{what or args}: exit {p.returncode}, expected 2")
    check(len(lines) == 1 and lines[0].startswith("ringmaster: error: ") and words in lines[0],
          f"{what or args}: expected one line with {words!r}, got {p.stderr!r}")
    if out:
        check(not os.path.exists(out), f"{what or args}: {out} was created")
    check(not leftovers(tmp), f"{what or args}: temporary files left: {leftovers(tmp)}")


def test_errors(tmp):
    d = os.path.join(tmp, "err")
    os.mkdir(d)
    out = os.path.join(d, "out.svg")
    good = os.path.join(d, "good.json")
    with open(good, "w") as f:
        json.dump(fixture()[0], f)

    def trace(name, text):
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    expect_error(d, ["/nonexistent/trace.json", "--svg", out],
                 "/nonexistent/trace.json: No such file or directory", out)
    expect_error(d, [d, "--svg", out], "Is a directory", out, "a directory as trace")
    expect_error(d, [trace("bad.json", '{"traceEvents":[{"ph":"X" "ts":1}]}'), "--svg", out],
                 "not JSON: expected ',' or '}', found '\"' at byte 26", out)
    expect_error(d, [trace("cut.json", open(good).read()[:5000]), "--svg", out],
                 "not JSON: unexpected end of input", out, "a truncated trace")
    expect_error(d, [trace("empty.json", ""), "--svg", out], "at byte 0", out, "empty file")
    expect_error(d, [trace("obj.json", '{"foo": 1}'), "--svg", out],
                 "not a trace: no traceEvents array", out)
    expect_error(d, [trace("num.json", "42"), "--svg", out], "not a trace", out)
    expect_error(d, [trace("ev.json", '[{"ph":"X","ts":"soon","tid":0}]'), "--svg", out],
                 "traceEvents[0]", out, "a span without a numeric ts")
    expect_error(d, [trace("ev2.json", '{"traceEvents":[1]}'), "--svg", out],
                 "traceEvents[0]: not an object", out)
    deep = '{"traceEvents":[{"ph":"X","args":' + "[" * 100 + "]" * 100 + "}]}"
    expect_error(d, [trace("deep.json", deep), "--svg", out],
                 "too large to read: nesting deeper than 64 levels at byte 94", out)
    expect_error(d, [good], "timeline needs --svg OUT.svg", out, "missing --svg")
    expect_error(d, [good, "--svg"], "option --svg needs a value", out)
    expect_error(d, ["--svg", out], "timeline needs a TRACE.json file", out)
    expect_error(d, [good, "--svg", out, "--frob"], "unknown option '--frob'", out)
    expect_error(d, [good, good, "--svg", out], "one trace file", out)
    expect_error(d, [good, "--svg", out, "--width", "12"], "--width", out)
    expect_error(d, [good, "--svg", "/nonexistent/dir/out.svg"],
                 "cannot write --svg /nonexistent/dir/out.svg: No such file or directory",
                 what="a missing output directory")
    expect_error(d, [good, "--svg", good + "/out.svg"], "Not a directory",
                 what="an output below a file")
    expect_error(d, [good, "--svg", d], "is a directory", what="a directory as output")
    if os.geteuid() != 0:  # root writes anywhere
        ro = os.path.join(d, "ro")
        os.mkdir(ro, 0o555)
        expect_error(d, [good, "--svg", os.path.join(ro, "x.svg")], "Permission denied",
                     os.path.join(ro, "x.svg"), "a read-only directory")

    # A failed run leaves an existing output as it was.
    with open(out, "w") as f:
        f.write("old")
    expect_error(d, [trace("bad2.json", "[{]"), "--svg", out], "at byte 2")
    check(open(out).read() == "old", "a failed run replaced the old output")
    p = run(good, "--svg=" + out, "--width", "800")
    check(p.returncode == 0 and ET.parse(out).getroot().get("width") == "800",
          f"--svg=FILE and --width: exit {p.returncode}, {p.stderr!r}")

    p = run("--help")
    check(p.returncode == 0 and "--svg" in p.stdout and "Usage: ringmaster timeline" in p.stdout,
          "timeline --help")


def main():
    tmp = tempfile.mkdtemp(prefix="rm-timeline.")
    try:
        test_fixture(tmp)
        test_errors(tmp)
        test_large(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"test_timeline: {len(failures)} checks failed")
        sys.exit(1)
    print("test_timeline: all checks passed")


main()
