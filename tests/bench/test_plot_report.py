"""Tests of bench/plot.py, bench/svgplot.py and bench/report.py on fixture results made here
(no MPI, no benchmark run). The SVGs are parsed with xml.etree and checked for their title,
axis labels with units, ticks, one median point per value with an error bar spanning min to
max, histogram counts, median and p95 markers, and the commit and date in the footer. The
report is checked to rewrite exactly the text between the bench markers of a README.

Usage: test_plot_report.py BENCH_DIR
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

BENCH = os.path.abspath(sys.argv.pop(1) if len(sys.argv) > 1 else
                        os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
sys.path.insert(0, BENCH)
sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
os.environ["PYTHONDONTWRITEBYTECODE"] = "1"  # nor from the scripts run below
import svgplot  # noqa: E402

NS = "{http://www.w3.org/2000/svg}"
COMMIT, DATE = "abc1234", "2030-01-02T03:04:05+0000"
MACHINE = "Testbox x86_64, 2 cores, 8 GiB"


def wrap(name, result, **extra):
    return {"name": name, "machine": MACHINE, "commit": COMMIT, "date": DATE, **extra,
            "result": result}


def spread(median, lo, hi, n=3):
    return {"median": median, "min": lo, "max": hi, "n": n}


BATCH = [("1", 90.0, 80.0, 95.0), ("4", 120.0, 110.0, 130.0), ("16", 150.0, 140.0, 155.0),
         ("64", 165.0, 150.0, 170.0), ("256", 158.0, 150.0, 166.0), ("auto", 161.0, 159.0, 171.0)]
COMPRESSION = [("0", 140.0, 130.0, 150.0), ("1", 150.0, 145.0, 155.0), ("3", 149.0, 140.0, 151.0),
               ("6", 130.0, 120.0, 135.0), ("9", 110.0, 100.0, 112.0), ("19", 40.0, 35.0, 42.0)]
FAILOVER = [160.8, 171.2, 185.0, 190.3, 199.9, 205.1, 208.7, 210.0, 212.2, 215.5, 220.0, 231.4,
            240.2, 251.0, 260.6, 270.1, 279.9, 283.0, 290.5, 305.8]
DETECT = [300.9 + 1.7 * i for i in range(60)]


def sweep(kind, points, default, **extra):
    return {"sweep": kind, "parameter": f"--{kind}", "xlabel": f"--{kind} (test units)",
            "default": default, "corpus_bytes": 1 << 30, "reps": 3, "cores": 2,
            "workers": 2, "failed_runs": [], **extra,
            "points": [{"label": lab, "workers": 2, "ranks": 3, "oversubscribed": True,
                        "mb_s": spread(m, lo, hi)} for lab, m, lo, hi in points]}


def fixtures():
    return {
        "sweep_batch": wrap("sweep_batch", sweep("batch-size", BATCH, "auto",
                                                 split_size="1M")),
        "sweep_compression": wrap("sweep_compression",
                                  sweep("compression", COMPRESSION, 1)),
        "sweep_workers": wrap("sweep_workers", {
            "sweep": "workers", "corpus_bytes": 1 << 30, "reps": 3, "cores": 2,
            "failed_runs": [],
            "reference": {"label": "serial", "mb_s": spread(375.0, 355.0, 388.0)},
            "points": [{"label": str(w), "workers": w, "ranks": w + 1,
                        "oversubscribed": w + 1 > 2, "mb_s": spread(m, m - 10, m + 20)}
                       for w, m in ((1, 335.0), (2, 573.0), (3, 540.0))]}),
        "leader_failover": wrap("leader_failover", {
            "bench": "leader_failover_ms", "trials": 20, "measured": 20,
            "defaults": {"election_timeout_ms": 150, "raft_heartbeat_ms": 30},
            "median": 212.2, "p95": 283.0, "min": 160.8, "max": 305.8, "n": 20,
            "samples_ms": FAILOVER}),
        "detection_latency": wrap("detection_latency", {
            "bench": "detection_latency_ms", "kills": 20,
            "defaults": {"heartbeat_ms": 100, "suspect_ms": 400},
            "median": 351.2, "p95": 396.0, "min": DETECT[0], "max": DETECT[-1], "n": 60,
            "samples_ms": DETECT}),
        "scheduler": wrap("scheduler", {
            "bench": "scheduler", "ranks": 4, "workers": 3, "cores": 2, "tasks": 1000000,
            "reps": 7, "ringmaster": {"tasks_per_s": spread(1551211, 1522990, 1839302, 7),
                                      "us_per_task": spread(0.645, 0.544, 0.657, 7)},
            "masterworker": {"tasks_per_s": spread(80021100, 52405927, 89796053, 7)},
            "masterworker_b1": {"tasks_per_s": spread(1354952, 1269182, 1479430, 7)},
            "failed_runs": []}),
    }


def parse(path):
    root = ET.parse(path).getroot()
    assert root.tag == NS + "svg", root.tag
    return root


def by_class(root, cls, tag=None):
    return [e for e in root.iter() if cls in (e.get("class") or "").split()
            and (tag is None or e.tag == NS + tag)]


def text_of(e):
    return "".join(e.itertext())


class PlotTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = cls.tmp.name
        for name, doc in fixtures().items():
            with open(os.path.join(cls.dir, name + ".json"), "w") as f:
                json.dump(doc, f)
        cls.proc = subprocess.run([sys.executable, os.path.join(BENCH, "plot.py"), "--results",
                                  cls.dir], capture_output=True, text=True, timeout=60)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def svg(self, name):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        return parse(os.path.join(self.dir, name + ".svg"))

    def common(self, root, title, xunit, yunit):
        self.assertEqual(text_of(by_class(root, "title")[0]), title)
        self.assertIn(xunit, text_of(by_class(root, "xlabel")[0]))
        self.assertIn(yunit, text_of(by_class(root, "ylabel")[0]))
        foot = " ".join(text_of(e) for e in by_class(root, "footer"))
        self.assertIn(f"commit {COMMIT}", foot)
        self.assertIn(DATE, foot)
        self.assertTrue(by_class(root, "frame"))
        self.assertFalse(by_class(root, "message"), "a plot with data says no data")

    def check_points(self, root, expected):
        """One median circle per point in x order with the fixture's value, higher values
        higher up, and an error bar from the min's height to the max's."""
        circles = by_class(root, "median", "circle")
        self.assertEqual(len(circles), len(expected))
        xs = [float(c.get("cx")) for c in circles]
        self.assertEqual(xs, sorted(xs))
        ys = {}
        for c, (_, m, lo, hi) in zip(circles, expected):
            self.assertAlmostEqual(float(c.get("data-value")), m)
            ys[m] = float(c.get("cy"))
        meds = sorted(ys)
        self.assertTrue(all(ys[a] > ys[b] for a, b in zip(meds, meds[1:])),
                        "a larger median is not drawn higher")
        bars = by_class(root, "errorbar")
        self.assertEqual(len(bars), len(expected))
        for bar, c in zip(bars, circles):
            stem = bar.find(NS + "line")
            y1, y2 = float(stem.get("y1")), float(stem.get("y2"))
            self.assertGreaterEqual(y1, float(c.get("cy")))  # the min, below the median
            self.assertLessEqual(y2, float(c.get("cy")))     # the max, above it
            self.assertAlmostEqual(float(stem.get("x1")), float(c.get("cx")))

    def x_ticks(self, root):
        axis = [g for g in by_class(root, "axis", "g") if "x" in g.get("class").split()][0]
        return [text_of(t) for t in by_class(axis, "tick")]

    def test_batch_size(self):
        root = self.svg("batch_size")
        self.common(root, "Wordcount throughput against --batch-size", "--batch-size", "MB/s")
        self.assertEqual(self.x_ticks(root), ["1", "4", "16", "64", "256", "auto(default)"])
        self.check_points(root, BATCH)
        self.assertIn("--split-size 1M", " ".join(text_of(e) for e in
                                                 by_class(root, "subtitle")))

    def test_compression(self):
        root = self.svg("compression")
        self.common(root, "Wordcount throughput against --compression", "--compression",
                    "MB/s")
        self.assertEqual(self.x_ticks(root)[:2], ["0", "1(default)"])
        self.check_points(root, COMPRESSION)

    def test_workers(self):
        root = self.svg("wordcount_workers")
        self.common(root, "Wordcount throughput against the number of workers", "workers",
                    "MB/s")
        ticks = self.x_ticks(root)
        self.assertEqual(len(ticks), 3)
        self.assertNotIn("oversubscribed", ticks[0])
        self.assertIn("oversubscribed", ticks[2])
        self.check_points(root, [(None, 335.0, 325.0, 355.0), (None, 573.0, 563.0, 593.0),
                                 (None, 540.0, 530.0, 560.0)])
        ref = by_class(root, "reference", "g")
        self.assertEqual(len(ref), 1)
        self.assertIn("375 MB/s", ref[0].get("data-label"))

    def check_distribution(self, name, samples, median, p95, title):
        root = self.svg(name)
        self.common(root, title, "(ms)", "")
        bars = by_class(root, "bar", "rect")
        self.assertGreater(len(bars), 2)
        self.assertEqual(sum(int(b.get("data-count")) for b in bars), len(samples))
        self.assertEqual(len(by_class(root, "rug")), len(samples))
        labels = [g.get("data-label") for g in by_class(root, "marker", "g")]
        self.assertIn(f"median {svgplot.fmt(median)} ms", labels)
        self.assertIn(f"p95 {svgplot.fmt(p95)} ms", labels)
        xs = {g.get("data-label"): float(g.find(NS + "line").get("x1"))
              for g in by_class(root, "marker", "g")}
        self.assertLess(xs[f"median {svgplot.fmt(median)} ms"], xs[f"p95 {svgplot.fmt(p95)} ms"])
        frame = by_class(root, "frame")[0]
        left, width = float(frame.get("x")), float(frame.get("width"))
        for x in xs.values():
            self.assertTrue(left <= x <= left + width)
        # the y ticks of a count are whole numbers
        axis = [g for g in by_class(root, "axis", "g") if "y" in g.get("class").split()][0]
        for t in by_class(axis, "tick"):
            self.assertRegex(text_of(t), r"^\d+$")

    def test_failover(self):
        self.check_distribution("failover", FAILOVER, 212.2, 283.0, "Leader failover time")

    def test_detection(self):
        self.check_distribution("detection", DETECT, 351.2, 396.0, "Failure-detection latency")

    def test_task_overhead(self):
        root = self.svg("task_overhead")
        self.common(root, "Task overhead against a plain MPI master-worker", "", "µs")
        us = [(None, 0.645, 0.544, 0.657),
              (None, 1e6 / 1354952, 1e6 / 1479430, 1e6 / 1269182),
              (None, 1e6 / 80021100, 1e6 / 89796053, 1e6 / 52405927)]
        self.check_points(root, us)
        axis = [g for g in by_class(root, "axis", "g") if "y" in g.get("class").split()][0]
        ticks = [text_of(t) for t in by_class(axis, "tick")]
        self.assertIn("0.01", ticks)
        self.assertIn("1", ticks)

    def test_placeholders_without_results(self):
        with tempfile.TemporaryDirectory() as empty:
            r = subprocess.run([sys.executable, os.path.join(BENCH, "plot.py"), "--results",
                                empty], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            names = sorted(f for f in os.listdir(empty) if f.endswith(".svg"))
            self.assertEqual(len(names), 6, names)
            for n in names:
                root = parse(os.path.join(empty, n))
                msgs = [text_of(e) for e in by_class(root, "message")]
                self.assertIn("no data yet", msgs, n)
                self.assertTrue(by_class(root, "title") and by_class(root, "xlabel"))
                self.assertFalse(by_class(root, "median"), n)


class SvgplotTests(unittest.TestCase):
    def test_ticks_cover_the_range(self):
        for lo, hi in ((0, 673.0), (160.8, 305.8), (0, 1.2), (3, 4)):
            a, b, ticks = svgplot.linear_ticks(lo, hi)
            self.assertLessEqual(a, lo)
            self.assertGreaterEqual(b, hi)
            self.assertTrue(3 <= len(ticks) <= 12, ticks)
        a, b, ticks = svgplot.log_ticks(0.0125, 0.74)
        self.assertEqual((a, b), (0.01, 1.0))

    def test_text_is_escaped(self):
        p = svgplot.Plot("a < b & c", "x", "y", footer="\"quoted\"")
        p.categories(["<1>"])
        p.points([0], [1.0], [0.5], [2.0], "s&p")
        root = ET.fromstring(p.svg())
        self.assertEqual(text_of(by_class(root, "title")[0]), "a < b & c")


README = """# Project

