"""The serial references that the benchmarks time (tools/ref_kmeans.c, tools/ref_pagerank.c)
agree with the kernels: kmeans on 3 ranks (TSV output; one file with small blocks, then two
files with blocks of an odd size) gives the same bytes as ref_kmeans with the same options;
pagerank on 3 ranks over a directory of two edge lists gives the vertices of ref_pagerank in the
same order and ranks within 1e-12 relative. A missing input makes each reference exit 2 with
one line, an output it cannot write exit 1."""
import os
import subprocess
import sys

import rmtest as t

ringmaster = sys.argv[1]
bindir = os.path.dirname(os.path.abspath(ringmaster))
tool = {n: os.path.join(bindir, n) for n in ("gen_points", "gen_graph", "ref_kmeans",
                                            "ref_pagerank")}
work = t.tempfile.mkdtemp(prefix="rmrefs.")


def ringmaster_run(kernel, args, out):
    job = t.Job(3, [ringmaster, "run", kernel] + args + ["--output", out])
    rc = job.wait(timeout=120)
    t.check(rc == 0 and os.path.exists(out), f"{kernel} {args}: exit {rc}\n"
            f"{job.stderr()[-3000:]}")
    return open(out, "rb").read() if os.path.exists(out) else b""


def ref_run(name, args, out):
    p = subprocess.run([tool[name]] + args + ["--output", out, "--time"], capture_output=True,
                       text=True, timeout=120)
    t.check(p.returncode == 0, f"{name} {args}: exit {p.returncode}, {p.stderr!r}")
    t.check(p.stderr.startswith(f"{name}: read ") and " s per iteration)\n" in p.stderr,
            f"{name} --time: {p.stderr!r}")
    return open(out, "rb").read() if os.path.exists(out) else b""


# ---- kmeans: identical bytes ------------------------------------------------------------------
pts = [os.path.join(work, f"p{i}.h5") for i in range(2)]
for path, rows, seed in ((pts[0], 30000, 5), (pts[1], 7001, 6)):
    subprocess.run([tool["gen_points"], "--rows", str(rows), "--seed", str(seed), "--dims", "3",
                    "--clusters", "4", "--out", path], check=True, timeout=60)
for n, (inputs, opts) in enumerate((
        ([pts[0]], ["--k", "5", "--iterations", "6", "--seed", "9", "--split-size", "32K"]),
        (pts, ["--k", "4", "--iterations", "3", "--seed", "123", "--split-size", "20000"]))):
    args = ["--dataset", "/points"] + opts + ["--input"] + inputs
    got = ringmaster_run("kmeans", args, os.path.join(work, f"km{n}.tsv"))
    want = ref_run("ref_kmeans", args, os.path.join(work, f"ref_km{n}.tsv"))
    t.check(got and got == want, f"kmeans {args}: the kernel's TSV ({len(got)} bytes) and "
            f"ref_kmeans's ({len(want)} bytes) differ")

# ---- pagerank: same vertices, ranks within 1e-12 -----------------------------------------------
edges = os.path.join(work, "edges")
os.makedirs(edges)
for name, v, e, seed in (("a.txt", 4000, 30000, 3), ("b.txt", 5000, 10000, 4)):
    subprocess.run([tool["gen_graph"], "--vertices", str(v), "--edges", str(e), "--seed",
                    str(seed), "--out", os.path.join(edges, name)], check=True, timeout=60)
with open(os.path.join(edges, "b.txt"), "a") as f:  # the kernel's line rules
    f.write("\n# a comment\n  \t\n  9000 9001  \n9001 9000\n9001 9000\n")
args = ["--iterations", "7", "--damping", "0.8", "--input", edges]
got = [l.split("\t") for l in ringmaster_run(
    "pagerank", args + ["--partitions", "5", "--split-size", "64K"],
    os.path.join(work, "pr.tsv")).decode().splitlines()]
want = [l.split("\t") for l in ref_run("ref_pagerank", args, os.path.join(
    work, "ref_pr.tsv")).decode().splitlines()]
t.check(len(want) > 4000 and [v for v, _ in got] == [v for v, _ in want],
        f"pagerank: the vertices differ ({len(got)} from the kernel, {len(want)} from "
        "ref_pagerank)")
bad = [(v, a, b) for (v, a), (_, b) in zip(got, want)
       if abs(float(a) - float(b)) > 1e-12 * abs(float(b))]
t.check(not bad, f"pagerank: {len(bad)} ranks differ by more than 1e-12, e.g. {bad[:3]}")
t.check(abs(sum(float(r) for _, r in want) - 1.0) < 1e-9, "ref_pagerank: ranks do not sum to 1")

# ---- errors -----------------------------------------------------------------------------------
missing = os.path.join(work, "no-such-file")
unwritable = os.path.join(work, "no-such-dir", "out.tsv")
for name, args in (("ref_kmeans", ["--dataset", "/points", "--input"]),
                   ("ref_pagerank", ["--input"])):
    p = subprocess.run([tool[name]] + args + [missing], capture_output=True, text=True,
                       timeout=30)
    t.check(p.returncode == 2 and p.stderr.count("\n") == 1 and missing in p.stderr and
            p.stdout == "", f"{name}, missing input: exit {p.returncode}, {p.stderr!r}")
    good = pts[0] if name == "ref_kmeans" else edges
    p = subprocess.run([tool[name]] + args + [good, "--output", unwritable],
                       capture_output=True, text=True, timeout=30)
    t.check(p.returncode == 1 and p.stderr.count("\n") == 1 and unwritable in p.stderr,
            f"{name}, unwritable output: exit {p.returncode}, {p.stderr!r}")
t.finish("test_refs")