Intro text that must stay.

## Benchmarks

Hand-written lead-in: keep me.

<!-- bench:begin -->
| old | table |
|---|---|
| stale | row |
<!-- bench:end -->

Hand-written prose after the table: keep me too.

## Later section
Trailing text.
"""


class ReportTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.results = os.path.join(self.tmp.name, "bench", "results")
        os.makedirs(self.results)
        for name, doc in fixtures().items():
            with open(os.path.join(self.results, name + ".json"), "w") as f:
                json.dump(doc, f)
        with open(os.path.join(self.results, "ring.json"), "w") as f:
            f.write("{not json")
        self.readme = os.path.join(self.tmp.name, "README.md")
        with open(self.readme, "w") as f:
            f.write(README)

    def tearDown(self):
        self.tmp.cleanup()

    def report(self, readme=None):
        return subprocess.run([sys.executable, os.path.join(BENCH, "report.py"), "--results",
                               self.results, "--readme", readme or self.readme],
                              capture_output=True, text=True, timeout=60)

    def read(self):
        with open(self.readme) as f:
            return f.read()

    def test_rewrites_only_the_marked_section(self):
        r = self.report()
        self.assertEqual(r.returncode, 0, r.stderr)
        text = self.read()
        head, rest = text.split("<!-- bench:begin -->")
        body, tail = rest.split("<!-- bench:end -->")
        want_head, want_rest = README.split("<!-- bench:begin -->")
        self.assertEqual(head, want_head)
        self.assertEqual(tail, want_rest.split("<!-- bench:end -->")[1])
        self.assertNotIn("stale", body)
        self.assertIn("| figure | median | min–max | n | target | met? | commit |", body)
        # A row with its median, range, n, target, verdict and commit.
        row = [line for line in body.splitlines() if line.startswith("| leader failover")]
        self.assertEqual(len(row), 1, body)
        self.assertRegex(row[0], r"\| 212 ms \| 161–306 ms \| 20 \| median ≤ 300 ms \| ✓ \| "
                                 rf"`{COMMIT}` \|$")
        self.assertRegex(body, r"\| time per task: plain MPI master-worker, batch 64 \(µs\) \| "
                               r"0\.0125 µs \| 0\.0111–0\.0191 µs \| 7 \|")
        self.assertIn("batch-size sweep: the fastest --batch-size (64)", body)
        # Missing and unreadable results are named, not silently dropped.
        self.assertRegex(body, r"Not measured yet: .*`iterative\.json`")
        self.assertRegex(body, r"Unreadable results, left out: `ring\.json`")
        # The two plots, linked relative to the README.
        self.assertIn("](bench/results/batch_size.svg)", body)
        self.assertIn("](bench/results/compression.svg)", body)
        self.assertTrue(re.search(r"!\[[^]]*batch-size\]", body))
        # Idempotent: a second run gives the same file.
        self.assertEqual(self.report().returncode, 0)
        self.assertEqual(self.read(), text)

    def test_missed_target_is_marked(self):
        path = os.path.join(self.results, "leader_failover.json")
        with open(path) as f:
            doc = json.load(f)
        doc["result"]["median"] = 301.0
        with open(path, "w") as f:
            json.dump(doc, f)
        self.assertEqual(self.report().returncode, 0)
        row = [line for line in self.read().splitlines() if line.startswith("| leader failover")]
        self.assertTrue(row[0].endswith(f"| ✗ | `{COMMIT}` |"), row)

    def test_bad_markers_leave_the_file_alone(self):
        for text in (README.replace("<!-- bench:end -->\n", ""),
                     README.replace("<!-- bench:begin -->", "<!-- bench:end -->", 1)
                     .replace("<!-- bench:end -->\n\nHand", "<!-- bench:begin -->\n\nHand"),
                     README + "<!-- bench:begin -->\n"):
            with open(self.readme, "w") as f:
                f.write(text)
            r = self.report()
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertEqual(self.read(), text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
